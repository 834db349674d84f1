"""`extractor check`: one tiny request per mode, a table on stdout, exit 0 when run would work."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner

from extractor.cli import cli
from tests.cli.test_modes import OLLAMA_NO_TOOLS, VLLM_400
from tests.cli.test_run import extraction_for
from tests.support.cassette import mode_of
from tests.support.shared import BASE_URL, completion, models_list, sent_paper


def check(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["check", *args], env=env)


def row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.split("  ")[0] == name)


def tool_answer(request: httpx.Request) -> httpx.Response:
    body = completion(extraction_for(sent_paper(request)))
    message = body["choices"][0]["message"]
    message["tool_calls"] = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "Extraction", "arguments": message.pop("content")},
        }
    ]
    message["content"] = None
    return httpx.Response(200, json=body)


def text_answer(request: httpx.Request, cached: int = 0) -> httpx.Response:
    body = completion(extraction_for(sent_paper(request)), prompt_tokens=900)
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
    return httpx.Response(200, json=body)


def vllm_like(request: httpx.Request) -> httpx.Response:
    """vLLM with prefix caching, a named tool choice and guided JSON."""
    mode = mode_of(json.loads(request.content))
    if mode == "tools":
        return tool_answer(request)
    return text_answer(request, cached=768 if "BarNet" in sent_paper(request) else 0)


def test_a_capable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        models = {"object": "list", "data": [{"id": "test-model", "max_model_len": 32768}]}
        mock.get("/models").mock(return_value=httpx.Response(200, json=models))
        mock.get("http://llm.test/props").mock(return_value=httpx.Response(404))
        chat = mock.post("/chat/completions").mock(side_effect=vllm_like)
        result = check("--base-url", BASE_URL, "-m", "test-model")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "yes (GET /models: HTTP 200" in row(out, "reachable")
    assert "accepted" in row(out, "key")
    assert "served; listed by /models" in row(out, "model")
    assert "32768 tokens (vLLM max_model_len" in row(out, "context")
    for mode in ("json_schema", "tools", "json"):
        line = row(out, f"mode {mode}")
        assert "works (valid answer)" in line and line.rstrip().endswith(" s")
    assert "yes: 768 of 900 prompt tokens" in row(out, "prefix cache")
    assert row(out, "run would use").endswith("--mode json_schema")
    assert chat.call_count == 4  # one per mode, and one more for the prefix cache
    assert result.stderr == ""


def test_an_endpoint_without_models_refusing_json_schema_and_tools() -> None:
    def side_effect(request: httpx.Request) -> httpx.Response:
        mode = mode_of(json.loads(request.content))
        if mode == "json_schema":
            return httpx.Response(400, json=VLLM_400)
        if mode == "tools":
            return httpx.Response(400, json=OLLAMA_NO_TOOLS)
        return text_answer(request)

    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=httpx.Response(404, text="no such route"))
        mock.get("http://llm.test/props").mock(return_value=httpx.Response(404))
        mock.post("/chat/completions").mock(side_effect=side_effect)
        result = check("--base-url", BASE_URL, "-m", "llama3:8b")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "HTTP 404" in row(out, "model") and "chat probes decide" in row(out, "model")
    assert "unsupported: HTTP 400" in row(out, "mode json_schema") and "xgrammar" in out
    assert "does not support tools" in row(out, "mode tools")
    assert "works" in row(out, "mode json")
    assert "no: 0 of 900" in row(out, "prefix cache")
    assert row(out, "run would use").endswith("--mode json")


def test_an_explicit_mode_the_endpoint_cannot_do_exits_1() -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        mock.get("http://llm.test/props").mock(return_value=httpx.Response(404))
        mock.post("/chat/completions").mock(side_effect=text_answer)  # never a tool call
        result = check("--base-url", BASE_URL, "-m", "test-model", "--mode", "tools")
    assert result.exit_code == 1
    assert "unsupported" in row(result.stdout, "mode tools")
    assert "none: run would fail" in row(result.stdout, "run would use")


def test_a_rejected_key_exits_1_without_any_chat_request() -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=httpx.Response(401, json={"error": {}}))
        chat = mock.post("/chat/completions")
        result = check("--base-url", BASE_URL, env={"OPENAI_API_KEY": "sk-wrong-0000"})
    assert result.exit_code == 1
    assert "rejected (HTTP 401)" in row(result.stdout, "key")
    assert chat.call_count == 0
    assert "sk-wrong" not in result.output


def test_an_unreachable_endpoint_exits_1() -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(side_effect=httpx.ConnectError("refused"))
        result = check("--base-url", BASE_URL)
    assert result.exit_code == 1
    assert row(result.stdout, "reachable").split()[1] == "no:"


def test_a_model_the_endpoint_does_not_serve_exits_1() -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        mock.get("http://llm.test/props").mock(return_value=httpx.Response(404))
        mock.post("/chat/completions").mock(
            return_value=httpx.Response(404, json={"error": {"message": "model not found"}})
        )
        result = check("--base-url", BASE_URL, "-m", "nope")
    assert result.exit_code == 1
    assert "NOT served" in row(result.stdout, "model")


@pytest.mark.local_model
def test_check_the_tiny_embedded_model() -> None:
    # 64 tokens: a cut-off answer still shows the mode works, and the CPU is spared.
    result = check("-m", "local:smollm2-135m", "--max-tokens", "64")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "(embedded local:smollm2-135m)" in row(out, "endpoint")
    assert "yes" in row(out, "reachable")
    assert "served; listed by /models" in row(out, "model")
    assert "8192 tokens per request (llama.cpp /props, 1 slot)" in row(out, "context")
    assert "works" in row(out, "mode json_schema")
    assert "unsupported: its answer had no tool call" in row(out, "mode tools")
    assert "llama.cpp timings.cache_n" in row(out, "prefix cache")
    assert row(out, "prefix cache").split()[2] == "yes:"
    assert row(out, "run would use").endswith("--mode json_schema")
    assert result.stderr == ""
