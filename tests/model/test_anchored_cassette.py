"""The labelling path on answers recorded from the embedded default model (anchored results).

`cassettes/qwen2.5-coder-1.5b-anchored.json` holds what Qwen2.5-Coder-1.5B answered when shown
three dev papers with their mined numbers listed by id (recorded by `tests/support/cassette.py
--results anchored`). Replayed here through `extractor run`: whatever the model cited, every
result's value, unit and evidence come from the text, and the label policy decides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx
from click.testing import CliRunner

from extractor.cli import cli
from extractor.core.facts import analyze
from extractor.core.labels import label_all
from tests.support.cassette import load, replay
from tests.support.shared import BASE_URL, SHARED, models_list

CASSETTE = Path(__file__).resolve().parents[2] / "cassettes" / "qwen2.5-coder-1.5b-anchored.json"
DEV2 = SHARED / "gold" / "dev2.jsonl"


def cited(cassette: dict[str, Any]) -> list[list[dict[str, Any]]]:
    out = []
    for exchange in cassette["interactions"]:
        content = exchange["response"]["body"]["choices"][0]["message"]["content"]
        out.append(json.loads(content).get("results", []))
    return out


def run(tmp_path: Path, labels: str) -> tuple[list[dict[str, Any]], Any]:
    cassette = load(CASSETTE)
    n = len(cassette["interactions"])
    papers = tmp_path / "papers.jsonl"
    papers.write_text("".join(DEV2.read_text(encoding="utf-8").splitlines(keepends=True)[:n]))
    out = tmp_path / f"out-{labels}.jsonl"
    replayed = replay(cassette)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE_URL}/models").mock(return_value=models_list())
        mock.post(f"{BASE_URL}/chat/completions").mock(side_effect=replayed)
        result = CliRunner().invoke(
            cli,
            ["run", str(papers), "-o", str(out), "--base-url", BASE_URL, "--prompt", "compact",
             "--results", "anchored", "--mode", "json_schema", "--model", "local-recorded",
             "--reasks", "0", "--retries", "0", "--no-cache", "-q", "--labels", labels],
        )  # fmt: skip
    assert replayed.stale == []
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text().splitlines()], cassette


def test_the_cassette_is_an_anchored_recording_from_llama_cpp() -> None:
    cassette = load(CASSETTE)
    assert cassette["recorded_with"]["results"] == "anchored"
    assert cassette["recorded_with"]["model"] == "local:qwen2.5-coder-1.5b"
    for exchange in cassette["interactions"]:
        assert "timings" in exchange["response"]["body"]  # llama.cpp's own field
        paper = exchange["request"]["body"]["messages"][-1]["content"]
        assert "<numbers>" in paper
        schema = json.dumps(exchange["request"]["body"]["response_format"])
        assert '"id"' in schema and '"evidence"' not in schema


@pytest.mark.parametrize("labels", ["rule", "model", "select=rule,delta=rule,attrs=model"])
def test_every_result_is_a_mined_number_with_the_text_as_evidence(
    tmp_path: Path, labels: str
) -> None:
    records, _ = run(tmp_path, labels)
    for record in records:
        facts = analyze(record["title"], record["abstract"])
        mined = {(n.value, n.unit) for n in facts.numbers}
        for r, span in zip(
            record["extraction"]["results"], record["spans"]["results"], strict=True
        ):
            assert (r["value"], r["unit"]) in mined
            assert record[span["field"]][span["start"] : span["end"]] == r["evidence"]


def test_under_the_model_policy_the_results_are_what_the_model_cited(tmp_path: Path) -> None:
    records, cassette = run(tmp_path, "model")
    for record, said in zip(records, cited(cassette), strict=True):
        facts = analyze(record["title"], record["abstract"])
        picked = [facts.number(str(r["id"])) for r in said]
        values = {n.value for n in picked if n is not None}
        assert {r["value"] for r in record["extraction"]["results"]} == values


def test_under_the_rule_policy_the_model_answer_does_not_matter(tmp_path: Path) -> None:
    by_rule, _ = run(tmp_path, "rule")
    for record in by_rule:
        facts = analyze(record["title"], record["abstract"])
        texts = {"title": record["title"], "abstract": record["abstract"]}
        names = [m["name"] for m in record["extraction"]["models"]]
        labels = label_all(texts, facts.numbers, record["extraction"]["benchmarks"], names)
        expected = {
            (n.value, lab.delta) for n, lab in zip(facts.numbers, labels, strict=True) if lab.result
        }
        assert {(r["value"], r["delta"]) for r in record["extraction"]["results"]} == expected
