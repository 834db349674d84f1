"""Reading output records back, tolerantly, for the commands that summarize them.

A records file may be partial (a run interrupted mid-line), older, hand-edited or mixed with
error records. One bad line costs a warning with its line number, never the whole file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from extractor.core.jsonl import json_objects

Warn = Callable[[str], None]


def _lines(path: str | Path) -> list[str]:
    data = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    # utf-8-sig drops a BOM; "replace" keeps a record with one bad byte readable. Split on
    # "\n" only: str.splitlines() would also split inside strings holding U+2028 or U+0085,
    # which JSON writers leave unescaped.
    return [line.rstrip("\r") for line in data.decode("utf-8-sig", errors="replace").split("\n")]


def read_records(path: str | Path, warn: Warn) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, skipping blank lines; anything else is warned about.

    Raises OSError when the file cannot be read at all.
    """
    name = "<stdin>" if str(path) == "-" else str(path)
    return [obj for _, obj in json_objects(_lines(path), name, warn)]


class InputError(click.ClickException):
    """A one-line usage error (exit status 2, CONTRACT.md) without click's usage banner."""

    exit_code = 2


def load_records_for_cli(path: str) -> list[dict[str, Any]]:
    """`read_records` for a command: warnings to stderr, an unreadable file as InputError."""

    def warn(message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    if path != "-":
        p = Path(path)
        if not p.exists():
            raise InputError(f"{path}: no such file")
        if p.is_dir():
            raise InputError(f"{path}: is a directory, not a records file")
    try:
        return read_records(path, warn)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
