"""The answers recorded from the embedded default model replay through `extractor run`.

The cassette was recorded by `tests/support/cassette.py` from the real embedded server with
Qwen2.5-Coder-1.5B (see cassettes/README.md); here respx plays the server, so this runs
anywhere, in milliseconds, and pins what the default local model really answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from click.testing import CliRunner

from extractor.cli import cli
from extractor.core.schema import Extraction
from tests.support.cassette import StaleCassette, load, paper_of, replay
from tests.support.shared import BASE_URL, GOLD, models_list

CASSETTE = Path(__file__).resolve().parents[2] / "cassettes" / "qwen2.5-coder-1.5b-dev.json"


def test_cassette_names_its_origin() -> None:
    cassette = load(CASSETTE)
    origin = cassette["recorded_with"]
    assert origin["model"] == "local:qwen2.5-coder-1.5b"
    assert "llama.cpp" in origin["server"]
    for exchange in cassette["interactions"]:
        assert exchange["request"]["body"]["response_format"]["type"] == "json_schema"
        body = exchange["response"]["body"]
        assert body["model"] == "local:qwen2.5-coder-1.5b"
        assert "timings" in body  # llama.cpp's own field: this came from the server
        assert paper_of(exchange["request"]["body"])


@respx.mock(assert_all_mocked=True)
def test_recorded_answers_become_valid_records(
    tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    cassette = load(CASSETTE)
    n = len(cassette["interactions"])
    papers = tmp_path / "papers.jsonl"
    papers.write_text("".join(GOLD.read_text(encoding="utf-8").splitlines(keepends=True)[:n]))
    respx_mock.get(f"{BASE_URL}/models").mock(return_value=models_list())
    chat = respx_mock.post(f"{BASE_URL}/chat/completions").mock(side_effect=replay(cassette))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli,
        ["run", str(papers), "-o", str(out), "--base-url", BASE_URL, "--prompt", "compact",
         "--results", "free",
         "--model", "local-recorded", "--reasks", "0", "--retries", "0", "--no-cache", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == n == chat.call_count
    for record in records:
        Extraction.model_validate(record["extraction"])
        assert record["meta"]["output_tokens"] > 0
    # The default model names at least one model or benchmark per dev paper, grounded in the
    # text (CC-OCR's paper introduces a benchmark: its name stays a benchmark, not a model).
    assert all(r["extraction"]["models"] or r["extraction"]["benchmarks"] for r in records)


def test_a_request_the_server_never_saw_fails_loudly() -> None:
    cassette = load(CASSETTE)
    body = json.loads(json.dumps(cassette["interactions"][0]["request"]["body"]))
    answer = replay(cassette)
    request = httpx.Request("POST", f"{BASE_URL}/chat/completions", json=body)
    assert answer(request).status_code == 200  # the very request: its recorded answer
    with pytest.raises(StaleCassette, match="no recording left"):
        answer(request)  # once only: no answer repeated forever
    body["messages"][0]["content"] += " Be brief."  # the prompt changed since the recording
    with pytest.raises(StaleCassette, match=r"differs from its recording in messages\[0\]"):
        replay(cassette)(httpx.Request("POST", f"{BASE_URL}/chat/completions", json=body))
