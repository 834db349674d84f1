"""normalize.py: the keys and spellings that grounding and scoring compare by."""

from __future__ import annotations

import pytest

from extractor.core.normalize import (
    lower_keep_offsets,
    normalize_modalities,
    normalize_task,
    normalize_tasks,
    normalize_unit,
    task_words,
    text_key,
)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("times", "x"), ("fold", "x"), ("×", "x"), ("X", "x"), ("percent", "%"),
        ("pp", "points"), ("Seconds", "seconds"), ("s", "seconds"), ("fps", "FPS"),
        ("Hours", "hours"), ("Points", "points"), ("  ", None), ("null", None), ("GB", "GB"),
    ],
)  # fmt: skip
def test_normalize_unit(unit: str, expected: str | None) -> None:
    assert normalize_unit(unit) == expected


def test_normalize_modalities() -> None:
    assert normalize_modalities(
        ["Images", "vision", "Time Series", "EEG", "smell", "image", 3]
    ) == [
        "image",
        "time_series",
        "brain_signal",
    ]


def test_tasks() -> None:
    assert normalize_task("  Visual   Question Answering ") == "visual question answering"
    assert normalize_tasks(["VQA", "vqa", " ", None, "Image  Captioning"]) == [
        "vqa",
        "image captioning",
    ]


def test_task_words() -> None:
    assert task_words("Captioning of Images") == {"captioning", "of", "image"}
    assert task_words("text-to-image generation") == {"text", "to", "image", "generation"}
    assert task_words("gas") == {"gas"}  # three letters keep their "s"
    assert task_words("") == frozenset()


def test_text_key() -> None:
    assert text_key("LLaVA-1.5") == "llava15"
    assert text_key("Paper One: A Model!") == text_key("paper one - a model")
    assert text_key("α-CLIP") == "αclip" != text_key("CLIP")  # letters beyond ASCII count
    assert text_key("Straße") == "strasse"  # casefold
    assert text_key("a_b") == "ab"


def test_lower_keep_offsets() -> None:
    assert lower_keep_offsets("HTTPS://X") == "https://x"
    text = "İ HTTPS://X"  # "İ".lower() is two characters
    low = lower_keep_offsets(text)
    assert len(low) == len(text) and low.endswith("https://x")
