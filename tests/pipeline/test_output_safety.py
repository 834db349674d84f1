"""What `run`, `table` and `report` may touch: only the files they are told to write, each
replaced whole or not at all, never an input, never a node that is not a regular file."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from extractor.cli import cli
from extractor.pipeline import files
from extractor.pipeline.write import dumps
from tests.cli.test_run import answer, invoke, papers, read_jsonl, write_jsonl
from tests.pipeline.test_files import fill_disk, leftovers
from tests.support.shared import BASE_URL, interruptible

OLD_OUT = b'{"id": "old", "title": "kept"}\n'


def one_error_line(result: Any) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def error_line(paper_id: str) -> str:
    error = {"type": "http_error", "message": "boom", "attempts": 1}
    record = {"id": paper_id, "title": "t", "source": {"path": "in.jsonl", "line": 1}}
    return dumps({**record, "error": error}) + "\n"


# -- the errors file: removed only when it is one, never another role's file ---------------


def test_a_clean_run_removes_the_errors_file_an_earlier_run_wrote(api: Any, tmp_path: Path) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    stale = tmp_path / "out.errors.jsonl"
    stale.write_text(error_line("x") + error_line("y"))
    assert invoke(str(src), "-o", str(tmp_path / "out.jsonl")).exit_code == 0
    assert not stale.exists()


def test_a_clean_run_leaves_a_file_that_is_not_an_errors_file(api: Any, tmp_path: Path) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-e", str(notes))
    assert result.exit_code == 0, result.stderr
    assert notes.read_text() == "my notes\n"
    assert "notes.txt left as it was" in result.stderr


@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("roles", ["errors=input", "output=input", "errors=output"])
def test_one_file_for_two_roles_is_refused_before_anything_is_sent(
    api: Any, tmp_path: Path, alias: str, roles: str
) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD_OUT)
    original = {"input": src, "output": out}[roles.split("=")[1]]
    src_before = src.read_bytes()
    other = original
    if alias == "symlink":
        other = tmp_path / "link"
        other.symlink_to(original)
    elif alias == "hardlink":
        other = tmp_path / "hard"
        os.link(original, other)
    role = roles.split("=")[0]
    args = [str(src)]
    args += ["-o", str(other if role == "output" else out)]
    if role == "errors":
        args += ["-e", str(other)]
    result = invoke(*args)
    assert result.exit_code == 2
    assert "the same file" in one_error_line(result)
    assert chat.call_count == 0
    assert out.read_bytes() == OLD_OUT and src.read_bytes() == src_before
    assert leftovers(tmp_path) == []


def test_the_output_over_the_response_cache_is_refused(api: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    cache = tmp_path / "c"
    for out in (cache, cache / "cache.db"):
        result = invoke(str(src), "-o", str(out), "--cache-dir", str(cache))
        assert result.exit_code == 2, result.stderr
        one_error_line(result)


# -- table and report never write over what they read --------------------------------------


RECORD = {
    "id": "p1", "title": "FooNet", "abstract": "FooNet reaches 81.5% accuracy on ImageNet.",
    "source": {"path": "in.jsonl", "line": 1},
    "extraction": {
        "models": [{"name": "FooNet", "role": "proposed", "size": None}], "modalities": [],
        "tasks": [], "benchmarks": ["ImageNet"], "code_links": [],
        "results": [{"value": 81.5, "unit": "%", "delta": False, "benchmark": "ImageNet",
                     "metric": "accuracy", "model": "FooNet",
                     "evidence": "81.5% accuracy on ImageNet"}],
    },
    "spans": {}, "meta": {}, "warnings": [],
}  # fmt: skip


def records_file(tmp_path: Path) -> Path:
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(RECORD) + "\n")
    return path


@pytest.mark.parametrize("command", [["table"], ["table", "--format", "md"], ["report"]])
def test_table_and_report_refuse_to_write_over_their_input(
    tmp_path: Path, command: list[str]
) -> None:
    records = records_file(tmp_path)
    before = records.read_bytes()
    (tmp_path / "link").symlink_to(records)
    for target in (records, tmp_path / "link"):
        result = CliRunner().invoke(cli, [*command, str(records), "-o", str(target)])
        assert result.exit_code == 2, result.output
        assert "the same file" in one_error_line(result)
        assert records.read_bytes() == before


@pytest.mark.parametrize("command", [["table"], ["report"]])
def test_a_full_disk_leaves_the_previous_table_or_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    records = records_file(tmp_path)
    previous = tmp_path / "previous.out"
    previous.write_bytes(b"the previous page\n")
    fill_disk(monkeypatch, room=10)
    result = CliRunner().invoke(cli, [*command, str(records), "-o", str(previous)])
    assert result.exit_code == 2
    assert "No space left on device" in one_error_line(result)
    assert previous.read_bytes() == b"the previous page\n"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("command", [["table"], ["report"]])
@pytest.mark.parametrize("where", ["folder", "missing parent", "read-only folder"])
def test_table_and_report_say_why_they_cannot_write_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], where: str
) -> None:
    records = records_file(tmp_path)
    target = tmp_path / "dest"
    if where == "folder":
        target.mkdir()
    elif where == "missing parent":
        target = tmp_path / "nowhere" / "dest"
    else:
        monkeypatch.setattr(files.tempfile, "mkstemp", _read_only)
    result = CliRunner().invoke(cli, [*command, str(records), "-o", str(target)])
    assert result.exit_code == 2
    if where == "folder":  # click's own check of the option, with its usage lines
        assert "is a directory" in result.stderr and "Traceback" not in result.stderr
    else:
        one_error_line(result)
    assert records.read_text() == json.dumps(RECORD) + "\n"


def test_the_parquet_table_is_written_whole_beside_its_path(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    records = records_file(tmp_path)
    out = tmp_path / "t.parquet"
    result = CliRunner().invoke(cli, ["table", str(records), "--parquet", str(out)])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).num_rows == 1
    assert leftovers(tmp_path) == []
    again = CliRunner().invoke(cli, ["table", str(records), "--parquet", str(records)])
    assert again.exit_code == 2 and "the same file" in again.output


def _read_only(*_a: Any, **_k: Any) -> Any:
    raise PermissionError(errno.EACCES, "Permission denied")


# -- run: found before a request is paid, or kept in the cache -----------------------------


@pytest.mark.parametrize("where", ["folder", "missing parent", "read-only folder"])
def test_run_finds_an_output_it_cannot_write_before_any_request(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    target = tmp_path / "dest"
    if where == "folder":
        target.mkdir()
    elif where == "missing parent":
        target = tmp_path / "nowhere" / "out.jsonl"
    else:
        monkeypatch.setattr(files.tempfile, "mkstemp", _read_only)
    result = invoke(str(src), "-o", str(target))
    assert result.exit_code == 2
    line = one_error_line(result)
    assert {"folder": "is a directory", "missing parent": "does not exist"}.get(
        where, "Permission denied"
    ) in line
    assert chat.call_count == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_run_finds_a_read_only_folder_before_any_request(api: Any, tmp_path: Path) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = invoke(str(src), "-o", str(folder / "out.jsonl"))
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2 and "Permission denied" in one_error_line(result)
    assert chat.call_count == 0


def test_a_disk_full_mid_run_keeps_the_old_output_and_the_paid_answers(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD_OUT)
    with monkeypatch.context() as mp:
        fill_disk(mp, room=700)  # about one record
        result = invoke(str(src), "-o", str(out), "-c", "1")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "No space left on device" in line and "cached" in line
    assert out.read_bytes() == OLD_OUT
    assert leftovers(tmp_path) == []
    paid = chat.call_count
    assert paid >= 2  # the first record was written; the disk filled on the second
    again = invoke(str(src), "-o", str(out))
    assert again.exit_code == 0, again.stderr
    assert f"({paid} cached" in again.stderr  # nothing paid for twice
    assert chat.call_count == 3
    assert [r["title"] for r in read_jsonl(out)] == [p["title"] for p in papers(3)]


# -- nodes that are not regular files ------------------------------------------------------


def test_run_writes_through_a_symlink_to_its_target(api: Any, tmp_path: Path) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "real.jsonl"
    real.write_bytes(OLD_OUT)
    link = tmp_path / "out.jsonl"
    link.symlink_to(real)
    result = invoke(str(src), "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert [r["title"] for r in read_jsonl(real)] == [p["title"] for p in papers(2)]
    assert leftovers(tmp_path) == leftovers(tmp_path / "data") == []


def test_run_writes_into_a_fifo_without_replacing_it(api: Any, tmp_path: Path) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = invoke(str(src), "-o", str(fifo))
    reader.join(10)
    assert result.exit_code == 0, result.stderr
    assert fifo.is_fifo()
    assert [json.loads(line)["title"] for line in got[0].splitlines()] == [
        p["title"] for p in papers(2)
    ]


def test_run_writes_through_a_link_to_a_device(api: Any, tmp_path: Path) -> None:
    # Through a link in tmp_path, so that a writer that replaced the node replaces the link,
    # never the machine's own /dev/null.
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    result = invoke(str(src), "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and Path("/dev/null").is_char_device()


@pytest.mark.skipif(not Path("/dev/full").is_char_device(), reason="no /dev/full")
def test_a_device_that_is_full_is_one_line(api: Any, tmp_path: Path) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    link = tmp_path / "full"
    link.symlink_to("/dev/full")
    result = invoke(str(src), "-o", str(link))
    assert result.exit_code == 2
    assert "No space left on device" in one_error_line(result)
    assert link.is_symlink()


# -- one writer at a time, and nothing left behind -----------------------------------------


def test_a_second_run_on_the_same_output_is_told_it_is_busy(api: Any, tmp_path: Path) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD_OUT)
    with files.Locks() as other_run:
        other_run.acquire(files.resolve(str(out)))
        result = invoke(str(src), "-o", str(out))
    assert result.exit_code == 2
    assert "busy" in one_error_line(result)
    assert chat.call_count == 0 and out.read_bytes() == OLD_OUT


@pytest.mark.parametrize("status", [0, 2, 3])
def test_no_temporary_or_lock_file_is_left_whatever_the_outcome(
    api: Any, tmp_path: Path, status: int
) -> None:
    if status == 0:
        api.post("/chat/completions").mock(side_effect=answer)
    elif status == 3:
        api.post("/chat/completions").mock(return_value=httpx.Response(400, json={"error": {}}))
    else:
        api.routes[0].mock(return_value=httpx.Response(401, json={"error": {}}))
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), env={"OPENAI_API_KEY": "sk-x"})
    assert result.exit_code == status, result.stderr
    assert leftovers(tmp_path) == []


# -- Ctrl-C during a rerun -----------------------------------------------------------------


def test_ctrl_c_during_a_rerun_keeps_the_previous_output_and_says_where_the_new_is(
    api: Any, tmp_path: Path
) -> None:
    calls = 0

    def interrupted_at_the_third(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return answer(request)

    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(5))
    out = tmp_path / "out.jsonl"
    assert invoke(str(src), "-o", str(out)).exit_code == 0
    complete = out.read_bytes()
    api.post("/chat/completions").mock(side_effect=interrupted_at_the_third)
    result = invoke(str(src), "-o", str(out), "--no-cache", "-c", "1")
    assert result.exit_code == 130
    assert out.read_bytes() == complete  # 5 records, not the 2 of the interrupted run
    partial = list(tmp_path.glob("out.jsonl.*.partial"))
    assert len(partial) == 1
    assert [r["title"] for r in read_jsonl(partial[0])] == [p["title"] for p in papers(2)]
    assert str(partial[0]) in result.stderr and "the previous output, is as it was" in result.stderr
    assert not list(tmp_path.glob(".*.lock"))


def test_the_batch_file_never_replaces_an_input_and_is_written_whole(
    api: Any, tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    before = src.read_bytes()
    refused = invoke(str(src), "--batch-file", str(src))
    assert refused.exit_code == 2 and "the same file" in one_error_line(refused)
    assert src.read_bytes() == before
    requests = tmp_path / "requests.jsonl"
    written = invoke(str(src), "--batch-file", str(requests))
    assert written.exit_code == 0, written.stderr
    assert len(requests.read_text().splitlines()) == 2
    assert leftovers(tmp_path) == []


# -- in real processes: descriptors, a second run, Ctrl-C ----------------------------------


def _run(*args: str, url: str, **kwargs: Any) -> Any:
    import subprocess
    import sys

    from tests.cli.test_trust import _clean_env

    command = [sys.executable, "-m", "extractor", "run", *args, "--base-url", url]
    return subprocess.Popen(
        command, env=_clean_env(), text=True, preexec_fn=interruptible, **kwargs
    )


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="Linux /proc")
@pytest.mark.parametrize("append", [False, True])
def test_o_dev_stdout_writes_to_the_descriptor_whatever_it_is(tmp_path: Path, append: bool) -> None:
    # /dev/stdout through a link of our own, so that a writer that replaced the node would
    # replace the link, never the machine's /dev/stdout.
    from tests.cli.test_trust import _start_fake, _stop

    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    log = tmp_path / "log"
    log.write_text("earlier line\n")
    server, url = _start_fake()
    try:
        with log.open("a" if append else "w") as fh:
            run = _run(str(src), "-o", str(link), url=url, stdout=fh, stderr=-1)
            _, stderr = run.communicate(timeout=120)
    finally:
        _stop(server)
    assert run.returncode == 0, stderr
    assert link.is_symlink()
    lines = log.read_text().splitlines()
    assert lines[: int(append)] == ["earlier line"][: int(append)]  # `>>` is appended to
    assert [json.loads(x)["title"] for x in lines[int(append) :]] == [p["title"] for p in papers(2)]


def test_a_second_process_on_the_same_output_is_told_it_is_busy(tmp_path: Path) -> None:
    import time

    from tests.cli.test_trust import _start_fake, _stop

    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD_OUT)
    server, url = _start_fake(0, "--stall-title", "FooNet2")
    runs = [_run(str(src), "-o", str(out), "--no-cache", url=url, stdout=-1, stderr=-1)]
    try:
        deadline = time.monotonic() + 60  # a bound on a wait, not a measurement
        while not list(tmp_path.glob("out.jsonl.*.partial")):
            assert runs[0].poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        runs.append(_run(str(src), "-o", str(out), "--no-cache", url=url, stdout=-1, stderr=-1))
        _, stderr = runs[1].communicate(timeout=60)
        assert runs[1].returncode == 2 and "busy" in stderr and "Traceback" not in stderr
    finally:
        for run in runs:
            run.kill()
            run.communicate(timeout=60)
        _stop(server)
    assert out.read_bytes() == OLD_OUT


def test_sigint_during_a_rerun_keeps_the_complete_previous_output(tmp_path: Path) -> None:
    import signal
    import time

    from tests.cli.test_trust import _start_fake, _stop

    src = write_jsonl(tmp_path / "in.jsonl", papers(4))
    out = tmp_path / "out.jsonl"
    server, url = _start_fake()
    try:
        first = _run(str(src), "-o", str(out), url=url, stderr=-1)
        assert first.wait(timeout=120) == 0
    finally:
        _stop(server)
    complete = out.read_bytes()
    assert len(complete.splitlines()) == 4
    server, url = _start_fake(0, "--stall-title", "FooNet2")  # the third paper hangs
    rerun = _run(str(src), "-o", str(out), "--no-cache", url=url, stdout=-1, stderr=-1)
    try:
        deadline = time.monotonic() + 120  # a bound on a wait, not a measurement
        while not any(
            len(p.read_bytes().splitlines()) == 2 for p in tmp_path.glob("out.jsonl*.partial")
        ):
            assert rerun.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        rerun.send_signal(signal.SIGINT)
        _, stderr = rerun.communicate(timeout=60)
    finally:
        if rerun.poll() is None:
            rerun.kill()
        _stop(server)
    assert rerun.returncode == 130, stderr
    assert out.read_bytes() == complete
    (partial,) = tmp_path.glob("out.jsonl.*.partial")
    assert f"interrupted: 2 records written to {partial}" in stderr
    assert [r["title"] for r in read_jsonl(partial)] == [p["title"] for p in papers(2)]


def test_a_crash_leaves_the_previous_output_and_names_what_it_wrote(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extractor.pipeline.window import Pipeline

    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD_OUT)

    async def crash(self: Any, papers: Any, out: Any, errors: Any, progress: Any) -> Any:
        out.write({"id": "written before the crash"})
        raise RuntimeError("a bug")

    monkeypatch.setattr(Pipeline, "run", crash)
    result = CliRunner().invoke(cli, ["run", str(src), "-o", str(out), "--base-url", BASE_URL])
    assert isinstance(result.exception, RuntimeError)
    assert out.read_bytes() == OLD_OUT
    (partial,) = tmp_path.glob("out.jsonl.*.partial")
    assert read_jsonl(partial) == [{"id": "written before the crash"}]
    assert f"what was written before is in {partial}" in result.stderr
    assert not list(tmp_path.glob(".*.lock"))
