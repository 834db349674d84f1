"""The Extraction schema: what the model is shown, and how lenient validation is."""

from __future__ import annotations

from extractor.core.schema import MAX_TASKS, MODALITIES, Extraction


def test_lists_are_bounded_in_the_schema_the_model_sees() -> None:
    properties = Extraction.model_json_schema()["properties"]
    assert properties["modalities"]["maxItems"] == len(MODALITIES) == 14
    assert properties["tasks"]["maxItems"] == MAX_TASKS
    assert all(
        "maxItems" in properties[f] for f in ("models", "benchmarks", "results", "code_links")
    )
    # Field descriptions are prompt text: every field tells the model what it holds.
    assert all(p.get("description") for p in properties.values())


def test_a_looping_answer_is_cut_not_rejected() -> None:
    looped = Extraction.model_validate(
        {
            "modalities": ["image", "text"] + ["image"] * 500,
            "tasks": [f"task {i}" for i in range(50)],
        }
    )
    assert looped.modalities == ["image", "text"]
    assert len(looped.tasks) == MAX_TASKS


def test_synonyms_and_spellings_are_normalized_on_the_way_in() -> None:
    e = Extraction.model_validate(
        {
            "modalities": ["Vision", "language", "point cloud", "EEG", "telepathy"],
            "tasks": ["  Visual  Question Answering", "visual question answering"],
            "results": [{"value": 3, "unit": "times", "evidence": "3 times faster"}],
        }
    )
    assert e.modalities == ["image", "text", "3d", "brain_signal"]
    assert e.tasks == ["visual question answering"]
    assert e.results[0].unit == "x"
