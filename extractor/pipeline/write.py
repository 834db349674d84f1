"""Write stage: records and errors as JSON lines, each flushed as soon as it is final (a
record copied out of the cache within FLUSH_SECONDS)."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from extractor.pipeline import files

FLUSH_SECONDS = 0.2

# One encoder for the run: json.dumps with non-default options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any) -> str:
    return _ENCODER.encode(obj)


# What `dumps` makes of a string (the encoder's own function for ensure_ascii=False).
encode_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


class JsonlWriter:
    """One JSON object a line, flushed per line, so a crash loses nothing that was written.

    Nothing is opened before the first `write`. With `atomic`, a regular file (or a symlink's
    target) is written to a temporary file with a unique name beside it, and only `commit()`
    renames it over PATH (readers see the old file or the new one, never a mix); `discard()`
    drops it. A device or FIFO is written in place (see `extractor.pipeline.files`).

    A failed write (a full disk) is an `OutputError` once; later writes are dropped, so the
    pipeline's clean-up after that error runs to its end instead of failing again.
    """

    def __init__(self, path: str | None, *, lazy: bool = True, atomic: bool = False):
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = None
        self._opened = False
        self._broken = False
        self._to_stdout = path in (None, "-")
        self._target = None if self._to_stdout else files.resolve(str(path))
        self._atomic = atomic and self._target is not None and not self._target.in_place
        self._tmp: str | None = None  # the temporary file, once opened
        self._flushed = 0.0
        if not lazy:
            self._open()

    @property
    def partial(self) -> str | None:
        """The temporary file the records go to until `commit`."""
        return self._tmp

    def _open(self) -> IO[str]:
        if self._fh is None:
            if self._opened:
                raise ValueError(f"{self.path}: written to after close")
            self._opened = True
            if self._target is None:
                self._fh = sys.stdout
            elif self._atomic:
                self._fh, self._tmp = files.open_temp(self._target)
            else:
                # In place, appended to: see `extractor.pipeline.files`.
                mode = "a" if self._target.in_place else "w"
                try:
                    self._fh = open(self._target.path, mode, encoding="utf-8")  # noqa: SIM115
                except OSError as e:
                    raise files.write_error(str(self.path), e) from None
        return self._fh

    def _failed(self, error: OSError) -> files.OutputError:
        self._broken = True
        return files.write_error(str(self.path), error)

    def write(self, obj: dict[str, Any]) -> None:
        if self._broken:
            return
        fh = self._open()
        try:
            fh.write(dumps(obj) + "\n")
            fh.flush()
        except OSError as e:
            raise self._failed(e) from None
        self.count += 1

    def write_line(self, line: str) -> None:
        """A record copied out of the cache, already encoded as `dumps` encodes it.

        Flushed every FLUSH_SECONDS to a file, and whenever the run waits for an answer
        (a rerun writes 15,000 records a second: a system call each was up to a tenth of its
        time); what a crash keeps from the file is in the cache it came from. A pipe reader
        still gets each record at once."""
        if self._broken:
            return
        fh = self._open()
        try:
            fh.write(line + "\n")
            self.count += 1
            now = time.monotonic()
            if self._to_stdout or now - self._flushed >= FLUSH_SECONDS:
                fh.flush()
                self._flushed = now
        except OSError as e:
            raise self._failed(e) from None

    def flush(self) -> None:
        if self._fh is not None and not self._broken:
            try:
                self._fh.flush()
            except OSError as e:
                raise self._failed(e) from None
            self._flushed = time.monotonic()

    def close(self) -> None:
        """Flush and close (an `OutputError` if the data cannot all be written). An atomic
        writer neither committed nor discarded keeps its records in `partial`, PATH as it was."""
        fh, self._fh = self._fh, None
        if fh is None or fh is sys.stdout:
            if fh is not None and not self._broken:
                fh.flush()
            return
        if self._broken:
            files.drop(fh, None)
        elif self._tmp is not None:
            files.finish_temp(fh, str(self.path))
        else:
            try:
                fh.close()
            except OSError as e:
                raise self._failed(e) from None

    def commit(self, *, empty: bool = False) -> None:
        """What was written becomes PATH. With nothing written, PATH is left as it was, or,
        with `empty`, made an empty file (a finished run that produced no record)."""
        if empty and not self._opened:
            self._open()
        self.close()
        if self._tmp is not None and self._target is not None:
            files.rename_over(self._tmp, self._target)
            self._tmp = None

    def discard(self) -> None:
        """Forget what was written: PATH stays exactly as it was before the run."""
        fh, self._fh = self._fh, None
        files.drop(None if fh is sys.stdout else fh, self._tmp)
        self._tmp = None

    def abandon(self) -> str | None:
        """A crash: records written stay in `partial` (returned) for whoever looks, since
        they may exist nowhere else (--no-cache); no records, no file."""
        if self.count == 0 or self._tmp is None:
            self.discard()
            return None
        fh, self._fh = self._fh, None
        files.drop(None if fh is sys.stdout else fh, None)
        return self._tmp

    def keep(self) -> str | None:
        """An interrupted run's records: where they are now, or None when there are none.

        They replace PATH only where that loses nothing (PATH does not exist or is empty);
        a previous output is never replaced by a part of a run, and they stay in `partial`."""
        if self.count == 0 or self._broken:
            self.discard()
            return None
        try:
            self.close()
        except files.OutputError:
            self.discard()
            return None
        if self._tmp is None or self._target is None:
            return str(self.path or "stdout")
        try:
            previous = os.path.getsize(self._target.path)
        except FileNotFoundError:
            previous = 0
        if previous:
            return self._tmp
        kept = self._tmp
        try:
            self.commit()
        except files.OutputError:
            return kept  # the records stay where they are
        return str(self.path)


# What every line of an errors file holds (CONTRACT.md), and nothing else.
_ERROR_KEYS = frozenset({"id", "title", "source", "error"})
_ERROR_INFO_KEYS = frozenset({"type", "message", "attempts"})


def _is_error_line(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return (
        isinstance(obj, dict)
        and obj.keys() == _ERROR_KEYS
        and isinstance(obj["error"], dict)
        and obj["error"].keys() == _ERROR_INFO_KEYS
        and isinstance(obj["source"], dict)
    )


def is_errors_file(path: str) -> bool:
    """Whether `path` is a file this tool wrote as an errors file: not empty, and every line
    an error record exactly as `run` writes them. A records file, notes, an input (JSONL
    papers have `title` but no `error`) or anything hand-written fails at its first line."""
    try:
        with open(path, "rb") as fh:
            seen = False
            for line in fh:
                if not line.strip():
                    continue
                if not _is_error_line(line):
                    return False
                seen = True
            return seen
    except (OSError, ValueError):
        return False


def remove_stale(path: str) -> bool:
    """An errors file from an earlier run no longer describes anything once its records
    pass: removed, but only when it is one (`is_errors_file`), so `-e notes.txt` never costs
    the notes. Through a symlink, the file it names is emptied and the link kept. True when
    something was removed or emptied."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        target = files.resolve(path)
        if target.in_place or not is_errors_file(target.path):
            return False
        files.write_text(path, "")
        return True
    if not stat.S_ISREG(st.st_mode) or not is_errors_file(path):
        return False
    os.remove(path)
    return True
