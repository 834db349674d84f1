"""Grounding a benchmark's name: the name, not the task a small model writes after it."""

from __future__ import annotations

import pytest

from extractor.core.ground import ground
from extractor.core.schema import Extraction

TEXT = (
    "On the WMT'14 English-German translation task we reach 29.3 BLEU; on the 1B Word dataset "
    "and the Stanford Question Answering Dataset we test too, and on the MMEB benchmark."
)


@pytest.mark.parametrize(
    ("answered", "grounded"),
    [
        ("WMT'14 English-German translation", "WMT'14 English-German"),
        ("1B Word dataset", "1B Word"),
        ("MMEB benchmark", "MMEB"),
        ("Stanford Question Answering Dataset", "Stanford Question Answering Dataset"),
        ("WMT'14 English-German", "WMT'14 English-German"),
    ],
)
def test_a_task_or_collection_word_after_the_name_is_dropped(answered: str, grounded: str) -> None:
    g = ground(Extraction.model_validate({"benchmarks": [answered]}), "T", TEXT)
    assert g.extraction.benchmarks == [grounded]
