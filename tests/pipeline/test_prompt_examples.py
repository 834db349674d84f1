"""The worked examples in the full prompt teach what they show: every name, number and URL in an
example stands in its own text, and its anchored form cites the ids the miner gives its numbers."""

from __future__ import annotations

import json

from extractor.core.facts import analyze
from extractor.core.ground import ground
from extractor.core.schema import Extraction
from extractor.pipeline.prompt import load_prompt


def test_every_item_of_an_example_is_grounded_in_its_own_text() -> None:
    for ex in load_prompt("full", "free").examples:
        answer = Extraction.model_validate(ex["extraction"])
        g = ground(answer, ex["title"], ex["abstract"])
        assert g.warnings == [], ex["title"]
        assert g.extraction.model_dump() == answer.model_dump(), ex["title"]
        assert all(span is not None for spans in g.spans.values() for span in spans)


def test_the_anchored_examples_cite_the_numbers_their_papers_list() -> None:
    prompt = load_prompt("full", "anchored")
    assert prompt.examples, "the full prompt has worked examples"
    cited = 0
    for ex in prompt.examples:
        facts = analyze(ex["title"], ex["abstract"])
        written = ex["extraction"]["results"]
        refs = ex["_answer"]["results"]
        assert len(refs) == len(written)
        for ref, result in zip(refs, written, strict=True):
            n = facts.number(ref["id"])
            assert n is not None and n.value == result["value"] and n.unit == result["unit"]
            assert f"{n.id}: {n.written}" in ex["_paper"]  # the id is in what the model reads
            cited += 1
        # the assistant turn the model sees holds no written-out number
        assert "evidence" not in json.dumps(ex["_answer"]["results"])
    assert cited > 0


def test_rule_mode_asks_for_no_results() -> None:
    from extractor.core.schema import reply_model

    prompt = load_prompt("compact", "rule")
    assert "results" not in prompt.system
    assert "<numbers>" not in prompt.render_paper(
        "T", "We gain 2.1%.", analyze("T", "We gain 2.1%.").numbers
    )
    assert "results" not in reply_model("rule").model_json_schema()["properties"]
    for ex in load_prompt("full", "rule").examples:
        assert "results" not in ex["_answer"]
