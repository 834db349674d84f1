"""The library API on the real embedded server with the tiny model (SmolLM2-135M).

The plumbing, not quality: one `Extractor` starts the server on first use, answers a paper
with `extract` and a list with `run` through the same client, and stops it on `close()`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor import Extractor
from extractor.core.schema import Extraction
from tests.model.test_local_run import PAPERS


@pytest.mark.local_model
def test_the_library_api_on_the_tiny_embedded_model(tmp_path: Path) -> None:
    ex = Extractor(
        model="local:smollm2-135m",
        prompt="full",
        max_tokens=256,
        reasks=0,
        retries=0,
        concurrency=1,
        cache_dir=tmp_path / "cache",
    )
    with ex:
        first = ex.extract(PAPERS[0]["title"], PAPERS[0]["abstract"], raise_errors=False)
        results = list(ex.run(PAPERS))
    assert [r["id"] for r in results] == ["t1", "t2"]
    assert first["title"] == PAPERS[0]["title"]
    records = [r for r in [first, *results] if "error" not in r]
    assert records, f"no valid record from the tiny model: {results}"
    for record in records:
        Extraction.model_validate(record["extraction"])
        assert record["meta"]["model"] == "local:smollm2-135m"
    # The same text asked twice: the cache answers (it is keyed on the text, not the id).
    if "error" not in first:
        assert results[0]["meta"]["cached"] is True
        assert results[0]["extraction"] == first["extraction"]
    assert ex.stats.papers == 3
    with pytest.raises(RuntimeError, match="closed"):
        ex.extract("t", "a")
