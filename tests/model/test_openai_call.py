"""What `OpenAICall` hands on: an answer with the API key echoed in it never reaches the
cache, the output or its warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_run import EMPTY, invoke, read_jsonl, write_jsonl
from tests.support.shared import reply

KEY = "sk-proj-Zq8vT3xY7wPq2LmN4bR6cD1eF5gH9jK0aB3cD7eF9gH2"
MASKED = "sk-proj-****************************************gH2"


def _echoing(request: Any) -> Any:
    return reply(
        {
            **EMPTY,
            "models": [
                {"name": "EchoNet", "role": "proposed", "size": None},
                {"name": KEY, "role": "mentioned", "size": None},
                {"name": f"key {MASKED} was used", "role": "mentioned", "size": None},
            ],
            "tasks": [f"classification (auth: {KEY[:20]})", "key-value retrieval"],
            "benchmarks": [f"Bearer {KEY}"],
        }
    )


@pytest.mark.parametrize("keep", [False, True], ids=["grounded", "keep-ungrounded"])
def test_an_echoed_key_reaches_neither_cache_nor_output(
    api: Any, tmp_path: Path, _isolated_env: Path, keep: bool
) -> None:
    api.post("/chat/completions").mock(side_effect=_echoing)
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [{"title": "EchoNet", "abstract": "We propose EchoNet for key-value retrieval."}],
    )
    out = tmp_path / "out.jsonl"
    args = [str(src), "-o", str(out)] + (["--keep-ungrounded"] if keep else [])
    result = invoke(*args, env={"OPENAI_API_KEY": KEY})
    assert result.exit_code == 0, result.stderr
    written = out.read_text()
    for secret in (KEY, MASKED, KEY[:20], KEY[-12:]):
        assert secret not in written
        assert secret not in result.stderr
        for path in _isolated_env.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    (record,) = read_jsonl(out)
    assert "EchoNet" in [m["name"] for m in record["extraction"]["models"]]
    assert "key-value retrieval" in record["extraction"]["tasks"]  # a word, not a secret
    assert "[REDACTED]" in json.dumps(record) or not keep


def test_scrubbing_leaves_answers_without_the_key_as_they_are() -> None:
    from extractor.model.openai_call import scrub_secret

    answer = {"models": [{"name": "sk-learn", "size": None}], "tasks": ["key-value store"]}
    assert scrub_secret(answer, KEY) == answer
    assert scrub_secret({"x": [KEY, 1.5, None]}, KEY) == {"x": ["[REDACTED]", 1.5, None]}
    assert scrub_secret({"x": KEY}, None) == {"x": KEY}  # no key, nothing of ours to hide
