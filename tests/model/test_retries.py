"""Each retry path: transport failures back off (and never reach the prompt); invalid output is
re-asked with its error; truncated output is reported, not re-asked blindly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.test_run import EMPTY, answer, invoke, papers, read_jsonl, write_jsonl
from tests.support.shared import reply


def run_one(tmp_path: Path, *args: str) -> tuple[Any, list[dict[str, Any]]]:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    out = tmp_path / "out.jsonl"
    result = invoke(str(src), "-o", str(out), *args)
    return result, read_jsonl(out) if out.exists() else []


def bodies(route: Any) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def test_429_waits_as_long_as_retry_after_says(
    api: Any, tmp_path: Path, sleeps: list[float]
) -> None:
    limited = httpx.Response(
        429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}}
    )
    route = api.post("/chat/completions").mock(side_effect=[limited, limited, answer])
    result, [record] = run_one(tmp_path)
    assert result.exit_code == 0
    assert sleeps == [7.0, 7.0]
    assert record["meta"]["attempts"] == 3
    # A transport retry sends the very same request: nothing about the 429 enters the prompt.
    assert bodies(route)[0] == bodies(route)[2]


def test_retry_after_ms_is_honoured_too(api: Any, tmp_path: Path, sleeps: list[float]) -> None:
    limited = httpx.Response(429, headers={"retry-after-ms": "1500"}, json={"error": {}})
    api.post("/chat/completions").mock(side_effect=[limited, answer])
    result, _ = run_one(tmp_path)
    assert result.exit_code == 0 and sleeps == [1.5]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_back_off_exponentially(
    api: Any, tmp_path: Path, sleeps: list[float], status: int
) -> None:
    failing = httpx.Response(status, json={"error": {"message": "oops"}})
    route = api.post("/chat/completions").mock(side_effect=[failing, failing, failing, answer])
    result, [record] = run_one(tmp_path)
    assert result.exit_code == 0
    assert route.call_count == 4 and record["meta"]["attempts"] == 4
    assert len(sleeps) == 3 and all(0 <= s <= 30 for s in sleeps)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ConnectError("refused"),
    ],
)
def test_timeouts_and_dropped_connections_are_retried(
    api: Any, tmp_path: Path, sleeps: list[float], failure: Exception
) -> None:
    route = api.post("/chat/completions").mock(side_effect=[failure, answer])
    result, [record] = run_one(tmp_path)
    assert result.exit_code == 0
    assert route.call_count == 2 and record["meta"]["attempts"] == 2


def test_transport_retries_are_bounded_and_the_record_fails_alone(
    api: Any, tmp_path: Path, sleeps: list[float]
) -> None:
    route = api.post("/chat/completions").mock(return_value=httpx.Response(503, json={"error": {}}))
    result, records = run_one(tmp_path, "--retries", "2")
    assert result.exit_code == 3 and records == []
    assert route.call_count == 3
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "http_error" and error["error"]["attempts"] == 3


def test_insufficient_quota_is_not_retried(api: Any, tmp_path: Path, sleeps: list[float]) -> None:
    quota = httpx.Response(
        429,
        json={
            "error": {
                "message": "no credit",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        },
    )
    route = api.post("/chat/completions").mock(return_value=quota)
    result, _ = run_one(tmp_path)
    assert result.exit_code == 2 and "no quota left" in result.stderr
    assert route.call_count == 1 and sleeps == []
    assert not (tmp_path / "out.jsonl").exists()  # exit 2 writes nothing


def test_malformed_json_is_reasked_with_the_error(
    api: Any, tmp_path: Path, sleeps: list[float]
) -> None:
    route = api.post("/chat/completions").mock(side_effect=[reply('{"models": [oops'), answer])
    result, [record] = run_one(tmp_path)
    assert result.exit_code == 0
    assert record["meta"]["attempts"] == 2 and sleeps == []
    reask = bodies(route)[1]["messages"]
    assert len(reask) > len(bodies(route)[0]["messages"])
    assert any('{"models": [oops' in str(m.get("content")) for m in reask)  # shown its bad answer
    assert record["meta"]["input_tokens"] == 240  # usage of both attempts


def test_schema_invalid_output_is_reasked_with_the_validation_error(
    api: Any, tmp_path: Path
) -> None:
    bad = {**EMPTY, "models": [{"name": "FooNet0", "role": "boss"}]}
    route = api.post("/chat/completions").mock(side_effect=[reply(bad), answer])
    result, [record] = run_one(tmp_path)
    assert result.exit_code == 0 and record["meta"]["attempts"] == 2
    first, reask = (json.dumps(body["messages"]) for body in bodies(route))
    # The validation error names the field and its choices; the system prompt explains roles
    # too, so only words the first request cannot contain prove the error was shown.
    error = "models.0.role"
    choices = "Input should be 'proposed', 'compared', 'component' or 'mentioned'"
    for text in (error, json.dumps(choices)[1:-1], "boss"):
        assert text in reask and text not in first, text


def test_reasks_are_bounded(api: Any, tmp_path: Path) -> None:
    route = api.post("/chat/completions").mock(return_value=reply("not json at all"))
    result, records = run_one(tmp_path, "--reasks", "1")
    assert result.exit_code == 3 and records == []
    assert route.call_count == 2
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "invalid_output" and error["error"]["attempts"] == 2


def test_truncated_output_is_reported_not_reasked(api: Any, tmp_path: Path) -> None:
    cut = reply('{"models": [{"name": "FooNet0", "ro', finish_reason="length")
    route = api.post("/chat/completions").mock(return_value=cut)
    result, records = run_one(tmp_path, "--max-tokens", "100")
    assert result.exit_code == 3 and records == []
    assert route.call_count == 1
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "output_truncated"
    assert (
        "max_tokens=100" in error["error"]["message"]
        and "--max-tokens" in error["error"]["message"]
    )
    # A failure is never cached: the same command again asks again (another --max-tokens
    # would be another cache key, and prove nothing).
    route.mock(side_effect=answer)
    result, records = run_one(tmp_path, "--max-tokens", "100")
    assert result.exit_code == 0 and len(records) == 1
    assert route.call_count == 2 and records[0]["meta"]["cached"] is False


def test_a_request_that_keeps_timing_out_is_given_up_after_three_tries(
    api: Any, tmp_path: Path, sleeps: list[float]
) -> None:
    # Each timeout pays for the whole generation again; --retries 6 must not mean 7 of them.
    route = api.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    result, records = run_one(tmp_path, "--retries", "6")
    assert result.exit_code == 3 and records == []
    assert route.call_count == 3
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "timeout" and error["error"]["attempts"] == 3
