"""`extractor run` through the CLI, with every exchange mocked by respx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import respx
from click.testing import CliRunner

from extractor.cli import cli
from extractor.core.record import ErrorRecord, Record
from tests.support.shared import BASE_URL, SEEDS, reply, sent_paper

EMPTY: dict[str, Any] = {
    "models": [], "modalities": [], "tasks": [], "benchmarks": [], "results": [], "code_links": [],
}  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def papers(n: int) -> list[dict[str, Any]]:
    return [
        {
            "title": f"Paper {i}: FooNet{i}",
            "abstract": f"We propose FooNet{i}, reaching {80 + i}.5% accuracy on ImageNet.",
        }
        for i in range(n)
    ]


def extraction_for(paper_text: str) -> dict[str, Any]:
    """What a well-behaved model answers for the papers made by `papers()`."""
    name = paper_text.split("We propose ")[1].split(",")[0]
    value = paper_text.split("reaching ")[1].split("%")[0]
    return {
        **EMPTY,
        "models": [{"name": name, "role": "proposed", "size": None}],
        "modalities": ["image"],
        "tasks": ["image classification"],
        "benchmarks": ["ImageNet"],
        "results": [
            {
                "value": float(value),
                "unit": "%",
                "delta": False,
                "benchmark": "ImageNet",
                "metric": "accuracy",
                "model": name,
                "evidence": f"reaching {value}% accuracy on ImageNet",
            }
        ],
    }


def answer(request: httpx.Request) -> httpx.Response:
    return reply(extraction_for(sent_paper(request)))


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(
        cli, ["run", "--base-url", BASE_URL, *args], env=env, catch_exceptions=False
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_respx_really_intercepts_the_openai_client(api: Any) -> None:
    # openai 3.x moved to httpx2, which respx cannot see: this fails loudly if that ever returns.
    route = api.post("/chat/completions").mock(return_value=reply("hi"))
    client = openai.OpenAI(base_url=BASE_URL, api_key="sk-test", max_retries=0)
    out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert route.call_count == 1
    assert out.choices[0].message.content == "hi"


def test_records_follow_the_contract_in_input_order(api: Any, tmp_path: Path) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(5))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-c", "3")
    assert result.exit_code == 0, result.stderr
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["title"] for r in records] == [p["title"] for p in papers(5)]
    for r in records:
        Record.model_validate(r)
        assert r["source"]["path"] == str(src)
        assert r["meta"]["cached"] is False and r["meta"]["attempts"] == 1
        assert r["meta"]["input_tokens"] == 120 and r["meta"]["output_tokens"] == 40
        assert r["extraction"]["results"][0]["benchmark"] == "ImageNet"
    assert [r["source"]["line"] for r in records] == [1, 2, 3, 4, 5]
    assert route.call_count == 5
    body = json.loads(route.calls[0].request.content)
    assert body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert "5 records (0 cached, 0 failed)" in result.stderr


def test_second_run_is_served_from_the_cache_without_any_request(api: Any, tmp_path: Path) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    models = api.routes[0]
    src = write_jsonl(tmp_path / "in.jsonl", papers(4))
    first = invoke(str(src), "-o", str(tmp_path / "a.jsonl"))
    assert first.exit_code == 0
    calls_before = route.call_count + models.call_count
    second = invoke(str(src), "-o", str(tmp_path / "b.jsonl"))
    assert second.exit_code == 0
    assert route.call_count + models.call_count == calls_before  # not even the preflight
    a, b = read_jsonl(tmp_path / "a.jsonl"), read_jsonl(tmp_path / "b.jsonl")
    assert [r["extraction"] for r in a] == [r["extraction"] for r in b]
    assert all(r["meta"]["cached"] for r in b)
    assert all(r["meta"]["input_tokens"] == 120 for r in b)  # cached entries carry their usage
    assert "4 cached" in second.stderr


@pytest.mark.parametrize(
    "extra",
    [
        ["-m", "other-model"],
        ["--temperature", "0.5"],
        ["--prompt", "compact"],
        ["--max-tokens", "999"],
        ["--mode", "tools"],
        ["--results", "free"],
        ["--results", "rule"],
    ],
)
def test_what_changes_the_answer_changes_the_cache_key(
    api: Any, tmp_path: Path, extra: list[str]
) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    assert invoke(str(src), "-o", str(tmp_path / "a.jsonl")).exit_code == 0
    assert route.call_count == 2
    if "--mode" in extra:  # tools mode answers through a tool call
        route.mock(side_effect=lambda req: _tool_reply(extraction_for(sent_paper(req))))
    assert invoke(str(src), "-o", str(tmp_path / "b.jsonl"), *extra).exit_code == 0
    assert route.call_count == 4


def _tool_reply(args: dict[str, Any]) -> httpx.Response:
    body = {
        "id": "c", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "Extraction", "arguments": json.dumps(args)}}],
        }}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }  # fmt: skip
    return httpx.Response(200, json=body)


def test_no_cache_neither_reads_nor_writes(api: Any, tmp_path: Path) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    invoke(str(src), "-o", str(tmp_path / "a.jsonl"), "--no-cache")
    invoke(str(src), "-o", str(tmp_path / "a.jsonl"))
    assert route.call_count == 4


def test_the_api_key_reaches_no_output_log_cache_or_error_file(api: Any, tmp_path: Path) -> None:
    secret = "sk-proj-SECRETabcdef1234567890"
    leak = f"Incorrect request for key {secret}; masked sk-proj-****7890"
    api.post("/chat/completions").mock(
        side_effect=[
            answer,
            httpx.Response(400, json={"error": {"message": leak, "type": "invalid_request_error"}}),
        ]
    )
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    result = invoke(
        str(src), "-o", str(tmp_path / "out.jsonl"), "-c", "1", env={"OPENAI_API_KEY": secret}
    )
    assert result.exit_code == 3
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert errors[0]["error"]["type"] == "http_error"
    assert "[REDACTED]" in errors[0]["error"]["message"]
    assert secret not in result.stderr and secret not in result.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data, path
            assert b"SECRETabc" not in data and b"****7890" not in data, path
    assert api.routes[0].calls[0].request.headers["authorization"] == f"Bearer {secret}"


def test_failed_records_go_to_the_errors_file_and_the_rest_succeed(
    api: Any, tmp_path: Path
) -> None:
    def flaky(request: httpx.Request) -> httpx.Response:
        if "FooNet1," in sent_paper(request):
            return httpx.Response(400, json={"error": {"message": "context length exceeded"}})
        return answer(request)

    route = api.post("/chat/completions").mock(side_effect=flaky)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 3
    assert [r["title"] for r in read_jsonl(tmp_path / "out.jsonl")] == [
        "Paper 0: FooNet0",
        "Paper 2: FooNet2",
    ]
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    ErrorRecord.model_validate(error)
    assert error["title"] == "Paper 1: FooNet1" and error["source"]["line"] == 2
    assert error["error"]["attempts"] == 1  # a 400 is not retried
    # The same command again retries exactly the failed record.
    route.mock(side_effect=answer)
    again = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert again.exit_code == 0
    assert route.call_count == 4
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3
    assert not (tmp_path / "out.errors.jsonl").exists()  # a stale errors file would mislead


def test_a_rejected_api_key_is_one_clear_error_not_n_failed_records(
    api: Any, tmp_path: Path
) -> None:
    api.routes[0].mock(return_value=httpx.Response(401, json={"error": {"message": "bad key"}}))
    route = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(20))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), env={"OPENAI_API_KEY": "sk-wrong"})
    assert result.exit_code == 2
    assert "rejected the API key" in result.stderr
    assert route.call_count == 0
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_endpoint_is_one_clear_error(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get("/models").mock(side_effect=httpx.ConnectError("connection refused"))
        result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 2
    assert "cannot reach the endpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_remote_model_without_key_or_url_is_a_usage_error(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    result = CliRunner().invoke(cli, ["run", str(src), "-m", "gpt-4o"])
    assert result.exit_code == 2
    assert "needs OPENAI_API_KEY or --base-url" in result.stderr


def test_seed_files_give_411_distinct_papers_with_stable_ids(api: Any, tmp_path: Path) -> None:
    route = api.post("/chat/completions").mock(return_value=reply(EMPTY))
    result = invoke(*map(str, SEEDS), "-o", str(tmp_path / "out.jsonl"), "-c", "16")
    assert result.exit_code == 0, result.stderr
    records = read_jsonl(tmp_path / "out.jsonl")
    assert len(records) == 411 and route.call_count == 411
    assert len({r["id"] for r in records}) == 411
    assert "96 duplicate papers skipped" in result.stderr
    again = invoke(*map(str, reversed(SEEDS)), "-o", str(tmp_path / "again.jsonl"))
    assert again.exit_code == 0 and "411 cached" in again.stderr
    assert {r["id"] for r in read_jsonl(tmp_path / "again.jsonl")} == {r["id"] for r in records}
    assert route.call_count == 411


def test_stdin_and_limit(api: Any, tmp_path: Path) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    data = "".join(json.dumps(p) + "\n" for p in papers(5))
    result = CliRunner().invoke(
        cli, ["run", "--base-url", BASE_URL, "-", "-n", "2", "-q"], input=data
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["source"] == {"path": "-", "line": 1}
    assert result.stderr == ""


def test_a_remote_model_is_shown_the_mined_numbers_and_cites_them_by_id(
    api: Any, tmp_path: Path
) -> None:
    route = api.post("/chat/completions").mock(
        return_value=reply({"results": [{"id": "n2", "delta": True, "benchmark": "MMBench"}]})
    )
    abstract = "FooNet reaches 85.3% on MMBench and is 3x faster than BarNet, trained in 2023."
    src = write_jsonl(tmp_path / "in.jsonl", [{"title": "FooNet", "abstract": abstract}])
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "--labels", "model")
    assert result.exit_code == 0, result.stderr
    sent = json.loads(route.calls[0].request.content)
    paper = sent["messages"][-1]["content"]
    assert "<numbers>\nn1: 85.3% | " in paper and "\nn2: 3x | " in paper
    assert "n3:" not in paper  # a year is never a candidate
    [record] = read_jsonl(tmp_path / "out.jsonl")
    [r] = record["extraction"]["results"]
    assert (r["value"], r["unit"], r["delta"], r["benchmark"]) == (3.0, "x", True, "MMBench")
    assert record["meta"]["prompt_version"].startswith("full-a-")


def test_auto_finds_answers_cached_under_an_explicit_mode_and_says_which(
    api: Any, tmp_path: Path
) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    assert invoke(str(src), "-o", str(tmp_path / "a.jsonl"), "--mode", "json_schema").exit_code == 0
    assert route.call_count == 2
    again = invoke(str(src), "-o", str(tmp_path / "b.jsonl"))  # --mode auto, the default
    assert again.exit_code == 0
    assert route.call_count == 2  # nothing asked again
    assert [r["meta"]["mode"] for r in read_jsonl(tmp_path / "b.jsonl")] == ["json_schema"] * 2
    assert all(r["meta"]["cached"] for r in read_jsonl(tmp_path / "b.jsonl"))
