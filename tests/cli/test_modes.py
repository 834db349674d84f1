"""A mode the endpoint cannot do is its capability, not an invalid answer: the run stops at the
first such response (exit 2, one line, nothing written), or `--mode auto` falls back once.

The llama.cpp exchanges are cassettes recorded from the embedded server (tests/support/cassette.py);
the 400s are the shapes vLLM, Ollama and llama.cpp return.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner

from extractor.cli import cli
from extractor.core.record import Record
from tests.cli.test_run import EMPTY, answer, invoke, papers, read_jsonl, write_jsonl
from tests.support.cassette import load, mode_of, paper_of, replay
from tests.support.shared import BASE_URL, GOLD, models_list, reply

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
JSON_SCHEMA = CASSETTES / "qwen2.5-coder-1.5b-dev.json"
TOOLS = CASSETTES / "smollm2-135m-tools.json"
JSON = CASSETTES / "smollm2-135m-json.json"

# vLLM (xgrammar refusing a schema feature), old and new error envelopes.
VLLM_400 = {
    "object": "error",
    "message": "The provided JSON schema contains features not supported by xgrammar.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
VLLM_400_NEW = {"error": {**VLLM_400, "object": None}}
# Ollama, a model whose template has no tools.
OLLAMA_NO_TOOLS = {
    "error": {
        "message": "registry.ollama.ai/library/llama3:8b does not support tools",
        "type": "api_error",
        "param": None,
        "code": None,
    }
}
# llama.cpp's server, measured (a response_format it does not know).
LLAMA_CPP_400 = {
    "error": {
        "code": 400,
        "message": 'response_format type must be one of "text" or "json_object", but got: json_schema',
        "type": "invalid_request_error",
    }
}


def gold_papers(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "papers.jsonl"
    path.write_text("".join(GOLD.read_text(encoding="utf-8").splitlines(keepends=True)[:n]))
    return path


def run(tmp_path: Path, src: Path, *args: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["run", str(src), "-o", str(tmp_path / "out.jsonl"), "--base-url", BASE_URL,
         "--prompt", "compact", "--results", "free", "--model", "local-recorded", "--no-cache",
         *args],
    )  # fmt: skip


def by_mode(routes: dict[str, Any]) -> Any:
    """A side effect sending each request to the answer for the mode it was sent in."""

    def side_effect(request: httpx.Request) -> httpx.Response:
        target = routes[mode_of(json.loads(request.content))]
        return target(request) if callable(target) else target

    return side_effect


def modes_sent(route: Any) -> list[str]:
    return [mode_of(json.loads(call.request.content)) for call in route.calls]


def test_the_cassettes_come_from_llama_cpp_in_each_mode() -> None:
    for path, mode in ((JSON_SCHEMA, "json_schema"), (TOOLS, "tools"), (JSON, "json")):
        cassette = load(path)
        assert "llama.cpp" in cassette["recorded_with"]["server"]
        for exchange in cassette["interactions"]:
            assert mode_of(exchange["request"]["body"]) == mode
            assert "timings" in exchange["response"]["body"]  # llama.cpp's own field
            assert paper_of(exchange["request"]["body"])
    tools = load(TOOLS)
    # The server took `tools` and answered in plain text: no tool call, and one exchange only.
    [exchange] = tools["interactions"]
    message = exchange["response"]["body"]["choices"][0]["message"]
    assert not message.get("tool_calls") and message["content"]
    assert "--mode tools" in tools["stopped_with"]


@respx.mock(assert_all_mocked=True)
def test_tools_mode_stops_after_the_first_response(
    tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{BASE_URL}/models").mock(return_value=models_list())
    replayed = replay(load(TOOLS))
    chat = respx_mock.post(f"{BASE_URL}/chat/completions").mock(side_effect=replayed)
    result = run(
        tmp_path, gold_papers(tmp_path, 3), "--mode", "tools", "-c", "1", "--max-tokens", "512"
    )
    assert replayed.stale == []
    assert result.exit_code == 2
    assert chat.call_count == 1  # no re-ask, no second paper
    [line] = result.stderr.strip().splitlines()
    assert "--mode tools" in line and "no tool call" in line and "--mode json_schema" in line
    assert not (tmp_path / "out.jsonl").exists()  # exit 2: nothing written
    assert not (tmp_path / "out.errors.jsonl").exists()


@respx.mock(assert_all_mocked=True)
def test_auto_uses_json_schema_where_llama_cpp_enforces_it(
    tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    cassette = load(JSON_SCHEMA)
    n = len(cassette["interactions"])
    respx_mock.get(f"{BASE_URL}/models").mock(return_value=models_list())
    chat = respx_mock.post(f"{BASE_URL}/chat/completions").mock(side_effect=replay(cassette))
    result = run(tmp_path, gold_papers(tmp_path, n), "--reasks", "0")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    records = read_jsonl(tmp_path / "out.jsonl")
    assert len(records) == n == chat.call_count
    assert {r["meta"]["mode"] for r in records} == {"json_schema"}


@respx.mock(assert_all_mocked=True)
def test_auto_falls_back_once_through_tools_to_json(
    tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    json_cassette = load(JSON)
    n = len({paper_of(x["request"]["body"]) for x in json_cassette["interactions"]})
    respx_mock.get(f"{BASE_URL}/models").mock(return_value=models_list())
    chat = respx_mock.post(f"{BASE_URL}/chat/completions").mock(
        side_effect=by_mode(
            {
                "json_schema": httpx.Response(400, json=VLLM_400),
                # one run has one --max-tokens; the two were recorded under 512 and 256
                "tools": replay(load(TOOLS), ignore=frozenset({"max_tokens"})),
                "json": replay(json_cassette, ignore=frozenset({"max_tokens"})),
            }
        )
    )
    result = run(tmp_path, gold_papers(tmp_path, n), "--mode", "auto", "-c", "1")
    assert result.exit_code in (0, 3), result.output
    sent = modes_sent(chat)
    assert sent[:2] == ["json_schema", "tools"] and set(sent[2:]) == {"json"}
    warnings = result.stderr.strip().splitlines()
    assert [w for w in warnings if "cannot do" in w] == [
        w for w in warnings if "warning:" in w and "cannot do" in w
    ]
    assert sum("using --mode tools" in w for w in warnings) == 1
    assert (
        sum("using --mode json" in w and "json_schema" not in w.split("using")[1] for w in warnings)
        == 1
    )
    # What the default model answered in json mode, valid or not, is the recorded answer.
    records = read_jsonl(tmp_path / "out.jsonl")
    errors = read_jsonl(tmp_path / "out.errors.jsonl") if result.exit_code == 3 else []
    assert len(records) + len(errors) == n
    for record in records:
        Record.model_validate(record)
        assert record["meta"]["mode"] == "json"
    for error in errors:
        assert error["error"]["type"] in ("invalid_output", "output_truncated")


@pytest.mark.parametrize(
    ("mode", "body", "instead"),
    [
        ("json_schema", VLLM_400, "--mode json"),
        ("json_schema", VLLM_400_NEW, "--mode json"),
        ("json_schema", LLAMA_CPP_400, "--mode json"),
        ("tools", OLLAMA_NO_TOOLS, "--mode json_schema"),
    ],
)
def test_a_400_refusing_the_mode_stops_the_run_at_once(
    api: Any, tmp_path: Path, mode: str, body: dict[str, Any], instead: str
) -> None:
    route = api.post("/chat/completions").mock(return_value=httpx.Response(400, json=body))
    src = write_jsonl(tmp_path / "in.jsonl", papers(5))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "--mode", mode, "-c", "1")
    assert result.exit_code == 2
    assert route.call_count == 1
    [line] = result.stderr.strip().splitlines()
    assert f"cannot do --mode {mode}" in line and instead in line and "HTTP 400" in line
    assert not (tmp_path / "out.jsonl").exists()  # exit 2: nothing written


def test_with_requests_in_flight_the_run_still_stops_without_sending_more(
    api: Any, tmp_path: Path
) -> None:
    route = api.post("/chat/completions").mock(return_value=reply(EMPTY))  # text, no tool call
    src = write_jsonl(tmp_path / "in.jsonl", papers(40))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "--mode", "tools", "-c", "4")
    assert result.exit_code == 2
    assert route.call_count <= 4  # those already in flight, nothing after
    assert len(result.stderr.strip().splitlines()) == 1


def test_auto_with_requests_in_flight_falls_back_once(api: Any, tmp_path: Path) -> None:
    route = api.post("/chat/completions").mock(
        side_effect=by_mode(
            {"json_schema": httpx.Response(400, json=VLLM_400_NEW), "tools": answer, "json": answer}
        )
    )
    src = write_jsonl(tmp_path / "in.jsonl", papers(12))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-c", "4")
    # `answer` is plain text, so tools mode is refused too; json is what works.
    assert result.exit_code == 0, result.stderr
    sent = modes_sent(route)
    assert sent.count("json_schema") <= 4 and sent.count("tools") <= 4
    assert sent.count("json") == 12
    assert result.stderr.count("using --mode tools") == 1
    assert (
        result.stderr.count("using --mode json\n") + result.stderr.count("using --mode json ") == 1
    )
    assert {r["meta"]["mode"] for r in read_jsonl(tmp_path / "out.jsonl")} == {"json"}


def test_auto_reports_when_no_mode_works(api: Any, tmp_path: Path) -> None:
    refused = {"error": {"message": "response_format and tools are not supported", "code": 400}}
    route = api.post("/chat/completions").mock(return_value=httpx.Response(400, json=refused))
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-c", "1", "-q")
    assert result.exit_code == 2 and route.call_count == 3
    [line] = result.stderr.strip().splitlines()
    assert "supports none of the modes" in line


def test_a_400_about_something_else_fails_the_record_only(api: Any, tmp_path: Path) -> None:
    too_long = {
        "error": {"message": "This model's maximum context length is 8192 tokens", "code": 400}
    }
    api.post("/chat/completions").mock(
        side_effect=[httpx.Response(400, json=too_long), answer, answer]
    )
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-c", "1", "--mode", "json_schema")
    assert result.exit_code == 3
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "http_error"
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 2


def test_a_server_without_models_still_runs(tmp_path: Path) -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as mock:
        mock.get("/models").mock(return_value=httpx.Response(404, text="Not Found"))
        mock.post("/chat/completions").mock(side_effect=answer)
        src = write_jsonl(tmp_path / "in.jsonl", papers(2))
        result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 2


def test_the_same_invalid_answer_twice_is_not_asked_a_third_time(api: Any, tmp_path: Path) -> None:
    bad = {**EMPTY, "models": [{"name": "FooNet0", "role": "boss"}]}
    route = api.post("/chat/completions").mock(return_value=reply(bad))
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "--reasks", "5")
    assert result.exit_code == 3
    assert route.call_count == 2
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "invalid_output" and error["error"]["attempts"] == 2
    assert "same invalid answer twice" in error["error"]["message"]
    assert "role" in error["error"]["message"]  # with the validation error it got


def test_reasks_are_counted_in_tokens_even_when_the_record_fails(api: Any, tmp_path: Path) -> None:
    answers = [
        reply(f'{{"models": [oops{i}', prompt_tokens=100, completion_tokens=10) for i in range(3)
    ]
    api.post("/chat/completions").mock(side_effect=answers)
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "--reasks", "2")
    assert result.exit_code == 3
    assert "tokens spent 300 in / 30 out" in result.stderr
