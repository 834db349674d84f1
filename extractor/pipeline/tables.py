"""Records as tables: a pandas DataFrame or a pyarrow Table, for notebooks and datasets.

`kind="records"`: one row per record (errors included), its columns derived from the record's
models (`extractor/core/record.py`), so a field added there is a column here: the record's
own fields in its order (`id`, `title`, `abstract`, `source_*` flattened: `source_path`,
`source_line`, `source_url`; the extraction's lists under their own names: `models`,
`modalities`, `tasks`, `benchmarks`, `results`, `code_links`, as lists of dicts; `spans`,
`warnings`), then how the answer was obtained (`meta_*`: `meta_model`, `meta_prompt_version`,
`meta_schema_version`, `meta_cached`, `meta_attempts`, `meta_input_tokens`,
`meta_output_tokens`, `meta_mode`, `meta_cost_usd`), then for failed papers the errors-file
record's `error_*` (`error_type`, `error_message`, `error_attempts`; null for the others).
In Arrow each column has the type of its field, whatever the data (`records_schema`: an
all-null `meta_cost_usd` is still float64, an error's null `models` still a list of structs),
so the tables of different runs concatenate.

`kind="results"`: one row per benchmark result, the long form of `extractor table`
(`paper_id`, `title`, `model`, `model_source`, `benchmark`, `metric`, `value`, `unit`,
`delta`, `evidence`, `code_url`), names merged the same way. Its Arrow schema is fixed
(`results_schema`): the same names and types whatever the data, an empty or all-null column
included, so Parquet files of different runs concatenate and load alike.

pandas and pyarrow are optional: each is imported only by the function that needs it.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from extractor.core.leaderboard import LONG_COLUMNS, ResultRow, build_rows
from extractor.core.record import ErrorRecord, Record

Kind = Literal["records", "results"]

# How a field of the record becomes columns: a nested object is flattened into
# `<field>_<name>` columns, except the extraction, whose lists keep their own names, and the
# spans, which stay one column (each list parallels the extraction's list of the same name).
_UNPREFIXED = frozenset({"extraction"})
_WHOLE = frozenset({"spans"})
# The record's bookkeeping comes after its content, as it did before the columns were derived.
_LAST = frozenset({"meta"})


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _columns_of(
    model: type[BaseModel], skip: Iterable[str] = ()
) -> list[tuple[str, tuple[str, ...], Any]]:
    """(column, path in the record, field annotation) for each column `model`'s fields give."""
    out: list[tuple[str, tuple[str, ...], Any]] = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        nested = _model_of(field.annotation)
        if nested is None or name in _WHOLE:
            out.append((name, (name,), field.annotation))
            continue
        for sub, sub_field in nested.model_fields.items():
            column = sub if name in _UNPREFIXED else f"{name}_{sub}"
            out.append((column, (name, sub), sub_field.annotation))
    return out


def _record_columns() -> tuple[tuple[str, tuple[str, ...], Any], ...]:
    content = _columns_of(Record, skip=_LAST)
    last = [c for c in _columns_of(Record) if c[1][0] in _LAST]
    error = _columns_of(ErrorRecord, skip=Record.model_fields)  # error_*
    return (*content, *last, *error)


_RECORD_COLUMNS = _record_columns()
COLUMNS = tuple(name for name, _, _ in _RECORD_COLUMNS)


_SCALARS = {str: "string", int: "int64", float: "float64", bool: "bool_"}


def _arrow_type(annotation: Any, pa: Any) -> Any:
    """The pyarrow type of a field's annotation (null always allowed): scalars and literals
    as themselves, lists as lists, a model as a struct of its fields."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _arrow_type(rest[0], pa)
    elif origin is Literal:
        if len({type(a) for a in args}) == 1 and type(args[0]) in _SCALARS:
            return getattr(pa, _SCALARS[type(args[0])])()
    elif origin is list:
        return pa.list_(_arrow_type(args[0], pa))
    elif (model := _model_of(annotation)) is not None:
        return pa.struct(
            [pa.field(n, _arrow_type(f.annotation, pa)) for n, f in model.model_fields.items()]
        )
    elif annotation in _SCALARS:
        return getattr(pa, _SCALARS[annotation])()
    raise TypeError(f"no Arrow type for {annotation!r}")


def records_schema() -> Any:
    """The pyarrow schema of the records table (needs pyarrow): each column the type of its
    field in the record's models, whatever the data, so the tables of two runs concatenate."""
    import pyarrow as pa

    return pa.schema([pa.field(c, _arrow_type(a, pa)) for c, _, a in _RECORD_COLUMNS])


def _flat(record: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column, path, _ in _RECORD_COLUMNS:
        if len(path) == 1:
            row[column] = record.get(path[0])
        else:
            # an error record has no extraction: its lists are null, not empty
            parent = record.get(path[0])
            row[column] = parent.get(path[1]) if isinstance(parent, Mapping) else None
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


def results_schema() -> Any:
    """The pyarrow schema of the results table (needs pyarrow): the types of `ResultRow`."""
    import pyarrow as pa

    hints = typing.get_type_hints(ResultRow)
    return pa.schema([pa.field(c, _arrow_type(hints[c], pa)) for c in LONG_COLUMNS])


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
    return pa.Table.from_pydict({c: [row[c] for row in data] for c in COLUMNS}, records_schema())
