"""OpenAI's strict structured outputs: the transform is a pure function over any JSON Schema,
sent to api.openai.com only; other servers get the schema as generated."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from extractor.core.schema import Extraction, reply_model
from extractor.core.strict_schema import absent_nulls_dropped, strict_schema
from extractor.model.openai_call import strict_endpoint
from tests.cli.test_run import EMPTY, extraction_for, invoke, papers, read_jsonl, write_jsonl
from tests.support.shared import BASE_URL, completion, models_list

OPENAI = "https://api.openai.com/v1"


def objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every object schema in `node`, however deep ($defs, items, anyOf included)."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from objects(value)


def accepts_null(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return (
        kind == "null"
        or (isinstance(kind, list) and "null" in kind)
        or any(accepts_null(s) for s in node.get("anyOf", []))
    )


def test_every_object_is_closed_and_requires_all_its_properties() -> None:
    original = Extraction.model_json_schema()
    before = copy.deepcopy(original)
    strict = strict_schema(original)
    assert original == before  # pure: the input is not changed
    found = list(objects(strict))
    assert len(found) >= 4  # Extraction, Model, Result, CodeLink (in $defs)
    for obj in found:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    assert "default" not in json.dumps(strict)
    assert strict_schema(strict) == strict  # idempotent


def test_optional_properties_become_nullable_and_required_ones_do_not() -> None:
    strict = strict_schema(Extraction.model_json_schema())
    result = strict["$defs"]["Result"]["properties"]
    assert accepts_null(result["delta"]) and accepts_null(result["unit"])
    assert not accepts_null(result["value"]) and not accepts_null(result["evidence"])
    link = strict["$defs"]["CodeLink"]["properties"]
    assert accepts_null(link["kind"]) and not accepts_null(link["url"])
    assert accepts_null(strict["properties"]["models"])  # a list with a default


def test_works_on_any_schema_nested_and_with_refs() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
            "b": {"anyOf": [{"type": "object", "properties": {"x": {"type": "integer"}}}]},
        },
        "$defs": {"Item": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    strict = strict_schema(schema)
    assert strict["required"] == ["a", "b"]
    assert strict["$defs"]["Item"]["required"] == ["name"]
    assert strict["$defs"]["Item"]["additionalProperties"] is False
    inner = strict["properties"]["b"]["anyOf"][0]
    assert inner["required"] == ["x"] and inner["additionalProperties"] is False
    answer = {"a": [{"name": None}], "b": {"x": None}}
    assert absent_nulls_dropped(answer, schema) == {"a": [{}], "b": {}}


def test_the_nulls_standing_for_absent_are_dropped_so_defaults_apply() -> None:
    schema = Extraction.model_json_schema()
    answer = {
        **{key: None for key in EMPTY},
        "results": [
            {
                "value": 81.5, "unit": None, "delta": None, "benchmark": None, "metric": None,
                "model": None, "evidence": "81.5% on ImageNet",
            }
        ],
        "code_links": [{"url": "https://x.org", "kind": None}],
    }  # fmt: skip
    cleaned = absent_nulls_dropped(answer, schema)
    extraction = Extraction.model_validate(cleaned)
    assert extraction.models == [] and extraction.results[0].delta is False
    assert extraction.results[0].unit is None  # nullable in the model: the null is kept
    assert extraction.code_links[0].kind == "other"


@pytest.mark.parametrize(
    ("base_url", "strict"),
    [
        (None, True),
        ("https://api.openai.com/v1", True),
        ("http://localhost:8000/v1", False),
        ("http://127.0.0.1:11434/v1", False),
        ("https://openrouter.ai/api/v1", False),
    ],
)
def test_strict_only_where_openai_enforces_it(base_url: str | None, strict: bool) -> None:
    assert strict_endpoint(base_url) is strict


def strict_answer(request: httpx.Request) -> httpx.Response:
    """What OpenAI answers under a strict schema: every key present, null for absent."""
    body = json.loads(request.content)
    paper = next(m["content"] for m in reversed(body["messages"]) if "<paper>" in m["content"])
    extraction = extraction_for(paper)
    extraction["models"][0]["size"] = None
    extraction["results"][0]["delta"] = None
    extraction["code_links"] = None
    return httpx.Response(200, json=completion(extraction))


@pytest.mark.parametrize("mode", ["json_schema", "tools"])
def test_openai_gets_a_strict_schema_and_its_nulls_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-strict-0000")
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))

    def answer(request: httpx.Request) -> httpx.Response:
        response = strict_answer(request)
        if mode != "tools":
            return response
        body = response.json()
        message = body["choices"][0]["message"]
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "Extraction", "arguments": message.pop("content")},
            }
        ]
        message["content"] = None
        return httpx.Response(200, json=body)

    with respx.mock(base_url=OPENAI, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        route = mock.post("/chat/completions").mock(side_effect=answer)
        from click.testing import CliRunner

        from extractor.cli import cli

        result = CliRunner().invoke(
            cli, ["run", str(src), "-o", str(tmp_path / "out.jsonl"), "--mode", mode, "-m", "m"]
        )
    assert result.exit_code == 0, result.output
    body = json.loads(route.calls[0].request.content)
    if mode == "json_schema":
        sent = body["response_format"]["json_schema"]
    else:
        sent = body["tools"][0]["function"]
        sent = {**sent, "schema": sent["parameters"]}
    assert sent["strict"] is True
    assert all(o["additionalProperties"] is False for o in objects(sent["schema"]))
    [record] = read_jsonl(tmp_path / "out.jsonl")
    assert record["extraction"]["results"][0]["delta"] is False  # the default, not null
    assert record["meta"]["mode"] == mode


def test_other_servers_get_the_schema_as_generated(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        route = mock.post("/chat/completions").mock(
            side_effect=lambda r: httpx.Response(
                200,
                json=completion(extraction_for(json.loads(r.content)["messages"][-1]["content"])),
            )
        )
        result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "--mode", "json_schema")
    assert result.exit_code == 0, result.output
    sent = json.loads(route.calls[0].request.content)["response_format"]["json_schema"]
    assert "strict" not in sent
    # the schema of the default results mode for a remote model (anchored), as generated
    assert sent["schema"] == reply_model("anchored").model_json_schema()
