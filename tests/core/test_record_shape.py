"""The record is defined once, by its models (extractor/core/record.py). What `run` writes, the
published JSON Schema, the DataFrame and Arrow columns and the review page's fields all follow
them: a field written, or shown, that the models do not have fails here (as `source.url`,
written but missing from schemas/record.schema.json, and `meta.mode` and `meta.cost_usd`,
missing from the DataFrame, once did)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from extractor.core.record import ErrorInfo, ErrorRecord, Meta, Record, Source, Span, Spans
from extractor.core.schema import Extraction
from extractor.pipeline.tables import COLUMNS, records_schema, records_to_dataframe, rows, to_arrow
from extractor.report.payload import build_payload
from tests.cli.test_run import answer, invoke, papers, read_jsonl, write_jsonl
from tests.support.shared import sent_paper

jsonschema = pytest.importorskip("jsonschema")

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
URL = "https://arxiv.org/abs/2501.00001"
PRICED = ("--price-in", "1.25", "--price-out", "10")  # so meta.cost_usd is a number


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every object closed to its listed properties. The published schema
    leaves them open, so that a reader holding an older schema still accepts newer records;
    closed, it rejects any key the models do not define."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def _validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(_closed(schema))


@pytest.fixture
def written(api: Any, tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    """Records as `run` writes them: answered live, copied from the cache on a rerun (the
    hand-written encoder of stages.py), and the errors file's."""
    rows_in = [*papers(3), {**papers(4)[3], "id": "given", "url": URL}]

    def flaky(request: httpx.Request) -> httpx.Response:
        if "FooNet1," in sent_paper(request):
            return httpx.Response(400, json={"error": {"message": "context length exceeded"}})
        return answer(request)

    api.post("/chat/completions").mock(side_effect=flaky)
    src = write_jsonl(tmp_path / "in.jsonl", rows_in)
    live, rerun = tmp_path / "live.jsonl", tmp_path / "rerun.jsonl"
    assert invoke(str(src), "-o", str(live), *PRICED).exit_code == 3
    errors = read_jsonl(tmp_path / "live.errors.jsonl")
    assert invoke(str(src), "-o", str(rerun), *PRICED).exit_code == 3  # the 400 again
    out = {"live": read_jsonl(live), "rerun": read_jsonl(rerun), "errors": errors}
    assert [len(v) for v in out.values()] == [3, 3, 1]
    assert all(r["meta"]["cached"] for r in out["rerun"])
    return out


def _fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def test_written_records_validate_against_the_schema_file_with_nothing_left_over(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    record, error = _validator("record.schema.json"), _validator("error.schema.json")
    for r in written["live"] + written["rerun"]:
        record.validate(r)
    for e in written["errors"]:
        error.validate(e)
    with_url = [r for r in written["live"] + written["rerun"] if r["id"] == "given"]
    assert len(with_url) == 2 and all(r["source"]["url"] == URL for r in with_url)
    # and what is not in the models is rejected: the check is not vacuous
    stray = copy.deepcopy(with_url[0])
    stray["source"]["doi"] = "10.1/x"
    with pytest.raises(jsonschema.ValidationError, match="doi"):
        record.validate(stray)


def test_written_records_have_the_models_fields_in_their_order(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    # The hot path writes dicts (live) and strings (rerun) by hand: held to the models here.
    for r in written["live"] + written["rerun"]:
        assert list(r) == _fields(Record)
        assert list(r["source"]) == [f for f in _fields(Source) if f in r["source"]]
        assert {"path", "line"} <= set(r["source"])
        assert list(r["extraction"]) == _fields(Extraction)
        assert list(r["spans"]) == _fields(Spans)
        assert list(r["meta"]) == _fields(Meta)
        assert all(list(s) == _fields(Span) for s in r["spans"]["models"] if s)
    for e in written["errors"]:
        assert list(e) == _fields(ErrorRecord) and list(e["error"]) == _fields(ErrorInfo)


def test_the_schema_files_hold_every_field_of_the_models() -> None:
    schema = json.loads((SCHEMAS / "record.schema.json").read_text(encoding="utf-8"))
    assert list(schema["properties"]) == _fields(Record)
    for model in (Source, Meta, Spans, Span, Extraction):
        assert list(schema["$defs"][model.__name__]["properties"]) == _fields(model), model
    assert "url" in schema["$defs"]["Source"]["properties"]
    errors = json.loads((SCHEMAS / "error.schema.json").read_text(encoding="utf-8"))
    assert list(errors["properties"]) == _fields(ErrorRecord)
    assert list(errors["$defs"]["Source"]["properties"]) == _fields(Source)


def _expected_columns() -> list[str]:
    """Every leaf of the models as a column, by the rule tables.py documents."""
    columns = []
    for name, field in Record.model_fields.items():
        if name == "extraction":
            columns += _fields(Extraction)
        elif name in ("source", "meta"):
            columns += [f"{name}_{sub}" for sub in field.annotation.model_fields]  # type: ignore[union-attr]
        else:  # the scalars, the warnings, and the spans as one column
            columns.append(name)
    return columns + [f"error_{sub}" for sub in _fields(ErrorInfo)]


def test_every_field_of_the_models_is_a_column() -> None:
    assert sorted(COLUMNS) == sorted(_expected_columns())
    assert len(set(COLUMNS)) == len(COLUMNS)
    assert {"source_url", "meta_mode", "meta_cost_usd"} <= set(COLUMNS)


def test_the_tables_carry_what_the_records_hold(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    records = written["live"] + written["errors"]
    df = records_to_dataframe(records)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(COLUMNS)
    cells = df.astype(object).where(df.notna(), None)  # pandas shows a missing value as NaN
    for i, r in enumerate(written["live"]):
        for name in _fields(Meta):
            assert cells.loc[i, f"meta_{name}"] == r["meta"][name], name
        assert cells.loc[i, "source_url"] == r["source"].get("url")
    assert cells.loc[2, "source_url"] == URL
    assert cells.loc[3, "error_type"] == "http_error" and cells.loc[3, "meta_cost_usd"] is None
    assert written["live"][0]["meta"]["mode"] and written["live"][0]["meta"]["cost_usd"] > 0

    table = to_arrow(records)
    assert table.column_names == list(COLUMNS)
    assert table.column("meta_cost_usd").to_pylist()[:3] == [
        r["meta"]["cost_usd"] for r in written["live"]
    ]
    # A column has its field's type whatever the data: all null, it is still typed, so the
    # tables of two runs concatenate.
    nothing = to_arrow(written["errors"])
    assert table.schema == nothing.schema == records_schema() == to_arrow([]).schema
    assert nothing.schema.field("models").type == pa.list_(
        pa.struct([("name", pa.string()), ("role", pa.string()), ("size", pa.string())])
    )
    assert nothing.schema.field("meta_cost_usd").type == pa.float64()
    assert nothing.schema.field("meta_mode").type == pa.string()
    assert nothing.schema.field("source_url").type == pa.string()
    assert nothing.schema.field("meta_cached").type == pa.bool_()
    assert nothing.schema.field("source_line").type == pa.int64()
    pa.concat_tables([table, nothing])  # raises on a schema mismatch


def test_an_old_record_without_the_new_fields_is_a_row_of_nulls_there() -> None:
    old = {"id": "x", "source": {"path": "a", "line": 1}, "meta": {"model": "m"}}
    (row,) = rows([old])
    assert row["source_url"] is None and row["meta_cost_usd"] is None
    assert row["models"] is None and row["meta_model"] == "m"


def test_the_review_page_keeps_every_field_of_meta(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    record = written["live"][0]
    (paper,) = build_payload([record])["papers"]
    assert list(paper["meta"]) == _fields(Meta)
    assert paper["meta"] == record["meta"]
    # the page's lists are the extraction's, those with spans under their page name
    spanned = {"links" if f == "code_links" else f for f in _fields(Spans)}
    assert spanned | {f for f in _fields(Extraction) if f not in Spans.model_fields} <= set(paper)
    assert set(paper["spans"]) == spanned
