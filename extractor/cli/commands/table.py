"""`extractor table`: the benchmark results of a records file as one table.

Long form (default): one row per result. `--pivot`: one row per model, one column per
benchmark/metric/unit, each cell the model's best level (deltas are left out: they are gains
over unstated baselines, not scores). The naming and pivot rules are in core/leaderboard.py.

`--format pwc` and `--format model-index` export the levels as Papers with Code's evaluation
tables and as Hugging Face model-card metadata (rules in core/exports.py). `--parquet` writes one
fixed schema (tables.results_schema).

A result whose text names no model is shown unattributed (empty model; an "(unattributed)"
row in the pivot). `--attribute-proposed` credits it to the paper's only proposed model, and
says so in every row and cell it touches (`model_source: proposed`, a dagger in markdown).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import Any

import click

from extractor.cli.exit import RecordsCommand
from extractor.core.exports import Export, exportable, model_index, model_index_yaml, pwc_tasks
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
    number_text,
    pivot,
)
from extractor.pipeline.files import refuse_same, replacing, write_text
from extractor.pipeline.records_io import load_records_for_cli
from extractor.pipeline.tables import results_arrow

Table = tuple[list[str], list[list[Any]]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return number_text(value)
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


# OWASP's CSV-injection rule: a spreadsheet runs a cell starting with one of these as a
# formula. The full-width forms count too (some locales' spreadsheets read them as the ASCII
# ones), and leading spaces do not hide the sign from every spreadsheet.
_FORMULA_START = tuple("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def csv_cell(value: Any, *, raw: bool = False) -> str:
    """A CSV cell. Text that a spreadsheet would run as a formula gets a leading "'" (shown
    as text, not evaluated) unless `raw`. Numbers are never touched: the table's numbers are
    floats we formatted, so "-1.5" in a value column stays a number, while a *text* cell
    "-1.5" (a name) is neutralised like any other text starting with "-"."""
    text = _text(value)
    if raw or not isinstance(value, str):
        return text
    return "'" + text if text.lstrip(" ").startswith(_FORMULA_START) else text


def _line_breaks(cell: str) -> str:
    # With "\n" rows, the csv module quotes a cell holding "\n" but not one holding a bare
    # "\r", which then splits the row for every reader: a CR inside a cell becomes "\n".
    return cell.replace("\r\n", "\n").replace("\r", "\n") if "\r" in cell else cell


def to_csv(table: Table, *, raw: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([_line_breaks(csv_cell(h, raw=raw)) for h in table[0]])
    writer.writerows([[_line_breaks(csv_cell(v, raw=raw)) for v in line] for line in table[1]])
    return buf.getvalue()


# Markdown renderers pass inline HTML through, and "[x](url)" / "![x](url)" make links and
# remote images (a tracking pixel): record text is model output, so none of it may act as
# markup. Entities and backslash escapes render as the characters themselves.
# A "]" that closes link text is escaped only where a link could follow ("](" or "]["), so
# a label such as "COCO / accuracy [%]" stays as written.
_MD_ESCAPES = str.maketrans(
    {"\\": "\\\\", "|": "\\|", "`": "\\`", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
)
_LINK_CLOSE = re.compile(r"\](?=[(\[])")


def md_cell(value: Any) -> str:
    return _LINK_CLOSE.sub(r"\\]", " ".join(_text(value).split()).translate(_MD_ESCAPES))


def to_markdown(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(md_cell(v) for v in line) + " |" for line in body]
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
            text = f"{number_text(cell.value)} ({cell.paper_id})" if cell else ""
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


def pivot_rows(pv: Pivot) -> list[ResultRow]:
    """The rows behind the pivot's cells, model by model: the pivot in long form."""
    return [
        cell.row
        for model in pv.models
        for column in pv.columns
        if (cell := pv.cell(model, column)) is not None and cell.row is not None
    ]


def _write_parquet(rows: Sequence[ResultRow], path: str) -> None:
    # One schema (tables.results_schema) for the long form and the pivot alike: a pivot's
    # wide columns would be named by the data, so in Parquet it is the rows behind its cells.
    import pyarrow.parquet as pq  # optional dependency, checked before any work

    with replacing(path, binary=True) as fh:
        pq.write_table(results_arrow(rows), fh)


def _require_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InputError(
            "--parquet needs pyarrow, which is not installed: pip install 'extractor[parquet]'"
        ) from None


_EXPORTS = ("pwc", "model-index")


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _export_note(export: Export, fmt: str, attribute_proposed: bool) -> None:
    if not export.left_out:
        return
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(export.left_out.items()))
    hint = (
        ""
        if attribute_proposed or not export.left_out["no model"]
        else "; --attribute-proposed credits a paper's only proposed model"
    )
    click.echo(
        f"note: --format {fmt} exports levels with a benchmark, metric and model; "
        f"left out: {reasons}{hint}",
        err=True,
    )


def _notes(
    data: Rows,
    rows: Sequence[ResultRow],
    pv: Pivot | None,
    show_merges: bool,
    attribute_proposed: bool,
) -> None:
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
    for fld, other in (("benchmark", "model"), ("model", "benchmark")):
        fixes = [f for f in data.kind_fixes if f.field == fld]
        if fixes:
            names = ", ".join(sorted({f.name for f in fixes}, key=str.casefold))
            note(
                f"note: {len(fixes)} result(s) give as {fld} a name listed as a {other} "
                f"({names}): that {fld} is cleared, so the number stays out of the pivot"
                + ("" if fld == "benchmark" else " unless unattributed")
            )
    if pv is not None and (gains := sum(1 for row in rows if row.delta)):
        note(
            f"note: pivot leaves out {gains} gain(s) (delta results): they are not levels; "
            "the long form lists them with delta=true"
        )
    if pv is not None and pv.without_benchmark:
        note(f"note: pivot leaves out {pv.without_benchmark} level result(s) tied to no benchmark")
    if show_merges:
        merges = data.canon.merges()
        note("merged names:" + ("" if merges else " none"))
        for merge in merges:
            note(f"  {merge.describe()}")


@click.command("table", cls=RecordsCommand)
@click.argument("records", metavar="OUT.jsonl", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "md", "json", "pwc", "model-index"]),
    default="csv",
    show_default=True,
    help="Output format. pwc: Papers with Code evaluation-tables JSON; model-index: a Hugging "
    "Face model card `model-index` YAML document per proposed model.",
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
    help="Also write the table as Parquet (needs pyarrow), one fixed schema: the long form's "
    "columns (with --pivot, the rows behind its cells). With --parquet, the text table "
    "is written only when -o names a file.",
)
@click.option(
    "--raw",
    is_flag=True,
    help="CSV: write text cells as they are. By default a text cell starting with = + - @, "
    "a tab or a carriage return gets a leading ' so that spreadsheets do not run it as a formula.",
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
    raw: bool,
) -> None:
    """The benchmark results in OUT.jsonl as a table (CSV by default).

    Benchmark, metric and model names that differ only in case, spacing, hyphens or
    underscores, or by a known alias (MS-COCO/COCO; metrics by their vocabulary: Acc./accuracy)
    are merged under their most frequent spelling. A benchmark that a record lists as a model,
    or a model listed as a benchmark, is cleared from its result (a note says so).
    """
    if as_pivot and fmt in _EXPORTS:
        raise InputError(f"--format {fmt} is a leaderboard format of its own: drop --pivot")
    if parquet:
        _require_pyarrow()
    refuse_same([("table", output), ("Parquet table", parquet)], [records])
    data = build_rows(load_records_for_cli(records), attribute_proposed=attribute_proposed)
    rows = filter_rows(data.rows, benchmarks=benchmarks, metrics=metrics, no_delta=no_delta)
    pv = pivot(rows, unattributed_row=True) if as_pivot else None
    _notes(data, rows, pv, show_merges, attribute_proposed)
    text = _render(fmt, data, rows, pv, raw=raw, attribute_proposed=attribute_proposed)
    if parquet:
        _write_parquet(pivot_rows(pv) if pv is not None else rows, parquet)
    _emit(text, output, to_stdout=not parquet)


def _render(
    fmt: str,
    data: Rows,
    rows: list[ResultRow],
    pv: Pivot | None,
    *,
    raw: bool,
    attribute_proposed: bool,
) -> str:
    if fmt in _EXPORTS:
        export = exportable(rows)
        _export_note(export, fmt, attribute_proposed)
        if fmt == "pwc":
            return _json(pwc_tasks(export.rows, data.papers))
        index = model_index(export.rows, data.papers)
        if not index:
            click.echo("note: no proposed model has an exportable result", err=True)
        return model_index_yaml(index)
    if fmt == "json":
        return _json(pivot_json(pv) if pv is not None else [row.as_dict() for row in rows])
    table = pivot_table(pv, with_source=attribute_proposed) if pv is not None else long_table(rows)
    if fmt == "md":
        return pivot_markdown(pv) if pv is not None else to_markdown(*table)
    return to_csv(table, raw=raw)


def _emit(text: str, output: str | None, *, to_stdout: bool) -> None:
    """Where the text table goes: the -o file, else stdout (unless only Parquet was asked)."""
    if output:
        write_text(output, text)
    elif to_stdout:
        click.echo(text, nl=False)
