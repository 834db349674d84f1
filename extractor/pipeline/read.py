"""Read stage: stream papers out of `papers` pages, JSONL or CSV, one at a time.

Nothing here holds a whole file: a reader is a generator over lines, so a 1 GB input costs
the memory of one record. Problems with single records are warnings (the rest goes on);
problems with a whole input are `InputError`s, which stop the run before anything is sent.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
import sys
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from extractor.core.jsonl import InputError, json_objects
from extractor.core.paper import Paper, paper_id

FORMATS = ("papers", "jsonl", "csv")
DEFAULT_ENCODING = "utf-8"
Warn = Callable[[str], None]

_HEAD_BYTES = 64 * 1024
# A file this small is checked whole before the run starts, so a stray byte near its end
# stops the run before anything is paid for; past it (a metadata dump of gigabytes) the
# check goes with the reading, and stops the run where the byte is.
_CHECK_WHOLE = 64 * 1024 * 1024
_CHUNK = 1 << 20
# A line this long is no paper (an abstract is cut to 20,000 characters for the prompt): read
# whole, a file without line breaks would take all the memory there is.
_MAX_LINE = 64 * 1024 * 1024
# Byte-order marks: a UTF-8 one is dropped; UTF-16/32 ones name the encoding (longest first:
# the UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)  # fmt: skip
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")  # where an old Mac line (CR alone) ends


@dataclass
class ReadStats:
    read: int = 0  # papers yielded, those with a problem included
    duplicates: int = 0  # the same id and text again: skipped
    skipped: int = 0
    conflicts: int = 0  # the same id with another text: yielded with a problem
    # each id seen, with the hash of the text that first had it
    ids: dict[str, int] = field(default_factory=dict)


def check_encoding(name: str) -> str:
    """The codec's canonical name; ValueError for a name Python does not know."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None


def _ascii_compatible(encoding: str) -> bool:
    # lines can then be cut at b"\n" before decoding, and an error placed to the byte
    try:
        return '\n{",a'.encode(encoding) == b'\n{",a'
    except (UnicodeError, LookupError):
        return False


class _Prefixed(io.RawIOBase):
    """`head` (bytes already read to look for a mark) and then the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def _not_text(
    path: str, encoding: str, offset: int | None, line: int, around: bytes = b""
) -> InputError:
    if b"\x00" in around:  # NULs and bytes that are no text: not a text file at all
        return InputError(f"{path}: not a text file (binary content)")
    name = "UTF-8" if encoding == "utf-8" else encoding
    where = f"at byte {offset} (line {line})" if offset is not None else f"in line {line}"
    return InputError(
        f"{path}: not {name} text {where}: give the file's encoding with --encoding "
        "(e.g. --encoding latin-1), or convert it to UTF-8"
    )


def _decoded(stream: BinaryIO, path: str, encoding: str) -> Generator[str, None, None]:
    """The lines of a byte stream as text, split where `open(newline="")` splits them (LF,
    CRLF, CR), ends kept. A byte-order mark is dropped (a UTF-16/32 one decides the
    encoding); bytes that are not text in the encoding are an InputError naming the byte."""
    with stream:
        start = stream.read(4)
        skip = 0
        for bom, named in _BOMS:
            if start.startswith(bom):
                skip, encoding = len(bom), named
                break
        if not _ascii_compatible(encoding):
            # UTF-16/32: decoded by the text layer, which knows where its units start
            # (the mark stays in: the codec reads it to learn the byte order)
            raw = io.BufferedReader(_Prefixed(start, stream))
            text = io.TextIOWrapper(raw, encoding=encoding, newline="")
            number = 0
            try:
                for number, line in enumerate(text, 1):  # noqa: B007
                    yield line
            except UnicodeDecodeError:
                raise _not_text(path, encoding, None, number + 1) from None
            return
        binary = io.BufferedReader(_Prefixed(start[skip:], stream), _CHUNK)
        offset, number = skip, 0
        while raw_line := binary.readline(_MAX_LINE + 1):
            number += 1
            if len(raw_line) > _MAX_LINE:
                raise InputError(
                    f"{path}: line {number} is over {_MAX_LINE >> 20} MB, no record is that long"
                    " (a file without line breaks?)"
                )
            try:
                line = raw_line.decode(encoding)
            except UnicodeDecodeError as e:
                raise _not_text(path, encoding, offset + e.start, number, raw_line) from None
            offset += len(raw_line)
            if "\r" in line and len(parts := [p for p in _LONE_CR.split(line) if p]) > 1:
                number += len(parts) - 1
                yield from parts
            else:
                yield line


def _check_whole(path: Path, encoding: str) -> None:
    """Decode the whole file once (no lines, no objects: ~1 GB/s): a byte that is not text
    stops the run here, before anything is sent."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            fh.seek(3)
            offset = 3
        elif any(head.startswith(bom) for bom, _ in _BOMS):
            return  # UTF-16/32: checked as it is read
        else:
            fh.seek(0)
        pending = b""
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                data = pending + chunk
                where = offset - len(pending) + e.start - (len(e.object) - len(data))
                raise _not_text(str(path), encoding, where, _line_at(path, where), data) from None
            pending = decoder.getstate()[0]
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            where = offset - len(pending)
            raise _not_text(str(path), encoding, where, _line_at(path, where)) from None


def _line_at(path: Path, offset: int) -> int:
    # counted only for the message: the check itself counts nothing
    with path.open("rb") as fh:
        return fh.read(offset).count(b"\n") + 1


def _open_text(path: str, encoding: str = DEFAULT_ENCODING) -> Generator[str, None, None]:
    if path == "-":
        return _decoded(sys.stdin.buffer, "-", encoding)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        if p.is_file() and p.stat().st_size <= _CHECK_WHOLE and _ascii_compatible(encoding):
            _check_whole(p, encoding)
        return _decoded(p.open("rb"), path, encoding)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e


def _looks_binary(head: str) -> bool:
    return "\x00" in head


def _binary_error(path: str, head: str) -> InputError:
    if head.count("\x00") * 3 >= len(head):
        # every other byte NUL: UTF-16 without its mark
        return InputError(
            f"{path}: not a text file in UTF-8 (NUL bytes; UTF-16 without a byte-order mark?):"
            " give --encoding utf-16-le (or utf-16-be), or convert it to UTF-8"
        )
    line = head.count("\n", 0, head.index("\x00")) + 1
    return InputError(f"{path}: not a text file (a NUL byte in line {line})")


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


def open_input(
    path: str, fmt: str | None, encoding: str = DEFAULT_ENCODING
) -> tuple[str, Iterator[str]]:
    """Check one input and return its format and its lines, without reading it all."""
    lines = _open_text(path, encoding)
    head: list[str] = []
    size = 0
    try:
        for line in lines:
            head.append(line)
            size += len(line)
            if size >= _HEAD_BYTES:
                break
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e
    text = "".join(head)
    if not text.strip():
        lines.close()
        raise InputError(f"{path}: empty input")
    if _looks_binary(text):
        lines.close()
        raise _binary_error(path, text)
    return fmt or detect_format(text, path), chain(head, _rest(path, lines))


def _rest(path: str, lines: Iterator[str]) -> Iterator[str]:
    try:
        yield from lines
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e


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
    csv.field_size_limit(2**31 - 1)  # an abstract may be a pasted full text
    reader = csv.reader(lines)
    try:
        header = next(reader, None) or []
        columns = [h.strip().lstrip("\ufeff").lower() for h in header]
        if "abstract" not in columns:
            found = ", ".join(header)
            found = found if len(found) <= 200 else found[:200] + "..."
            raise InputError(f"{path}: CSV header has no 'abstract' column (found: {found})")
        start = reader.line_num + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                paper = _from_fields(dict(zip(columns, row, strict=False)), path, start, warn)
                if paper is not None:
                    yield paper
            start = reader.line_num + 1
    except csv.Error as e:  # what the csv module cannot parse at all
        raise InputError(f"{path}:{reader.line_num}: not CSV ({e})") from None


_READERS = {"papers": read_papers_page, "jsonl": read_jsonl, "csv": read_csv}


def read_inputs(
    paths: list[str],
    fmt: str | None,
    warn: Warn,
    stats: ReadStats | None = None,
    *,
    encoding: str = DEFAULT_ENCODING,
) -> Iterator[Paper]:
    """All papers of all inputs, in order, each distinct paper once.

    Every input is opened and checked before the first paper is yielded, so a typo in the
    last of ten paths stops the run before any request is paid for.

    A duplicate is the same id with the same text (the same paper listed twice): it is
    skipped and counted. The same id with another text is two papers that cannot both be
    that id: the later one is yielded with a `problem`, which makes it an error record
    (nothing is sent for it), never dropped unseen.
    """
    opened = [(path, *open_input(path, fmt, encoding)) for path in paths]
    stats = stats if stats is not None else ReadStats()

    def skipped(message: str) -> None:  # every reader warning is a record left out
        stats.skipped += 1
        warn(message)

    for path, input_fmt, lines in opened:
        for paper in _READERS[input_fmt](lines, path, skipped):
            kept = distinct(paper, stats)
            if kept is not None:
                yield kept


def distinct(paper: Paper, stats: ReadStats) -> Paper | None:
    """`paper` the first time its id is seen; None for the same paper again (counted as a
    duplicate); with a `problem` when its id is already another paper's (counted as a
    conflict). The one rule for every way papers come in: files, Python objects."""
    seen = stats.ids
    text = hash((paper.title, paper.abstract))  # the exact text, in 60 ns
    first = seen.get(paper.id)
    if first is None:
        seen[paper.id] = text
    # An id derived from the text (none given) is the hash of its canonical form: the same
    # paper again, re-wrapped. Derived again only here (~17 us a paper).
    elif first == text or paper.id == paper_id(paper.title, paper.abstract):
        stats.duplicates += 1
        return None
    else:
        stats.conflicts += 1
        paper = dataclasses.replace(paper, problem=_conflict(paper.id))
    stats.read += 1
    return paper


def _conflict(paper_id: str) -> str:
    return (
        f"id {paper_id!r} is already another paper's (another title or abstract earlier in "
        "the input): give each paper its own id"
    )
