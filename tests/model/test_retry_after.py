"""Retry-After is parsed defensively and honoured in full, within a wait budget; failures are
classified by the exception that ended the record, not by an earlier re-ask."""

from __future__ import annotations

import email.utils
from pathlib import Path
from typing import Any

import httpx
import pytest

from extractor.config import ModelConfig
from extractor.model.openai_call import retry_after_seconds, wait_budget
from tests.cli.test_run import answer, invoke, papers, read_jsonl, write_jsonl
from tests.support.shared import reply

NOW = 1_800_000_000.0


def limited(value: str) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": value}, json={"error": {"message": "slow"}})


def run_one(tmp_path: Path, *args: str) -> tuple[Any, list[dict[str, Any]]]:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "--mode", "json_schema", *args)
    return result, read_jsonl(tmp_path / "out.jsonl")


def headers(**values: str) -> httpx.Response:
    return httpx.Response(429, headers=values)


def test_retry_after_as_an_http_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("extractor.model.openai_call.time.time", lambda: NOW)
    date = email.utils.formatdate(NOW + 42, usegmt=True)
    assert retry_after_seconds(headers(**{"Retry-After": date})) == pytest.approx(42)
    past = email.utils.formatdate(NOW - 42, usegmt=True)
    assert retry_after_seconds(headers(**{"Retry-After": past})) == 0.0


@pytest.mark.parametrize("garbage", ["soon", "", "  ", "inf", "nan", "Thu, 99 Foo 20x", "-"])
def test_retry_after_garbage_is_no_hint(garbage: str) -> None:
    assert retry_after_seconds(headers(**{"Retry-After": garbage})) is None


def test_retry_after_ms_wins_and_bad_ms_falls_back() -> None:
    assert retry_after_seconds(headers(**{"retry-after-ms": "250", "Retry-After": "9"})) == 0.25
    assert retry_after_seconds(headers(**{"retry-after-ms": "x", "Retry-After": "9"})) == 9.0


def test_the_wait_budget_follows_timeout_and_retries() -> None:
    assert wait_budget(ModelConfig(timeout=120, max_retries=6)) == 840


def test_an_unreadable_retry_after_backs_off_instead_of_failing(
    api: Any, tmp_path: Path, sleeps: list[float]
) -> None:
    api.post("/chat/completions").mock(side_effect=[limited("soon"), answer])
    result, [record] = run_one(tmp_path)
    assert result.exit_code == 0, result.stderr
    assert record["meta"]["attempts"] == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 30  # the usual backoff


def test_an_http_date_retry_after_is_waited(
    api: Any, tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("extractor.model.openai_call.time.time", lambda: NOW)
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    api.post("/chat/completions").mock(side_effect=[limited(date), answer])
    result, [_] = run_one(tmp_path)
    assert result.exit_code == 0 and sleeps == [pytest.approx(90)]


def test_a_long_hint_is_waited_in_full_not_cut_short(
    api: Any, tmp_path: Path, sleeps: list[float]
) -> None:
    # 600 s is over the old 120 s cap: a retry sent earlier would be refused and wasted.
    route = api.post("/chat/completions").mock(side_effect=[limited("600"), answer])
    result, [_] = run_one(tmp_path, "--timeout", "120", "--retries", "6")
    assert result.exit_code == 0 and sleeps == [600.0] and route.call_count == 2


def test_a_hint_beyond_the_budget_fails_the_record_clearly_without_spending_retries(
    api: Any, tmp_path: Path, sleeps: list[float]
) -> None:
    route = api.post("/chat/completions").mock(return_value=limited("86400"))
    result, records = run_one(tmp_path, "--timeout", "60", "--retries", "3")
    assert result.exit_code == 3 and records == []
    assert route.call_count == 1 and sleeps == []
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "rate_limited"
    assert "86400s" in error["error"]["message"] and "240s" in error["error"]["message"]


def test_hints_add_up_against_the_budget(api: Any, tmp_path: Path, sleeps: list[float]) -> None:
    # budget 10 x (2 + 1) = 30 s: 20 s is waited, a second 20 s is not.
    route = api.post("/chat/completions").mock(side_effect=[limited("20"), limited("20"), answer])
    result, _ = run_one(tmp_path, "--timeout", "10", "--retries", "2")
    assert result.exit_code == 3 and sleeps == [20.0] and route.call_count == 2
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "rate_limited"


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx.Response(503, json={"error": {"message": "down"}}), "http_error"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "connection_error"),
    ],
)
def test_a_transport_failure_during_a_reask_is_labelled_as_transport(
    api: Any, tmp_path: Path, sleeps: list[float], failure: Any, kind: str
) -> None:
    # The first answer is invalid and re-asked; the re-ask then never gets through.
    side_effect = [reply('{"models": [oops'), *([failure] * 3)]
    route = api.post("/chat/completions").mock(side_effect=side_effect)
    result, records = run_one(tmp_path, "--retries", "2", "--reasks", "2")
    assert result.exit_code == 3 and records == []
    assert route.call_count == 4
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == kind, error
    assert error["error"]["attempts"] == 4
