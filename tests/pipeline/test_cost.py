"""Dollars next to tokens: meta.cost_usd, the summary line, --dry-run and --max-cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from extractor.core.facts import analyze
from extractor.pipeline.pricing import REASK_OVERHEAD_TOKENS, estimate_tokens
from extractor.pipeline.prompt import load_prompt
from tests.cli.test_run import answer, invoke, papers, read_jsonl, write_jsonl

KEY = {"OPENAI_API_KEY": "sk-test"}
# $1,000 per million tokens: one test reply (120 + 40 tokens) costs $0.16.
PRICE = ("--price-in", "1000", "--price-out", "1000")


def test_records_and_the_summary_carry_dollars(api: Any, tmp_path: Path) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out = tmp_path / "out.jsonl"
    result = invoke(str(src), "-o", str(out), "-m", "gpt-4o-mini", env=KEY)
    assert result.exit_code == 0
    for record in read_jsonl(out):
        assert record["meta"]["cost_usd"] == pytest.approx((120 * 0.15 + 40 * 0.60) / 1e6)
    assert "cost $0.0001" in result.output
    # An unknown model's cost is unknown, never made up; flags give it one.
    result = invoke(str(src), "-o", str(out), "-m", "my-model", "--no-cache", env=KEY)
    assert read_jsonl(out)[0]["meta"]["cost_usd"] is None
    assert "cost" not in result.output.split("tokens spent")[1]
    result = invoke(str(src), "-o", str(out), "-m", "my-model", "--no-cache", *PRICE, env=KEY)
    assert read_jsonl(out)[0]["meta"]["cost_usd"] == pytest.approx(0.16)
    assert "cost $0.3200" in result.output


def test_dry_run_counts_and_prices_what_is_not_cached_and_sends_nothing(
    api: Any, tmp_path: Path
) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    rows = papers(3)
    out = tmp_path / "out.jsonl"
    invoke(str(write_jsonl(tmp_path / "one.jsonl", rows[:1])), "-o", str(out), env=KEY)
    sent = chat.call_count
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    result = invoke(str(src), "-o", str(tmp_path / "dry.jsonl"), "--dry-run", env=KEY)
    assert result.exit_code == 0, result.output
    assert chat.call_count == sent
    assert not (tmp_path / "dry.jsonl").exists()
    assert "3 records, 1 cached, 2 to send" in result.output
    assert "the mean of 1 cached answers" in result.output  # output tokens: 40 each
    prompt = load_prompt("full", "anchored")
    tokens = 0
    for row in rows[1:]:
        facts = analyze(row["title"], row["abstract"])
        tokens += estimate_tokens(prompt.messages(row["title"], row["abstract"], facts.numbers))
    assert f"~{tokens:,} prompt tokens" in result.output
    cost = (tokens * 0.15 + 80 * 0.60) / 1e6
    assert f"estimated cost ${cost:.4f} at the live price" in result.output
    batch = invoke(str(src), "-o", str(tmp_path / "d.jsonl"), "--dry-run", "--batch", env=KEY)
    assert f"estimated cost ${cost / 2:.4f} at the Batch API price" in batch.output


def test_max_cost_stops_cleanly_before_spending_more_and_resumes(api: Any, tmp_path: Path) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    rows = papers(5)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    prompt = load_prompt("full", "anchored")
    facts = analyze(rows[0]["title"], rows[0]["abstract"])
    prompt_tokens = estimate_tokens(
        prompt.messages(rows[0]["title"], rows[0]["abstract"], facts.numbers)
    )
    # a record's reservation: prompt + max tokens for its request and each of its 2 re-asks,
    # whose prompts carry the rejected answer and the error
    worst = sum(
        (prompt_tokens + i * (64 + REASK_OVERHEAD_TOKENS) + 64) * 1000 / 1e6 for i in range(3)
    )
    limit = worst + 0.3  # room for two records at $0.16 each, not three
    out = tmp_path / "out.jsonl"
    args = [str(src), "-o", str(out), "-c", "1", "--max-tokens", "64", *PRICE]
    result = invoke(*args, "--max-cost", f"{limit:.4f}", env=KEY)
    assert result.exit_code == 3, result.output
    assert chat.call_count == 2
    records = read_jsonl(out)
    assert len(records) == 2
    assert sum(r["meta"]["cost_usd"] for r in records) <= limit
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [e["error"]["type"] for e in errors] == ["max_cost"] * 3
    assert "stopped at --max-cost" in result.output
    # Resumable: the same command with more room sends only what is missing.
    result = invoke(*args, "--max-cost", "100", env=KEY)
    assert result.exit_code == 0, result.output
    assert chat.call_count == 5
    assert len(read_jsonl(out)) == 5
    assert not (tmp_path / "out.errors.jsonl").exists()


def test_max_cost_needs_a_price(api: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    result = invoke(str(src), "-m", "my-model", "--max-cost", "1", env=KEY)
    assert result.exit_code == 2
    assert "--max-cost needs a price" in result.output


def test_re_asks_never_take_a_run_past_max_cost(api: Any, tmp_path: Path) -> None:
    # Every record needs its two re-asks (two invalid answers, then a valid one), and each
    # request costs what its reservation assumed: with two in flight, reserving one request
    # a record would let both go and spend twice the limit.
    from tests.support.shared import completion, sent_paper

    prompt = load_prompt("full", "anchored")
    first = papers(1)[0]
    facts = analyze(first["title"], first["abstract"])
    tokens = estimate_tokens(prompt.messages(first["title"], first["abstract"], facts.numbers))
    asked: dict[str, int] = {}

    def twice_invalid(request: httpx.Request) -> httpx.Response:
        paper = sent_paper(request)
        asked[paper] = asked.get(paper, 0) + 1
        if asked[paper] < 3:
            content: Any = f"not json {asked[paper]}"
        else:
            content = json.loads(answer(request).content)["choices"][0]["message"]["content"]
        body = completion(content, prompt_tokens=tokens, completion_tokens=64)
        return httpx.Response(200, json=body)

    api.post("/chat/completions").mock(side_effect=twice_invalid)
    src = write_jsonl(tmp_path / "in.jsonl", papers(4))
    out = tmp_path / "out.jsonl"
    worst = sum((tokens + i * (64 + REASK_OVERHEAD_TOKENS) + 64) * 1e-3 for i in range(3))
    limit = worst + 0.01  # one record's worst case
    args = [str(src), "-o", str(out), "-c", "2", "--max-tokens", "64", *PRICE]
    result = invoke(*args, "--max-cost", f"{limit:.4f}", env=KEY)
    assert result.exit_code == 3, result.output
    records = read_jsonl(out)
    assert len(records) == 1 and records[0]["meta"]["attempts"] == 3
    spent = sum(r["meta"]["cost_usd"] for r in records)
    assert 3 * (tokens + 64) * 1e-3 <= spent <= limit
