"""`extractor run --model local:...` end to end: the embedded server, the real client path.

SmolLM2-135M is far too small to extract well; this checks the plumbing (server started and
stopped by the run, instructor's json_schema request answered, records validated, grounded
and written), not quality. Its greedy answers to these two short abstracts end within the
token budget; it loops on most longer ones, which is why the budget is capped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from extractor.cli import cli
from extractor.core.schema import Extraction

PAPERS = [
    {
        "id": "t1",
        "title": "Music Tagging with Transformers",
        "abstract": "We study music tagging. We train a transformer on songs and compare it "
        "with convolutional networks.",
    },
    {
        "id": "t2",
        "title": "Speech Emotion Recognition with Transformers",
        "abstract": "We study speech emotion recognition. We train a transformer on audio "
        "clips and compare it with recurrent networks.",
    },
]


@pytest.mark.local_model
def test_run_with_the_tiny_embedded_model(tmp_path: Path) -> None:
    papers = tmp_path / "papers.jsonl"
    papers.write_text("".join(json.dumps(p) + "\n" for p in PAPERS))
    out = tmp_path / "out.jsonl"
    args = [
        "run", str(papers), "-o", str(out), "--model", "local:smollm2-135m",
        "--prompt", "full", "--max-tokens", "256", "--reasks", "0", "--retries", "0",
        "--concurrency", "1", "--no-cache", "--quiet",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 3), result.output

    records = [json.loads(line) for line in out.read_text().splitlines()]
    errors_file = tmp_path / "out.errors.jsonl"
    errors = (
        [json.loads(x) for x in errors_file.read_text().splitlines()]
        if errors_file.exists()
        else []
    )
    assert sorted(r["id"] for r in records + errors) == ["t1", "t2"]
    assert records, f"no valid record from the tiny model: {errors}"
    for record in records:
        Extraction.model_validate(record["extraction"])
        assert record["meta"]["model"] == "local:smollm2-135m"
        assert record["meta"]["input_tokens"] > 0 and record["meta"]["output_tokens"] > 0
        # a local model is not asked for results: they come from the miner and the rules
        assert record["meta"]["prompt_version"].startswith("full-r-")
    for error in errors:
        assert error["error"]["type"] and error["error"]["message"]
