"""`extractor.pipeline.files` and the JSONL writer on it: what is written is what was given, the old
file survives any failure, nothing is left behind, and no path is used for two roles."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractor.core.paper import Paper
from extractor.pipeline import files
from extractor.pipeline.files import Locks, OutputError, refuse_same, write_text
from extractor.pipeline.stages import error_record
from extractor.pipeline.write import JsonlWriter, dumps, is_errors_file, remove_stale

# Any text JSON can hold as UTF-8: NULs, CR, LF, U+2028, astral characters (no lone surrogates).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
RECORDS = st.lists(st.dictionaries(TEXT, JSON, max_size=6), max_size=30)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class FullDisk:
    """A file that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, fh: Any, room: int):
        self._fh, self._room = fh, room

    def write(self, data: Any) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return int(self._fh.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def fill_disk(monkeypatch: pytest.MonkeyPatch, room: int = 0) -> None:
    real = files.open_temp

    def open_temp(target: files.Target, *, binary: bool = False) -> tuple[Any, str]:
        fh, tmp = real(target, binary=binary)
        return FullDisk(fh, room), tmp

    monkeypatch.setattr(files, "open_temp", open_temp)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".partial", ".lock")))


def read_back(path: Path) -> list[Any]:
    # Split on "\n" only: U+2028 and friends are left unescaped inside strings.
    text = path.read_bytes().decode("utf-8")
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


# -- properties of the writers -------------------------------------------------------------


@PROPERTY
@given(records=RECORDS)
def test_what_a_committed_writer_wrote_is_valid_jsonl_equal_to_the_records(
    records: list[dict[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "out.jsonl"
        path.write_bytes(b"old\n")
        writer = JsonlWriter(str(path), atomic=True)
        for i, record in enumerate(records):
            if i % 2:
                writer.write_line(dumps(record))
            else:
                writer.write(record)
        assert path.read_bytes() == b"old\n"  # nothing replaced before the commit
        writer.commit(empty=True)
        assert read_back(path) == records
        assert leftovers(Path(d)) == []


@PROPERTY
@given(records=RECORDS, old=st.binary(max_size=300), room=st.integers(0, 3000))
def test_a_full_disk_leaves_the_previous_file_byte_for_byte(
    records: list[dict[str, Any]], old: bytes, room: int
) -> None:
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        path = Path(d) / "out.jsonl"
        path.write_bytes(old)
        fill_disk(mp, room)
        writer = JsonlWriter(str(path), atomic=True)
        try:
            for record in records:
                writer.write(record)
            writer.commit(empty=True)
        except OutputError as e:
            assert "No space left on device" in str(e)
            for record in records:  # after the error: dropped, never a second error
                writer.write(record)
            writer.discard()
            assert path.read_bytes() == old
        else:
            assert read_back(path) == records
        assert leftovers(Path(d)) == []


@PROPERTY
@given(text=TEXT, old=st.binary(max_size=100), fail=st.booleans())
def test_write_text_writes_exactly_the_text_or_leaves_the_old_file(
    text: str, old: bytes, fail: bool
) -> None:
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        path = Path(d) / "report.html"
        path.write_bytes(old)
        if fail:
            fill_disk(mp, 0)
        try:
            write_text(str(path), text + "\r\n\0")
        except OutputError:
            assert fail
            assert path.read_bytes() == old
        else:
            assert path.read_bytes() == (text + "\r\n\0").encode("utf-8")
        assert leftovers(Path(d)) == []


# -- the temporary file --------------------------------------------------------------------


def test_each_writer_has_a_temporary_file_of_its_own(tmp_path: Path) -> None:
    out = str(tmp_path / "out.jsonl")
    first, second = JsonlWriter(out, atomic=True), JsonlWriter(out, atomic=True)
    first.write({"n": 1})
    second.write({"n": 2})
    assert first.partial and second.partial and first.partial != second.partial
    assert Path(first.partial).parent == tmp_path
    first.discard()
    second.discard()
    assert list(tmp_path.iterdir()) == []


def test_the_new_file_keeps_the_old_files_permissions(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    out.chmod(0o640)
    write_text(str(out), "new\n")
    assert out.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.txt"
    write_text(str(fresh), "x")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "out.jsonl"
    link.symlink_to(real)
    write_text(str(link), "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert leftovers(tmp_path) == leftovers(tmp_path / "data") == []


def test_a_fifo_is_written_through_not_replaced(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_text(str(fifo), "through\n")
    reader.join(10)
    assert got == [b"through\n"]
    assert fifo.is_fifo()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: None, "does not exist"),
    ],
)
def test_paths_that_cannot_be_written_are_one_output_error(
    tmp_path: Path, make: Any, message: str
) -> None:
    path = tmp_path / "x" if message == "is a directory" else tmp_path / "missing" / "x"
    make(path)
    with pytest.raises(OutputError, match=message):
        files.prepare(str(path))


@pytest.mark.parametrize(("path", "message"), [("", "empty path"), ("new/", "names a folder")])
def test_an_empty_path_or_one_that_names_a_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match=message):
        files.prepare(path)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_takes_no_new_file_fails_the_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_a: Any, **_k: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="Permission denied"):
        files.prepare(str(tmp_path / "out.jsonl"))


# -- one path, one role --------------------------------------------------------------------


def test_one_file_under_two_names_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("{}\n")
    (tmp_path / "link.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for alias in ("in.jsonl", "link.jsonl", "hard.jsonl", "./sub/../in.jsonl"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="the same file"):
            refuse_same([("output", str(tmp_path / alias))], [str(src)])
    with pytest.raises(OutputError, match="as output and as errors file"):
        refuse_same([("output", str(tmp_path / "o")), ("errors file", str(tmp_path / "o"))])
    refuse_same([("output", str(tmp_path / "o")), ("errors file", "-")], [str(src), str(src)])
    refuse_same([("output", "/dev/null")], ["/dev/null"])  # a device is no file to protect


# -- the lock ------------------------------------------------------------------------------


def test_a_second_writer_of_one_output_is_told_it_is_busy(tmp_path: Path) -> None:
    target = files.resolve(str(tmp_path / "out.jsonl"))
    with Locks() as first:
        first.acquire(target)
        with pytest.raises(OutputError, match="busy"):
            Locks().acquire(target)
    assert list(tmp_path.iterdir()) == []  # the lock file goes with the lock
    with Locks() as again:
        again.acquire(target)


# -- the errors file -----------------------------------------------------------------------

PAPER = Paper(id="p1", title="T", abstract="A", path="in.jsonl", line=1)


def test_only_an_errors_file_of_ours_is_removed(tmp_path: Path) -> None:
    ours = tmp_path / "out.errors.jsonl"
    ours.write_text(dumps(error_record(PAPER, "http_error", "boom", 2)) + "\n")
    assert is_errors_file(str(ours)) and remove_stale(str(ours)) and not ours.exists()
    record = {"id": "p1", "title": "T", "abstract": "A", "source": {}, "extraction": {}}
    for text in ("my notes\n", json.dumps(record) + "\n", "", '{"title": "T", "abstract": "A"}\n'):
        other = tmp_path / "other.jsonl"
        other.write_text(text)
        assert not remove_stale(str(other))
        assert other.read_text() == text


@PROPERTY
@given(objects=st.lists(st.dictionaries(TEXT, JSON, max_size=5), min_size=1, max_size=5))
def test_no_file_but_error_records_passes_for_an_errors_file(objects: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "e.jsonl"
        path.write_text("".join(json.dumps(o) + "\n" for o in objects))
        assert not is_errors_file(str(path))


def test_a_stale_errors_file_behind_a_symlink_is_emptied_and_the_link_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.errors.jsonl"
    real.write_text(dumps(error_record(PAPER, "http_error", "boom", 2)) + "\n")
    link = tmp_path / "out.errors.jsonl"
    link.symlink_to(real)
    assert remove_stale(str(link))
    assert link.is_symlink() and real.read_text() == ""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="Linux /proc")
@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_a_descriptor_is_written_in_place_even_when_it_is_a_regular_file(
    tmp_path: Path, name: str
) -> None:
    # Resolved only (nothing written): stdout a pipe, then a regular file (`> file`).
    import subprocess
    import sys

    code = f"from extractor.pipeline.files import resolve; print(resolve({name!r}).in_place)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert piped.stdout.strip() == "True", piped.stderr
    with (tmp_path / "f").open("w") as fh:
        subprocess.run([sys.executable, "-c", code], stdout=fh, env=env, check=True)
    assert (tmp_path / "f").read_text().strip() == "True"
