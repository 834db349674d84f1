"""Write stage: records and errors as JSON lines, each flushed as soon as it is final (a
record copied out of the cache within FLUSH_SECONDS)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

FLUSH_SECONDS = 0.2

# One encoder for the run: json.dumps with non-default options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any) -> str:
    return _ENCODER.encode(obj)


# What `dumps` makes of a string (the encoder's own function for ensure_ascii=False).
encode_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


class JsonlWriter:
    """One JSON object a line, flushed per line, so a crash loses nothing that was written.

    Nothing is opened before the first `write`. With `atomic`, a file output is written to
    `PATH.partial` beside it, and only `commit()` moves it over PATH (one rename: readers see
    the old file or the new one, never a mix); `discard()` drops it.
    """

    def __init__(self, path: str | None, *, lazy: bool = True, atomic: bool = False):
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = None
        self._opened = False
        self._to_stdout = path in (None, "-")
        self._partial = f"{path}.partial" if atomic and not self._to_stdout else None
        self._flushed = 0.0
        if not lazy:
            self._open()

    def _open(self) -> IO[str]:
        if self._fh is None:
            if self._opened:
                raise ValueError(f"{self.path}: written to after close")
            self._opened = True
            if self._to_stdout:
                self._fh = sys.stdout
            else:
                target = str(self._partial or self.path)
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(target, "w", encoding="utf-8")  # noqa: SIM115
        return self._fh

    def write(self, obj: dict[str, Any]) -> None:
        fh = self._open()
        fh.write(dumps(obj) + "\n")
        fh.flush()
        self.count += 1

    def write_line(self, line: str) -> None:
        """A record copied out of the cache, already encoded as `dumps` encodes it.

        Flushed every FLUSH_SECONDS to a file, and whenever the run waits for an answer
        (a rerun writes 15,000 records a second: a system call each was up to a tenth of its
        time); what a crash keeps from the file is in the cache it came from. A pipe reader
        still gets each record at once."""
        fh = self._open()
        fh.write(line + "\n")
        self.count += 1
        now = time.monotonic()
        if self._to_stdout or now - self._flushed >= FLUSH_SECONDS:
            fh.flush()
            self._flushed = now

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            self._flushed = time.monotonic()

    def commit(self, *, empty: bool = False) -> None:
        """What was written becomes PATH. With nothing written, PATH is left as it was, or,
        with `empty`, made an empty file (a finished run that produced no record)."""
        if empty and not self._opened:
            self._open()
        self.close()
        if self._partial is not None and os.path.exists(self._partial):
            os.replace(self._partial, self.path)  # type: ignore[arg-type]

    def discard(self) -> None:
        """Forget what was written: PATH stays exactly as it was before the run."""
        self.close()
        if self._partial is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._partial)

    def close(self) -> None:
        """Close the file; an atomic writer neither committed nor discarded (a crash) leaves
        its records in PATH.partial and PATH untouched."""
        if self._fh is not None and self._fh is not sys.stdout:
            self._fh.close()
        self._fh = None


def remove_stale(path: str) -> None:
    """An errors file from an earlier run no longer describes anything once its records pass."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
