"""Write stage: records and errors as JSON lines, each flushed as soon as it is final."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

# One encoder for the run: json.dumps with non-default options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj: dict[str, Any]) -> str:
    return _ENCODER.encode(obj)


class JsonlWriter:
    """One JSON object a line, flushed per line, so a crash loses nothing that was written."""

    def __init__(self, path: str | None, *, lazy: bool = False):
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = None
        if not lazy:
            self._open()

    def _open(self) -> IO[str]:
        if self._fh is None:
            if self.path in (None, "-"):
                self._fh = sys.stdout
            else:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
                self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        return self._fh

    def write(self, obj: dict[str, Any]) -> None:
        fh = self._open()
        fh.write(dumps(obj) + "\n")
        fh.flush()
        self.count += 1

    def close(self) -> None:
        if self._fh is not None and self._fh is not sys.stdout:
            self._fh.close()


def remove_stale(path: str) -> None:
    """An errors file from an earlier run no longer describes anything once its records pass."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
