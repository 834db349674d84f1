"""Properties of the readers over generated inputs: whatever the bytes, a reader never
raises anything but an `InputError` of one line, and every record of a well-formed file is
read, counted as a duplicate, or named in a warning."""

from __future__ import annotations

import codecs
import csv
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractor.pipeline.read import InputError, ReadStats, read_inputs

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BOMS = [b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE]


def _read_all(path: Path, fmt: str | None = None, **kwargs: Any) -> tuple[list[Any], list[str]]:
    warnings: list[str] = []
    papers = list(read_inputs([str(path)], fmt, warnings.append, **kwargs))
    return papers, warnings


@SETTINGS
@given(
    data=st.binary(max_size=3000),
    bom=st.sampled_from(BOMS),
    suffix=st.sampled_from([".jsonl", ".csv", ".txt"]),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16-le"]),
)
def test_random_bytes_are_read_or_refused_in_one_line(
    tmp_path_factory: Any, data: bytes, bom: bytes, suffix: str, encoding: str
) -> None:
    path = tmp_path_factory.mktemp("in") / f"in{suffix}"
    path.write_bytes(bom + data)
    try:
        papers, warnings = _read_all(path, encoding=encoding)
    except InputError as e:
        message = str(e)
        assert message.startswith(str(path)) and "\n" not in message
        return
    for paper in papers:
        assert paper.abstract.strip() and paper.abstract == paper.abstract.strip()
    assert all("\n" not in w for w in warnings)


# Text as users have it: any character but surrogates (not encodable) and NUL (a binary file).
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
RECORDS = st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=12)


def _encode(text: str, bom: bytes) -> bytes:
    if bom == codecs.BOM_UTF16_LE:
        return bom + text.encode("utf-16-le")
    if bom == codecs.BOM_UTF16_BE:
        return bom + text.encode("utf-16-be")
    if bom == codecs.BOM_UTF32_LE:
        return bom + text.encode("utf-32-le")
    return bom + text.encode("utf-8")


def _expected(records: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(" ".join(t.split()), a.strip()) for t, a in records if a.strip()]


def _check(records: list[tuple[str, str]], path: Path) -> None:
    if not records:
        return
    stats = ReadStats()
    warnings: list[str] = []
    papers = list(read_inputs([str(path)], None, warnings.append, stats))
    kept = _expected(records)
    # every record: read, a duplicate of one read, or named in a warning
    assert len(papers) + stats.duplicates + len(warnings) == len(records), warnings
    assert len(warnings) == len(records) - len(kept)
    read = [(p.title, p.abstract) for p in papers]
    assert set(read) <= set(kept) and len(set(read)) == len(read)
    assert all(p.problem is None for p in papers)  # no ids given: no clash
    assert all("\n" not in w for w in warnings)


@SETTINGS
@given(
    records=RECORDS,
    bom=st.sampled_from(BOMS),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_every_jsonl_record_is_read_or_named(
    tmp_path_factory: Any, records: list[tuple[str, str]], bom: bytes, newline: str
) -> None:
    lines = [json.dumps({"title": t, "abstract": a}, ensure_ascii=False) for t, a in records]
    path = tmp_path_factory.mktemp("in") / "in.jsonl"
    path.write_bytes(_encode(newline.join(lines) + newline, bom))
    _check(records, path)


@SETTINGS
@given(
    records=RECORDS,
    bom=st.sampled_from(BOMS),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_every_csv_record_is_read_or_named(
    tmp_path_factory: Any, records: list[tuple[str, str]], bom: bytes, newline: str
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_ALL)
    writer.writerow(["title", "abstract"])
    writer.writerows(records)
    path = tmp_path_factory.mktemp("in") / "in.csv"
    path.write_bytes(_encode(out.getvalue(), bom))
    # a row of blank cells is no record (a spreadsheet's empty row): not counted
    _check([r for r in records if any(c.strip() for c in r)] or [], path)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 300_000), width=st.sampled_from([1, 79, 70_000]))
def test_sizes_from_empty_to_long_lines(tmp_path_factory: Any, size: int, width: int) -> None:
    path = tmp_path_factory.mktemp("in") / "in.jsonl"
    abstract = ("x" * (width - 1) + " ") * (size // width)
    path.write_text(json.dumps({"title": "T", "abstract": abstract}) + "\n")
    try:
        papers, _ = _read_all(path)
    except InputError as e:
        assert "\n" not in str(e)
        return
    assert [p.abstract for p in papers] == ([abstract.strip()] if abstract.strip() else [])
