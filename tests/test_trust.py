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


# --- a failed run leaves the previous output as it was ----------------------------------------

OLD_OUT = b'{"id": "old", "note": "a record from an earlier run"}\n'
OLD_ERRORS = b'{"id": "old-error"}\n'


def _previous_run(tmp_path: Path) -> tuple[Path, Path]:
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    out.write_bytes(OLD_OUT)
    errors.write_bytes(OLD_ERRORS)
    return out, errors


def test_a_rejected_key_leaves_the_previous_output_byte_identical(api: Any, tmp_path: Path) -> None:
    rejected = httpx.Response(401, json={"error": {"message": "bad key"}})
    api.routes[0].mock(return_value=rejected)
    chat = api.post("/chat/completions").mock(return_value=rejected)
    out, errors = _previous_run(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(out), env={"OPENAI_API_KEY": "sk-wrong"})
    assert result.exit_code == 2 and "rejected the API key" in result.stderr
    assert chat.call_count == 0
    assert out.read_bytes() == OLD_OUT and errors.read_bytes() == OLD_ERRORS
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache", "in.jsonl", "out.errors.jsonl", "out.jsonl",
    ]  # fmt: skip


def test_a_rejected_key_on_the_first_request_leaves_the_output_too(
    api: Any, tmp_path: Path
) -> None:
    # An endpoint without a usable /models: the key is refused by the chat request itself.
    api.routes[0].mock(return_value=httpx.Response(404, json={"error": {}}))
    api.post("/chat/completions").mock(
        return_value=httpx.Response(401, json={"error": {"message": "bad key"}})
    )
    out, errors = _previous_run(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(out), env={"OPENAI_API_KEY": "sk-wrong"})
    assert result.exit_code == 2 and "rejected the API key" in result.stderr
    assert out.read_bytes() == OLD_OUT and errors.read_bytes() == OLD_ERRORS
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_a_fatal_error_after_some_records_leaves_the_output_and_keeps_the_answers(
    api: Any, tmp_path: Path
) -> None:
    quota = httpx.Response(429, json={"error": {"code": "insufficient_quota", "message": "-"}})
    route = api.post("/chat/completions").mock(side_effect=[answer, quota, quota])
    out, _ = _previous_run(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    result = invoke(str(src), "-o", str(out), "-c", "1")
    assert result.exit_code == 2 and "no quota" in result.stderr
    assert out.read_bytes() == OLD_OUT
    # What was answered before the error is cached: the rerun pays for the other two only.
    route.mock(side_effect=answer)
    again = invoke(str(src), "-o", str(out))
    assert again.exit_code == 0 and "1 cached" in again.stderr
    assert [r["title"] for r in read_jsonl(out)] == [p["title"] for p in papers(3)]


def test_a_finished_run_replaces_the_output_with_exactly_its_records(
    api: Any, tmp_path: Path
) -> None:
    api.post("/chat/completions").mock(
        return_value=httpx.Response(400, json={"error": {"message": "no"}})
    )
    out, errors = _previous_run(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    result = invoke(str(src), "-o", str(out))
    assert result.exit_code == 3
    assert out.read_bytes() == b""  # every record failed: none is the old file's
    assert len(read_jsonl(errors)) == 2
    assert not (tmp_path / "out.jsonl.partial").exists()
