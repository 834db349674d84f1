"""Issue 9: no run writes wrong data or destroys data, silently.

One record cannot abort the run; a failed run leaves the previous output as it was; the cache
never answers for another endpoint or model file, and a cache entry it cannot read is a miss.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import extractor.pipeline.stages
from tests.cli.test_run import answer, invoke, papers, read_jsonl, write_jsonl
from tests.support.shared import BASE_URL, interruptible, models_list

# --- one record cannot abort the run ----------------------------------------------------------


def test_an_exception_in_grounding_fails_that_record_only(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_ground = extractor.pipeline.stages.ground

    def ground(extraction: Any, facts: Any, *args: Any, **kwargs: Any) -> Any:
        if "FooNet1" in facts.title.text:
            raise RuntimeError("a bug in grounding\nwith a second line")
        return real_ground(extraction, facts, *args, **kwargs)

    monkeypatch.setattr(extractor.pipeline.stages, "ground", ground)
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert [r["title"] for r in read_jsonl(tmp_path / "out.jsonl")] == [
        "Paper 0: FooNet0",
        "Paper 2: FooNet2",
    ]
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["title"] == "Paper 1: FooNet1"
    assert error["error"]["type"] == "internal_error"
    assert error["error"]["message"] == "RuntimeError: a bug in grounding with a second line"
    assert error["error"]["attempts"] == 1

    # The answer was cached before grounding failed: once the bug is gone, the same command
    # finishes the record without a request.
    monkeypatch.setattr(extractor.pipeline.stages, "ground", real_ground)
    again = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert again.exit_code == 0 and "3 cached" in again.stderr
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3


# --- a failed run leaves the previous output as it was ----------------------------------------

OLD_OUT = b'{"id": "old", "note": "a record from an earlier run"}\n'
OLD_ERRORS = b'{"id": "old-error"}\n'


def _previous_run(tmp_path: Path) -> tuple[Path, Path]:
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    out.write_bytes(OLD_OUT)
    errors.write_bytes(OLD_ERRORS)
    return out, errors


def test_a_rejected_key_leaves_the_previous_output_byte_identical(api: Any, tmp_path: Path) -> None:
    rejected = httpx.Response(401, json={"error": {"message": "bad key"}})
    api.routes[0].mock(return_value=rejected)
    chat = api.post("/chat/completions").mock(return_value=rejected)
    out, errors = _previous_run(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(out), env={"OPENAI_API_KEY": "sk-wrong"})
    assert result.exit_code == 2 and "rejected the API key" in result.stderr
    assert chat.call_count == 0
    assert out.read_bytes() == OLD_OUT and errors.read_bytes() == OLD_ERRORS
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache", "in.jsonl", "out.errors.jsonl", "out.jsonl",
    ]  # fmt: skip


def test_a_rejected_key_on_the_first_request_leaves_the_output_too(
    api: Any, tmp_path: Path
) -> None:
    # An endpoint without a usable /models: the key is refused by the chat request itself.
    api.routes[0].mock(return_value=httpx.Response(404, json={"error": {}}))
    api.post("/chat/completions").mock(
        return_value=httpx.Response(401, json={"error": {"message": "bad key"}})
    )
    out, errors = _previous_run(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(out), env={"OPENAI_API_KEY": "sk-wrong"})
    assert result.exit_code == 2 and "rejected the API key" in result.stderr
    assert out.read_bytes() == OLD_OUT and errors.read_bytes() == OLD_ERRORS
    assert not list(tmp_path.glob("out.jsonl*.partial"))


def test_a_fatal_error_after_some_records_leaves_the_output_and_keeps_the_answers(
    api: Any, tmp_path: Path
) -> None:
    quota = httpx.Response(429, json={"error": {"code": "insufficient_quota", "message": "-"}})
    route = api.post("/chat/completions").mock(side_effect=[answer, quota, quota])
    out, _ = _previous_run(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(out), "-c", "1")
    assert result.exit_code == 2 and "no quota" in result.stderr
    assert out.read_bytes() == OLD_OUT
    # What was answered before the error is cached: the rerun pays for the other two only.
    route.mock(side_effect=answer)
    again = invoke(str(src), "-o", str(out))
    assert again.exit_code == 0 and "1 cached" in again.stderr
    assert [r["title"] for r in read_jsonl(out)] == [p["title"] for p in papers(3)]


def test_a_finished_run_replaces_the_output_with_exactly_its_records(
    api: Any, tmp_path: Path
) -> None:
    api.post("/chat/completions").mock(
        return_value=httpx.Response(400, json={"error": {"message": "no"}})
    )
    out, errors = _previous_run(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    result = invoke(str(src), "-o", str(out))
    assert result.exit_code == 3
    assert out.read_bytes() == b""  # every record failed: none is the old file's
    assert len(read_jsonl(errors)) == 2
    assert not list(tmp_path.glob("out.jsonl*.partial"))


# --- the cache answers only for the endpoint and model file that gave the answer --------------


def _cache_entries(cache_dir: Path) -> list[str]:
    import diskcache

    with diskcache.Cache(str(cache_dir)) as cache:
        return list(cache.iterkeys())


def test_the_same_model_on_another_endpoint_is_another_cache_entry(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out = str(tmp_path / "out.jsonl")
    with respx.mock(assert_all_called=False) as mock:
        for host in ("llm.test", "other.test"):
            mock.get(f"http://{host}/v1/models").mock(return_value=models_list())
        chat = mock.post("http://llm.test/v1/chat/completions").mock(side_effect=answer)
        other = mock.post("http://other.test/v1/chat/completions").mock(side_effect=answer)
        assert invoke(str(src), "-o", out).exit_code == 0
        assert chat.call_count == 2
        # The same endpoint spelled differently is the same endpoint.
        same = invoke(str(src), "-o", out, "--base-url", "HTTP://LLM.test:80/v1/")
        assert same.exit_code == 0 and "2 cached" in same.stderr
        moved = invoke(str(src), "-o", out, "--base-url", "http://other.test/v1")
        assert moved.exit_code == 0 and "0 cached" in moved.stderr
        assert other.call_count == 2 and chat.call_count == 2


def test_endpoint_identity_never_holds_credentials() -> None:
    from extractor.pipeline.cache import url_endpoint

    assert url_endpoint(None) == url_endpoint("https://API.openai.com:443/v1/")
    assert url_endpoint("http://user:sk-secret@host:8000/v1?key=sk-secret#x") == (
        "url:http://host:8000/v1"
    )


@pytest.fixture
def fake_local_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`local_endpoint` stood in for by the respx-mocked endpoint: the run's real client path,
    without loading a model. Records how each server was asked for."""
    import contextlib

    started: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def local_endpoint(spec: str, **kwargs: Any) -> Any:
        started.append({"spec": spec, **kwargs})
        yield BASE_URL

    monkeypatch.setattr("extractor.model.local.local_endpoint", local_endpoint)
    return started


def test_a_changed_local_model_file_is_a_cache_miss(
    api: Any, tmp_path: Path, fake_local_server: list[dict[str, Any]]
) -> None:
    import os

    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    args = (str(src), "-o", str(tmp_path / "out.jsonl"), "-m", f"local:{model}")
    assert invoke(*args).exit_code == 0 and chat.call_count == 2
    again = invoke(*args)
    assert again.exit_code == 0 and "2 cached" in again.stderr and chat.call_count == 2
    # Another file under the same name (here: same size, another modification time).
    model.write_bytes(b"GGUF" + b"\1" * 64)
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = invoke(*args)
    assert changed.exit_code == 0 and "0 cached" in changed.stderr and chat.call_count == 4


def test_a_registry_model_is_identified_by_its_sha256() -> None:
    from extractor.model.local import REGISTRY, TINY_MODEL, model_identity

    assert model_identity(f"local:{TINY_MODEL}") == f"sha256:{REGISTRY[TINY_MODEL].sha256}"


class _Unpicklable:
    def __reduce__(self) -> Any:
        return (_explode, ())


def _explode() -> None:
    raise ValueError("cannot rebuild this object")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda v: {**v, "extra": 1}, id="extra-field"),
        pytest.param(lambda v: {k: x for k, x in v.items() if k != "attempts"}, id="missing"),
        pytest.param(lambda v: {**v, "input_tokens": "120"}, id="wrong-type"),
        pytest.param(lambda v: {**v, "extraction": ["not", "a", "dict"]}, id="wrong-extraction"),
        pytest.param(lambda v: {**v, "v": 999}, id="other-version"),
        pytest.param(lambda v: [v], id="not-a-dict"),
        pytest.param(lambda v: b"\x80garbage", id="garbage"),
        pytest.param(lambda v: _Unpicklable(), id="unpickling-error"),
    ],
)
def test_an_unreadable_cache_entry_is_a_miss_not_a_crash(
    api: Any, tmp_path: Path, _isolated_env: Path, bad: Any
) -> None:
    import diskcache

    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out = tmp_path / "out.jsonl"
    assert invoke(str(src), "-o", str(out)).exit_code == 0 and chat.call_count == 2
    with diskcache.Cache(str(_isolated_env)) as cache:
        for key in list(cache.iterkeys()):
            if key.endswith(".record"):  # records made from the answers: see test_finished_records
                cache.delete(key)
            else:
                # an entry as a cache from before JSON would hold it: a pickle
                cache.set(key, bad(json.loads(cache.get(key))))
    again = invoke(str(src), "-o", str(out))
    assert again.exit_code == 0, again.stderr
    assert "0 cached" in again.stderr and chat.call_count == 4
    assert [r["title"] for r in read_jsonl(out)] == [p["title"] for p in papers(2)]
    # The entries were replaced by good ones.
    third = invoke(str(src), "-o", str(out))
    assert third.exit_code == 0 and "2 cached" in third.stderr and chat.call_count == 4


# --- local models: no more requests in flight than the server has slots -----------------------


def test_local_requests_in_flight_never_exceed_the_server_slots(
    api: Any, tmp_path: Path, fake_local_server: list[dict[str, Any]]
) -> None:
    import asyncio

    from extractor.cli.commands.run import execute
    from extractor.config import LOCAL_SLOTS, ModelConfig, RunConfig

    in_flight, peak = 0, 0

    async def slow_answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(50):  # let every other task that may send a request send it
            await asyncio.sleep(0)
        in_flight -= 1
        return answer(request)

    api.post("/chat/completions").mock(side_effect=slow_answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(12))
    config = RunConfig(
        inputs=[str(src)],
        output=str(tmp_path / "out.jsonl"),
        concurrency=8,
        quiet=True,
        cache_dir=tmp_path / "cache",
        model=ModelConfig(model="local:smollm2-135m", prompt_variant="compact", timeout=600),
    )
    assert execute(config) == 0
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 12
    assert peak == LOCAL_SLOTS
    assert [s["parallel"] for s in fake_local_server] == [LOCAL_SLOTS]
    # The server's address went to the call alone: the caller's config is as it was.
    assert config.model.base_url is None and config.concurrency == 8


# --- Ctrl-C: what finished is written, the rest resumes from the cache ------------------------

FAKE_SERVER = Path(__file__).resolve().parents[2] / "bench" / "fake_openai.py"


def _start_fake(port: int = 0, *extra: str) -> tuple[Any, str]:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, str(FAKE_SERVER), "--port", str(port), "--latency", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "ready on http://127.0.0.1:PORT/v1"
    assert line.startswith("ready on "), line
    return proc, line.split()[-1]


def _stop(proc: Any) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def _clean_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("OPENAI_API_KEY", None)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def test_sigint_writes_what_finished_and_the_rerun_resumes_from_the_cache(
    tmp_path: Path,
) -> None:
    import re
    import signal
    import subprocess
    import sys
    import time

    src = write_jsonl(tmp_path / "in.jsonl", papers(4))
    out = tmp_path / "out.jsonl"
    server, url = _start_fake(0, "--stall-title", "FooNet2")  # the third paper hangs
    port = int(url.split(":")[-1].split("/")[0])
    command = [sys.executable, "-m", "extractor", "run", str(src), "-o", str(out)]
    command += ["--base-url", url, "-c", "4"]
    try:
        run = subprocess.Popen(
            command,
            env=_clean_env(),
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=interruptible,
        )

        # Where the records go while the run lasts is the writer's business: a temporary
        # file beside OUT, with a name of its own.
        def written() -> bool:
            files = [out, *tmp_path.glob("out.jsonl.*.partial")]
            return any(f.exists() and len(f.read_text().splitlines()) == 2 for f in files)

        deadline = time.monotonic() + 120  # a bound on a wait, not a measurement
        while not written():
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the first two records were never written"
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    finally:
        _stop(server)
    assert run.returncode == 130, stderr
    assert "interrupted: 2 records written" in stderr and "Traceback" not in stderr
    # No earlier output to keep: what finished is OUT, and no temporary file is left.
    assert [r["title"] for r in read_jsonl(out)] == ["Paper 0: FooNet0", "Paper 1: FooNet1"]
    assert not list(tmp_path.glob("out.jsonl*.partial"))
    assert not list(tmp_path.glob(".out.jsonl*.lock"))

    # The same command against the same endpoint, which now answers every paper.
    server, _ = _start_fake(port)
    try:
        again = subprocess.run(command, env=_clean_env(), capture_output=True, text=True)
    finally:
        _stop(server)
    assert again.returncode == 0, again.stderr
    assert [r["title"] for r in read_jsonl(out)] == [p["title"] for p in papers(4)]
    cached = re.search(r"\((\d+) cached", again.stderr)
    assert cached and int(cached.group(1)) >= 2, again.stderr  # paper 3 too, if it got answered


# --- one JSON-lines reader, one input error -------------------------------------------------


def test_one_input_error_type_for_every_reader() -> None:
    from extractor.core import evaluate, jsonl
    from extractor.pipeline import read, records_io

    assert read.InputError is jsonl.InputError and records_io.InputError is jsonl.InputError
    assert issubclass(evaluate.EvalInputError, jsonl.InputError)


def test_a_bad_line_is_skipped_with_its_number_by_table_and_an_error_for_eval(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from extractor.cli import cli

    good = {"id": "a", "title": "T", "extraction": {"results": []}}
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": "a", "title": "T", "extraction": {"results": []}}\n{"cut": \n')
    table = CliRunner().invoke(cli, ["table", str(path)])
    assert table.exit_code == 0
    assert "out.jsonl:2: invalid JSON" in table.stderr and "skipped" in table.stderr
    gold = write_jsonl(tmp_path / "gold.jsonl", [good])
    scored = CliRunner().invoke(cli, ["eval", str(path), str(gold)])
    assert scored.exit_code == 2 and "out.jsonl:2: invalid JSON" in scored.stderr
    # Bytes that are not UTF-8 would change a title, and so the pairing: an error for eval.
    (tmp_path / "latin.jsonl").write_bytes(b'{"title": "Caf\xe9", "extraction": {}}\n')
    latin = CliRunner().invoke(cli, ["eval", str(tmp_path / "latin.jsonl"), str(gold)])
    assert latin.exit_code == 2 and "latin.jsonl:1: not UTF-8 text" in latin.stderr
