"""Names that differ from the text only in punctuation resolve to the text's spelling (issue 9,
case 1): a result's model written "GPT4" for the text's "GPT-4" is not nulled, so the table
cannot credit that number to anyone else."""

from __future__ import annotations

from extractor.core.ground import ground
from extractor.core.schema import Extraction

TEXT = "FooNet reaches 80.1% on MMLU, while GPT-4 reaches 86.4% and LLaVA-1.5 trails."


def run(answer: dict[str, object], abstract: str = TEXT) -> tuple[Extraction, list[str]]:
    g = ground(Extraction.model_validate(answer), "FooNet", abstract)
    return g.extraction, g.warnings


def test_a_result_model_spelled_without_punctuation_keeps_its_attribution() -> None:
    e, warnings = run(
        {"results": [{"value": 86.4, "unit": "%", "model": "GPT4", "benchmark": "mmlu",
                      "evidence": "GPT-4 reaches 86.4%"}]}
    )  # fmt: skip
    [r] = e.results
    assert r.model == "GPT-4"
    assert "result 86.4: model 'GPT4' is written 'GPT-4' in the text" in warnings
    assert r.benchmark == "mmlu"  # only case differs: found as it is, nothing to say


def test_models_and_benchmarks_take_the_text_spelling() -> None:
    e, warnings = run(
        {"models": [{"name": "LLaVA15", "role": "compared"}, {"name": "GPT 4", "role": "compared"}],
         "benchmarks": ["M-MLU"]}
    )  # fmt: skip
    assert [m.name for m in e.models] == ["LLaVA-1.5", "GPT-4"]
    assert e.benchmarks == ["MMLU"]
    assert "model 'LLaVA15' is written 'LLaVA-1.5' in the text" in warnings


def test_an_ambiguous_spelling_is_not_resolved() -> None:
    text = "We compare Qwen2-1.5B with Qwen2-15B."
    e, warnings = run({"models": [{"name": "Qwen2 15B", "role": "compared"}]}, text)
    assert e.models == []
    assert "dropped model 'Qwen2 15B': not found in the text" in warnings


def test_a_different_version_is_not_a_spelling() -> None:
    e, _ = run({"models": [{"name": "LLaVA-1.6", "role": "compared"}]})
    assert e.models == []


def test_versions_that_differ_in_a_decimal_point_are_not_merged() -> None:
    text = "We compare Qwen2-1.5B with Qwen2-15B."
    e, _ = run(
        {
            "models": [
                {"name": "Qwen2-1.5B", "role": "compared"},
                {"name": "Qwen2-15B", "role": "compared"},
            ]
        },
        text,
    )
    assert [m.name for m in e.models] == ["Qwen2-1.5B", "Qwen2-15B"]


def test_a_benchmark_is_its_name_not_a_description() -> None:
    text = "We evaluate on the MMEB benchmark and a character permuted German-English task."
    e, warnings = run(
        {
            "benchmarks": [
                "MMEB Benchmark",
                "character permuted German-English",
                "21 benchmark datasets",
            ]
        },
        text,
    )
    assert e.benchmarks == ["MMEB"]
    assert "dropped benchmark 'character permuted German-English': not a name" in warnings


def test_a_name_listed_as_model_and_benchmark_stays_a_benchmark() -> None:
    text = "We introduce CC-OCR, a benchmark for OCR, and test GPT-4o on it."
    e, warnings = run(
        {"models": [{"name": "CC-OCR", "role": "proposed"}, {"name": "GPT-4o", "role": "compared"}],
         "benchmarks": ["CC-OCR"]},
        text,
    )  # fmt: skip
    assert [m.name for m in e.models] == ["GPT-4o"]
    assert e.benchmarks == ["CC-OCR"]
    assert "dropped model 'CC-OCR': the text calls it a benchmark" in warnings


def test_a_name_the_text_does_not_call_a_benchmark_stays_a_model() -> None:
    text = "We propose an architecture termed AdapNet++ with 10x fewer parameters."
    e, warnings = run(
        {
            "models": [{"name": "AdapNet++", "role": "proposed", "size": "null"}],
            "benchmarks": ["AdapNet++"],
        },
        text,
    )
    assert [(m.name, m.size) for m in e.models] == [("AdapNet++", None)]
    assert e.benchmarks == []
    assert "dropped benchmark 'AdapNet++': listed as a model, not called a benchmark" in warnings
