"""Grounding a model's name: the acronym the text gives, and no generic phrase."""

from __future__ import annotations

import pytest

from extractor.core.ground import ground
from extractor.core.schema import Extraction

TEXT = (
    "We introduce the Densely Interactive Inference Network (DIIN), trained with cross entropy "
    "loss; our model beats an LSTM-based model and the attentional baseline of GPT-4."
)


def names(*answered: str) -> list[str]:
    models = [{"name": n, "role": "compared"} for n in answered]
    g = ground(Extraction.model_validate({"models": models}), "T", TEXT)
    return [m.name for m in g.extraction.models]


def test_a_full_name_with_its_acronym_is_the_acronym() -> None:
    assert names("Densely Interactive Inference Network (DIIN)") == ["DIIN"]
    assert names("Densely Interactive Inference Network") == [
        "Densely Interactive Inference Network"
    ]


@pytest.mark.parametrize(
    "phrase", ["our model", "cross entropy loss", "LSTM-based model", "attentional"]
)
def test_a_generic_phrase_is_no_model(phrase: str) -> None:
    assert names(phrase, "GPT-4") == ["GPT-4"]
