"""`extractor table`: the benchmark results of a records file as one table.

Long form (default): one row per result. `--pivot`: one row per model, one column per
benchmark/metric/unit, each cell the model's best level (deltas are left out: they are gains
over unstated baselines, not scores). The naming and pivot rules are in core/leaderboard.py.

A result whose text names no model is shown unattributed (empty model; an "(unattributed)"
row in the pivot). `--attribute-proposed` credits it to the paper's only proposed model, and
says so in every row and cell it touches (`model_source: proposed`, a dagger in markdown).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import click

from extractor.core.jsonl import InputError
from extractor.core.leaderboard import (
    LONG_COLUMNS,
    PROPOSED,
    UNATTRIBUTED,
    Pivot,
    ResultRow,
    Rows,
    build_rows,
    filter_rows,
    pivot,
)
from extractor.files import refuse_same, replacing, write_text
from extractor.records_io import InputCommand, load_records_for_cli

Table = tuple[list[str], list[list[Any]]]


def _number(value: float) -> str:
    # "85" rather than "85.0", but never lose digits the way "%g" does.
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def long_table(rows: Sequence[ResultRow]) -> Table:
    return list(LONG_COLUMNS), [[row.as_dict()[c] for c in LONG_COLUMNS] for row in rows]


def pivot_table(pv: Pivot, *, with_source: bool = False) -> Table:
    """Two columns per pivot column, the number and the paper it comes from, so the numbers
    stay numeric in CSV and Parquet; with `with_source`, a third: whose the number is
    (`stated` by the text, or credited to the paper's `proposed` model)."""
    header = ["model"]
    for column in pv.columns:
        header += [column.label, f"{column.label} paper"]
        if with_source:
            header.append(f"{column.label} model_source")
    body = []
    for model in pv.models:
        line: list[Any] = [model]
        for column in pv.columns:
            cell = pv.cell(model, column)
            line += [cell.value, cell.paper_id] if cell else [None, None]
            if with_source:
                line.append(cell.model_source if cell else None)
        body.append(line)
    return header, body


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table[0])
    writer.writerows([[_text(v) for v in line] for line in table[1]])
    return buf.getvalue()


def _md_cell(value: Any) -> str:
    return " ".join(_text(value).split()).replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_md_cell(v) for v in line) + " |" for line in body]
    return "\n".join(lines) + "\n"


_PROPOSED_MARK = "\u2020"  # a dagger


def pivot_markdown(pv: Pivot) -> str:
    # One column per benchmark/metric here: a reader wants "85.3 (paper)" side by side.
    header = ["model"] + [c.label for c in pv.columns]
    body = []
    marked = False
    for model in pv.models:
        line = [model]
        for column in pv.columns:
            cell = pv.cell(model, column)
            text = f"{_number(cell.value)} ({cell.paper_id})" if cell else ""
            if cell and cell.model_source == PROPOSED:
                text += f" {_PROPOSED_MARK}"
                marked = True
            line.append(text)
        body.append(line)
    text = to_markdown(header, body)
    if marked:
        text += (
            f"\n{_PROPOSED_MARK} the text names no model for this number; it is credited to "
            "the paper's only proposed model (--attribute-proposed)\n"
        )
    return text


def pivot_json(pv: Pivot) -> list[dict[str, Any]]:
    return [
        {
            "model": None if model == UNATTRIBUTED else model,
            "cells": {
                column.label: {
                    "benchmark": column.benchmark,
                    "metric": column.metric,
                    "value": cell.value,
                    "unit": cell.unit,
                    "lower_is_better": column.lower_is_better,
                    "paper_id": cell.paper_id,
                    "model_source": cell.model_source,
                    "title": cell.title,
                    "evidence": cell.evidence,
                }
                for column in pv.columns
                if (cell := pv.cell(model, column))
            },
        }
        for model in pv.models
    ]


def _write_parquet(table: Table, path: str) -> None:
    import pyarrow as pa  # optional dependency, checked before any work
    import pyarrow.parquet as pq

    header, body = table
    columns = {name: pa.array([line[i] for line in body]) for i, name in enumerate(header)}
    with replacing(path, binary=True) as fh:
        pq.write_table(pa.table(columns), fh)


def _require_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InputError(
            "--parquet needs pyarrow, which is not installed: pip install 'extractor[parquet]'"
        ) from None


def _notes(data: Rows, pv: Pivot | None, show_merges: bool, attribute_proposed: bool) -> None:
    def note(message: str) -> None:
        click.echo(message, err=True)

    if data.records_without_extraction:
        note(f"note: {data.records_without_extraction} record(s) without an extraction skipped")
    if data.results_skipped:
        note(f"note: {data.results_skipped} result(s) without a usable value skipped")
    unattributed = sum(1 for row in data.rows if row.model is None)
    proposed = sum(1 for row in data.rows if row.model_source == PROPOSED)
    if unattributed:
        hint = (
            ""
            if attribute_proposed
            else "; --attribute-proposed credits those of a paper with one proposed model to it"
        )
        note(f"note: {unattributed} result(s) name no model and are shown unattributed{hint}")
    if proposed:
        note(
            f"note: {proposed} result(s) that name no model are credited to their paper's "
            "only proposed model (model_source: proposed)"
        )
    if pv is not None and pv.without_benchmark:
        note(f"note: pivot leaves out {pv.without_benchmark} level result(s) tied to no benchmark")
    if show_merges:
        merges = data.canon.merges()
        note("merged names:" + ("" if merges else " none"))
        for merge in merges:
            note(f"  {merge.describe()}")


@click.command("table", cls=InputCommand)
@click.argument("records", metavar="OUT.jsonl", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "md", "json"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write here, not stdout."
)
@click.option(
    "--pivot",
    "as_pivot",
    is_flag=True,
    help="Rows = models, columns = benchmark / metric [unit], cells = the best level "
    "(delta results are left out) with the paper it comes from.",
)
@click.option(
    "--benchmark",
    "benchmarks",
    multiple=True,
    metavar="NAME",
    help="Only these benchmarks (matched after canonicalization; repeatable).",
)
@click.option(
    "--metric", "metrics", multiple=True, metavar="NAME", help="Only these metrics (repeatable)."
)
@click.option("--no-delta", is_flag=True, help="Leave out delta results (gains, gaps, savings).")
@click.option(
    "--attribute-proposed",
    is_flag=True,
    help="Credit a result that names no model to its paper's only proposed model (a guess: "
    "such rows and cells are marked model_source=proposed). Default: shown unattributed.",
)
@click.option(
    "--show-merges",
    is_flag=True,
    help="List the name spellings merged under one canonical name, on stderr.",
)
@click.option(
    "--parquet",
    metavar="FILE",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the table as Parquet (needs pyarrow). With --parquet, the text table "
    "is written only when -o names a file.",
)
def table_command(
    records: str,
    fmt: str,
    output: str | None,
    as_pivot: bool,
    benchmarks: tuple[str, ...],
    metrics: tuple[str, ...],
    no_delta: bool,
    attribute_proposed: bool,
    show_merges: bool,
    parquet: str | None,
) -> None:
    """The benchmark results in OUT.jsonl as a table (CSV by default).

    Benchmark, metric and model names that differ only in case, spacing, hyphens or
    underscores, or by a known alias (MS-COCO/COCO, acc/accuracy, ...) are merged under their
    most frequent spelling.
    """
    if parquet:
        _require_pyarrow()
    refuse_same([("table", output), ("Parquet table", parquet)], [records])
    data = build_rows(load_records_for_cli(records), attribute_proposed=attribute_proposed)
    rows = filter_rows(data.rows, benchmarks=benchmarks, metrics=metrics, no_delta=no_delta)
    pv = pivot(rows, unattributed_row=True) if as_pivot else None
    _notes(data, pv, show_merges, attribute_proposed)

    table = pivot_table(pv, with_source=attribute_proposed) if pv is not None else long_table(rows)
    if fmt == "json":
        obj: Any = pivot_json(pv) if pv is not None else [row.as_dict() for row in rows]
        text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "md":
        text = pivot_markdown(pv) if pv is not None else to_markdown(*table)
    else:
        text = to_csv(table)

    if parquet:
        _write_parquet(table, parquet)
    if output:
        write_text(output, text)
    elif not parquet:
        click.echo(text, nl=False)
