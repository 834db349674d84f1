"""Reading JSON-lines files back for the commands that summarize or score them.

One reader (`core.jsonl.json_objects`) and one error (`core.jsonl.InputError`, exit status 2)
for `eval`, `table` and `report`, as for `run`'s JSONL input. `table` and `report` are
tolerant: a records file may be partial (a run interrupted mid-line), older, hand-edited or
mixed with error records, and one bad line costs a warning with its line number, never the
whole file. `eval` is strict: a line it cannot read, or bytes that are not UTF-8, would change
the score without a trace, so they stop it with an error naming the line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from extractor.core.jsonl import InputError, json_objects

Warn = Callable[[str], None]


def _lines(path: str | Path, *, strict: bool) -> list[str]:
    name = "<stdin>" if str(path) == "-" else str(path)
    data = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    # utf-8-sig drops a BOM; "replace" keeps a record with one bad byte readable. Split on
    # "\n" only: str.splitlines() would also split inside strings holding U+2028 or U+0085,
    # which JSON writers leave unescaped.
    try:
        text = data.decode("utf-8-sig", errors="strict" if strict else "replace")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"{name}:{line}: not UTF-8 text") from None
    return [line.rstrip("\r") for line in text.split("\n")]


def read_records(path: str | Path, warn: Warn, *, strict: bool = False) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, skipping blank lines; a bad line is warned about and
    skipped, or with `strict` an InputError. Raises OSError when the file cannot be read."""
    name = "<stdin>" if str(path) == "-" else str(path)
    return [obj for _, obj in json_objects(_lines(path, strict=strict), name, warn, strict=strict)]


def load_records_for_cli(path: str, *, strict: bool = False) -> list[dict[str, Any]]:
    """`read_records` for a command: warnings to stderr, an unusable file as InputError."""

    def warn(message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    if path != "-":
        p = Path(path)
        if not p.exists():
            raise InputError(f"{path}: no such file")
        if p.is_dir():
            raise InputError(f"{path}: is a directory, not a records file")
    try:
        return read_records(path, warn, strict=strict)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
