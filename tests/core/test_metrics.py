"""core/metrics.py: the metric vocabulary, its phrases and directions."""

from __future__ import annotations

import pytest

from extractor.core.metrics import direction, find_metrics, head_key, lookup, metric_at


def names(text: str) -> list[str]:
    return [m.name for m in find_metrics(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("an F 1-score of 83.7%", ["F1"]),
        ("93.55 F1 and a BLEU score of 29.3", ["F1", "BLEU"]),
        ("the accuracies and Acc. of both", ["accuracy", "accuracy"]),
        ("improving execution accuracy from", ["execution accuracy"]),
        ("logical form accuracy from 23.4%", ["logical form accuracy"]),
        ("a word-level perplexity of 88.8", ["word-level perplexity"]),
        ("3.6 perplex-ity better", ["perplexity"]),
        ("75.1% exact match accuracy", ["exact match"]),
        ("R@5 and ROUGE-L", ["R@5", "ROUGE-L"]),
        ("major@20 accuracy", ["major@20 accuracy"]),
        ("a 7-fold reduction in FLOPs", ["FLOPs"]),
        ("reducing training costs", ["training cost"]),
        ("the response times", ["response time"]),
    ],
)
def test_metric_phrases_as_a_table_shows_them(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_words_that_relate_a_number_to_a_metric_are_not_part_of_it() -> None:
    assert names("a higher average accuracy") == ["accuracy"]
    assert names("with 10x fewer parameters") == ["parameters"]
    assert names("over 20 seconds longer response time") == ["response time"]
    assert names("the test set perplexity") == ["perplexity"]


def test_a_generic_word_alone_is_no_metric() -> None:
    # "time", "score", "cost" name a metric only with what they measure
    assert names("at the same time, the score and the cost") == []
    assert names("inference time and the CLIP score") == ["inference time", "CLIP score"]


def test_case_matters_for_short_names_that_are_words() -> None:
    # "learning rate is 0.001": "is" is not the Inception Score
    assert names("the learning rate is 0.001") == []
    assert names("an IS of 9.2 and FID of 3.1") == ["IS", "FID"]


def test_direction() -> None:
    assert direction("FID") == "lower"
    assert direction("word error rate") == "lower"
    assert direction("word-level perplexity") == "lower"
    assert direction("inference latency") == "lower"
    assert direction("Acc.") == "higher"
    assert direction("BLEU-4") == "higher"
    assert direction("made-up metric") is None
    assert direction(None) is None


def test_spellings_of_one_metric_share_a_key() -> None:
    assert head_key("Acc.") == head_key("accuracy") == "accuracy"
    assert head_key("F1-score") == head_key("F 1") == "f1"
    assert head_key("Word-level perplexity") == head_key("word level perplexity")
    assert lookup("logical form accuracy") is lookup("accuracy")


def test_metric_at_the_start_of_a_text() -> None:
    assert metric_at(" (F 0.5) on CoNLL") is not None
    assert metric_at(" BLEU on WMT") is not None
    assert metric_at(" on WMT") is None
    assert metric_at(" score on WMT") is None
