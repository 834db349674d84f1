"""Records as tables: a pandas DataFrame or a pyarrow Table, for notebooks and datasets.

`kind="records"`: one row per record (errors included), with flat columns: `id`, `title`,
`abstract`, `source_path`, `source_line`, `source_url`, the extraction's lists (`models`,
`modalities`, `tasks`, `benchmarks`, `results`, `code_links`, as lists of dicts), `spans`,
`warnings`, `meta_model`, `meta_prompt_version`, `meta_schema_version`, `meta_cached`,
`meta_attempts`, `meta_input_tokens`, `meta_output_tokens`, and for failed papers
`error_type`, `error_message`, `error_attempts` (null for the others).

`kind="results"`: one row per benchmark result, the long form of `extractor table`
(`paper_id`, `title`, `model`, `model_source`, `benchmark`, `metric`, `value`, `unit`,
`delta`, `evidence`, `code_url`), names merged the same way. Its Arrow schema is fixed
(`results_schema`): the same names and types whatever the data, an empty or all-null column
included, so Parquet files of different runs concatenate and load alike.

pandas and pyarrow are optional: each is imported only by the function that needs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from extractor.core.leaderboard import LONG_COLUMNS, ResultRow, build_rows
from extractor.core.schema import Extraction

Kind = Literal["records", "results"]

_LISTS = tuple(Extraction.model_fields)
_META = (
    "model",
    "prompt_version",
    "schema_version",
    "cached",
    "attempts",
    "input_tokens",
    "output_tokens",
)
COLUMNS = (
    "id",
    "title",
    "abstract",
    "source_path",
    "source_line",
    "source_url",
    *_LISTS,
    "spans",
    "warnings",
    *(f"meta_{m}" for m in _META),
    "error_type",
    "error_message",
    "error_attempts",
)


def _flat(record: Mapping[str, Any]) -> dict[str, Any]:
    source = record.get("source") or {}
    extraction = record.get("extraction") or {}
    meta = record.get("meta") or {}
    error = record.get("error") or {}
    row: dict[str, Any] = {
        "id": record.get("id"),
        "title": record.get("title"),
        "abstract": record.get("abstract"),
        "source_path": source.get("path"),
        "source_line": source.get("line"),
        "source_url": source.get("url"),
    }
    for name in _LISTS:
        row[name] = extraction.get(name) if "extraction" in record else None
    row["spans"] = record.get("spans")
    row["warnings"] = record.get("warnings")
    for name in _META:
        row[f"meta_{name}"] = meta.get(name)
    row["error_type"] = error.get("type")
    row["error_message"] = error.get("message")
    row["error_attempts"] = error.get("attempts")
    return row


def rows(records: Iterable[Mapping[str, Any]], kind: Kind = "records") -> list[dict[str, Any]]:
    """The table's rows as plain dicts (what the two functions below are built from)."""
    if kind == "records":
        return [_flat(r) for r in records]
    if kind == "results":
        return [row.as_dict() for row in build_rows(list(records)).rows]
    raise ValueError(f"kind is 'records' or 'results', not {kind!r}")


def records_to_dataframe(records: Iterable[Mapping[str, Any]], kind: Kind = "records") -> Any:
    """A pandas DataFrame of records (from `Extractor.run`, or `extractor run`'s JSONL read
    back). Needs pandas (`pip install pandas`)."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "records_to_dataframe needs pandas, which is not installed: pip install pandas"
        ) from None
    columns = list(COLUMNS if kind == "records" else LONG_COLUMNS)
    return pd.DataFrame(rows(records, kind), columns=columns)


_RESULT_TYPES = {"value": "float64", "delta": "bool_"}  # every other column is a string


def results_schema() -> Any:
    """The pyarrow schema of the results table (needs pyarrow)."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(c, getattr(pa, _RESULT_TYPES.get(c, "string"))()) for c in LONG_COLUMNS]
    )


def results_arrow(rows: Iterable[ResultRow]) -> Any:
    """Result rows as a pyarrow Table of `results_schema()` (needs pyarrow)."""
    import pyarrow as pa

    data = [row.as_dict() for row in rows]
    return pa.Table.from_pydict(
        {c: [r[c] for r in data] for c in LONG_COLUMNS}, schema=results_schema()
    )


def to_arrow(records: Iterable[Mapping[str, Any]], kind: Kind = "records") -> Any:
    """A pyarrow Table of records (nested lists stay nested: write it with
    `pyarrow.parquet.write_table`, or hand it to `datasets.Dataset(table)`). Needs pyarrow
    (`pip install 'extractor[parquet]'`)."""
    try:
        import pyarrow as pa
    except ImportError:
        raise ImportError(
            "to_arrow needs pyarrow, which is not installed: pip install 'extractor[parquet]'"
        ) from None
    if kind == "results":
        return results_arrow(build_rows(list(records)).rows)
    data = rows(records, kind)
    return pa.Table.from_pydict({c: [row[c] for row in data] for c in COLUMNS})
