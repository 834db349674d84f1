"""Issue 9: no run writes wrong data or destroys data, silently.

One record cannot abort the run; a failed run leaves the previous output as it was; the cache
never answers for another endpoint or model file, and a cache entry it cannot read is a miss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import extractor.pipeline
from tests.conftest import BASE_URL, models_list
from tests.test_run import answer, invoke, papers, read_jsonl, write_jsonl


@pytest.fixture
def api() -> Any:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        yield mock


# --- one record cannot abort the run ----------------------------------------------------------


def test_an_exception_in_grounding_fails_that_record_only(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_ground = extractor.pipeline.ground

    def ground(extraction: Any, title: str, abstract: str, **kwargs: Any) -> Any:
        if "FooNet1" in title:
            raise RuntimeError("a bug in grounding\nwith a second line")
        return real_ground(extraction, title, abstract, **kwargs)

    monkeypatch.setattr(extractor.pipeline, "ground", ground)
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert [r["title"] for r in read_jsonl(tmp_path / "out.jsonl")] == [
        "Paper 0: FooNet0",
        "Paper 2: FooNet2",
    ]
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["title"] == "Paper 1: FooNet1"
    assert error["error"]["type"] == "internal_error"
    assert error["error"]["message"] == "RuntimeError: a bug in grounding with a second line"
    assert error["error"]["attempts"] == 1

    # The answer was cached before grounding failed: once the bug is gone, the same command
    # finishes the record without a request.
    monkeypatch.setattr(extractor.pipeline, "ground", real_ground)
    again = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert again.exit_code == 0 and "3 cached" in again.stderr
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3
