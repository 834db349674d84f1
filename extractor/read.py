"""Read stage: stream papers out of `papers` pages, JSONL or CSV, one at a time.

Nothing here holds a whole file: a reader is a generator over lines, so a 1 GB input costs
the memory of one record. Problems with single records are warnings (the rest goes on);
problems with a whole input are `InputError`s, which stop the run before anything is sent.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TextIO

from extractor.core.jsonl import InputError, json_objects
from extractor.core.paper import Paper, paper_id

FORMATS = ("papers", "jsonl", "csv")
Warn = Callable[[str], None]

_HEAD_BYTES = 64 * 1024


@dataclass
class ReadStats:
    read: int = 0
    duplicates: int = 0
    skipped: int = 0
    ids: set[str] = field(default_factory=set)


def _open_text(path: str) -> TextIO:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="")
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        return p.open(encoding="utf-8", errors="replace", newline="")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e


def _head_lines(stream: TextIO) -> list[str]:
    lines: list[str] = []
    size = 0
    while size < _HEAD_BYTES:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        size += len(line)
    return lines


def _looks_binary(head: str) -> bool:
    if "\x00" in head:
        return True
    # U+FFFD is what undecodable bytes became; a few are a mojibake'd file, many are not text.
    return head.count("\ufffd") > max(8, len(head) // 100)


def detect_format(head: str, path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    first = next((ln.strip() for ln in head.splitlines() if ln.strip()), "")
    if first.startswith("{"):
        return "jsonl"
    header = {c.strip().strip('"').lower() for c in first.split(",")}
    if {"title", "abstract"} <= header:
        return "csv"
    return "papers"


def open_input(path: str, fmt: str | None) -> tuple[str, Iterator[str]]:
    """Check one input and return its format and its lines, without reading it all."""
    stream = _open_text(path)
    try:
        head = _head_lines(stream)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e
    text = "".join(head)
    if not text.strip():
        stream.close()
        raise InputError(f"{path}: empty input")
    if _looks_binary(text):
        stream.close()
        raise InputError(f"{path}: not a text file (binary content)")
    return fmt or detect_format(text, path), chain(head, _rest(stream))


def _rest(stream: TextIO) -> Iterator[str]:
    with stream:
        yield from stream


# -- papers pages -------------------------------------------------------------------------

_CHROME = {
    "new", "subscribe", "daily papers", "byak and the research community",
    "get trending papers in your email inbox!", "get trending papers in your email inbox once a day!",
}  # fmt: skip
_DATE = re.compile(
    r"^(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(,? \d{4})?$", re.I
)
_SENTENCE_END = re.compile(r"[.!?](\s|$)")


def _is_paragraph(line: str) -> bool:
    # In real listings titles stay under 150 characters and abstracts over 600; the
    # sentence count catches short abstracts without taking a long title for one.
    return len(line) >= 300 or (len(line) >= 120 and len(_SENTENCE_END.findall(line)) >= 2)


def read_papers_page(lines: Iterable[str], path: str, warn: Warn) -> Iterator[Paper]:
    pending: tuple[str, int] | None = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.lower() in _CHROME or _DATE.match(line):
            continue
        if line.startswith("Subscribe") and not line[9:10].islower():
            line = line[len("Subscribe") :].strip()  # a title glued to the page's button
        if _is_paragraph(line):
            if pending is None:
                warn(f"{path}:{lineno}: paragraph without a title line, skipped")
                continue
            title, title_line = pending
            pending = None
            yield Paper(paper_id(title, line), title, line, path, title_line)
        else:
            if pending is not None:
                warn(
                    f"{path}:{pending[1]}: title without an abstract, skipped: {pending[0][:60]!r}"
                )
            pending = (line, lineno)
    if pending is not None:
        warn(f"{path}:{pending[1]}: title without an abstract, skipped: {pending[0][:60]!r}")


# -- JSONL and CSV ---------------------------------------------------------------------------


def _from_fields(row: dict[str, object], path: str, line: int, warn: Warn) -> Paper | None:
    title = row.get("title")
    abstract = row.get("abstract")
    if not isinstance(abstract, str) or not abstract.strip():
        warn(f"{path}:{line}: record has no abstract, skipped")
        return None
    title = " ".join(title.split()) if isinstance(title, str) else ""
    abstract = abstract.strip()
    given = row.get("id")
    pid = str(given).strip() if isinstance(given, (str, int)) and str(given).strip() else None
    url = row.get("url")
    return Paper(
        pid or paper_id(title, abstract),
        title,
        abstract,
        path,
        line,
        url if isinstance(url, str) else None,
    )


def paper_from_fields(row: dict[str, object], path: str, line: int, warn: Warn) -> Paper | None:
    """The paper a JSONL object or CSV row holds (or a mapping given to the library API):
    `title`, `abstract`, optional `id` and `url`. None, with a warning, without an abstract."""
    return _from_fields(row, path, line, warn)


def read_jsonl(lines: Iterable[str], path: str, warn: Warn) -> Iterator[Paper]:
    for lineno, row in json_objects(lines, path, warn):
        if (paper := _from_fields(row, path, lineno, warn)) is not None:
            yield paper


def read_csv(lines: Iterable[str], path: str, warn: Warn) -> Iterator[Paper]:
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(lines)
    header = next(reader, None) or []
    columns = [h.strip().lower() for h in header]
    if "abstract" not in columns:
        raise InputError(
            f"{path}: CSV header has no 'abstract' column (found: {', '.join(header)})"
        )
    start = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            paper = _from_fields(dict(zip(columns, row, strict=False)), path, start, warn)
            if paper is not None:
                yield paper
        start = reader.line_num + 1


_READERS = {"papers": read_papers_page, "jsonl": read_jsonl, "csv": read_csv}


def read_inputs(
    paths: list[str], fmt: str | None, warn: Warn, stats: ReadStats | None = None
) -> Iterator[Paper]:
    """All papers of all inputs, in order, each distinct paper once.

    Every input is opened and checked before the first paper is yielded, so a typo in the
    last of ten paths stops the run before any request is paid for.
    """
    opened = [(path, *open_input(path, fmt)) for path in paths]
    stats = stats if stats is not None else ReadStats()

    def skipped(message: str) -> None:  # every reader warning is a record left out
        stats.skipped += 1
        warn(message)

    for path, input_fmt, lines in opened:
        for paper in _READERS[input_fmt](lines, path, skipped):
            if paper.id in stats.ids:
                stats.duplicates += 1
                continue
            stats.ids.add(paper.id)
            stats.read += 1
            yield paper
