"""evaluate.py and `extractor eval`: EVAL.md's scores on hand-made records, computed by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor.cli.commands.eval import eval_command
from extractor.core.evaluate import FIELDS, EvalInputError, evaluate, format_report
from tests.support.shared import GOLD


def rec(title: str, **extraction: Any) -> dict[str, Any]:
    return {"title": title, "extraction": extraction}


def r(value: float, delta: bool = False, **rest: Any) -> dict[str, Any]:
    return {"value": value, "delta": delta, "evidence": "e", **rest}


GOLD_RECORDS = [
    rec(
        "Paper One: A Model",
        models=[
            {"name": "LLaVA-1.5", "role": "proposed"},
            {"name": "GPT-4V", "role": "compared"},
            {"name": "CLIP", "role": "component"},
        ],
        modalities=["image", "text"],
        tasks=["visual question answering", "image captioning"],
        benchmarks=["MMBench", "ScienceQA"],
        results=[
            r(85.3, benchmark="MMBench", metric="accuracy", unit="%"),
            r(2.1, True, unit="points"),
        ],
        code_links=[{"url": "https://github.com/a/b", "kind": "code"}],
    ),
    rec("Paper Two", benchmarks=["VQAv2"], results=[r(3, True, unit="x")]),
    rec("Paper Three (no prediction)", models=[{"name": "X", "role": "proposed"}]),
]

PRED_RECORDS = [
    rec(
        "paper one - a model!",  # the same title once normalized
        models=[
            {"name": "llava 1.5", "role": "proposed"},  # key "llava15": paired, role right
            {"name": "GPT4V", "role": "mentioned"},  # paired, role wrong
            {"name": "BLIP-2", "role": "compared"},  # not in gold
        ],
        modalities=["image", "video"],
        tasks=["visual question-answering", "captioning of images", "retrieval"],
        benchmarks=["mmbench", "MMBench"],
        results=[
            r(85.3000001, benchmark="mm-bench", metric="Accuracy", unit="percent"),
            r(2.1, False, unit="points"),  # delta differs: not paired
        ],
        code_links=[{"url": "HTTP://www.GitHub.com/a/b/", "kind": "data"}],
    ),
    rec("Paper Two", benchmarks=["VQAv2"], results=[r(3.0, True, unit="times", metric="speed")]),
    rec("Unrelated prediction", models=[{"name": "Y", "role": "proposed"}]),
]


def test_scores_computed_by_hand() -> None:
    report = evaluate(PRED_RECORDS, GOLD_RECORDS)
    assert (report.gold_records, report.predicted_records, report.paired_records) == (3, 3, 2)
    f = report.fields

    # models: gold 3 + 0 + 1 ("X", no prediction) = 4; predicted 3 + 0 (+ "Y" ignored) = 3;
    # paired: LLaVA-1.5~"llava 1.5", GPT-4V~"GPT4V" = 2. P = 2/3, R = 2/4, F1 = 2PR/(P+R) = 4/7
    assert (f["models"].paired, f["models"].predicted, f["models"].gold) == (2, 3, 4)
    assert f["models"].precision == pytest.approx(2 / 3)
    assert f["models"].recall == pytest.approx(1 / 2)
    assert f["models"].f1 == pytest.approx(4 / 7)

    # modalities: image paired, text missed, video extra: P = 1/2, R = 1/2, F1 = 1/2
    assert (f["modalities"].paired, f["modalities"].predicted, f["modalities"].gold) == (1, 2, 2)
    assert f["modalities"].f1 == pytest.approx(0.5)

    # tasks: "visual question answering" vs "visual question-answering": keys equal -> paired.
    # "image captioning" vs "captioning of images": words {image, captioning} vs
    # {captioning, of, image} ("images" loses its "s"): Jaccard 2/3 >= 0.5 -> paired.
    # "retrieval" extra. P = 2/3, R = 2/2, F1 = 2*(2/3)*1/(2/3+1) = 4/5
    assert (f["tasks"].paired, f["tasks"].predicted, f["tasks"].gold) == (2, 3, 2)
    assert f["tasks"].f1 == pytest.approx(0.8)

    # benchmarks: MMBench pairs with "mmbench" (first match); the second "MMBench" is extra;
    # ScienceQA missed; VQAv2 paired. P = 2/3, R = 2/3, F1 = 2/3
    assert (f["benchmarks"].paired, f["benchmarks"].predicted, f["benchmarks"].gold) == (2, 3, 3)
    assert f["benchmarks"].f1 == pytest.approx(2 / 3)

    # results: 85.3 paired (|diff| = 1e-7 <= 1e-6 * 85.3); 2.1 delta differs -> not paired;
    # 3 paired. P = 2/3, R = 2/3, F1 = 2/3
    assert (f["results"].paired, f["results"].predicted, f["results"].gold) == (2, 3, 3)
    assert f["results"].f1 == pytest.approx(2 / 3)

    # code links: "HTTP://www.GitHub.com/a/b/" ~ "https://github.com/a/b": 1/1 -> F1 = 1
    assert f["code_links"].f1 == 1.0

    # macro F1 = (4/7 + 1/2 + 4/5 + 2/3 + 2/3 + 1) / 6
    expected = (4 / 7 + 1 / 2 + 4 / 5 + 2 / 3 + 2 / 3 + 1) / 6
    assert report.macro_f1 == pytest.approx(expected)

    a = report.attributes
    # roles: LLaVA-1.5 proposed = proposed, GPT-4V compared != mentioned -> 1/2
    assert (a["models.role"].correct, a["models.role"].total) == (1, 2)
    # result benchmark: "MMBench" ~ "mm-bench" (keys equal); Paper Two both null -> 2/2
    assert (a["results.benchmark"].correct, a["results.benchmark"].total) == (2, 2)
    # metric and unit compare as written (EVAL.md: only `benchmark` is normalized):
    # "accuracy" != "Accuracy"; Paper Two gold null vs "speed" -> 0/2
    assert (a["results.metric"].correct, a["results.metric"].total) == (0, 2)
    # "%" != "percent", "x" != "times" -> 0/2
    assert (a["results.unit"].correct, a["results.unit"].total) == (0, 2)
    # Beside them, normalized: "accuracy" ~ "Accuracy" -> 1/2; "%" ~ "percent", "x" ~ "times"
    lenient = report.lenient
    assert (lenient["results.metric"].correct, lenient["results.metric"].total) == (1, 2)
    assert (lenient["results.unit"].correct, lenient["results.unit"].total) == (2, 2)
    text = format_report(report)
    assert "results.metric        0.000             0/2  (normalized: 0.500)" in text
    assert report.to_dict()["attributes_lenient"]["results.unit"]["accuracy"] == 1.0
    # kind: code vs data -> 0/1
    assert (a["code_links.kind"].correct, a["code_links.kind"].total) == (0, 1)


def test_greedy_pairing_in_gold_order() -> None:
    # gold ["image captioning", "captioning"]; predicted ["captioning", "image captioning"].
    # Gold 1 "image captioning" takes the first match: "captioning" (Jaccard 1/2 >= 0.5).
    # Gold 2 "captioning" then matches the remaining "image captioning" (Jaccard 1/2). 2 pairs.
    gold = [rec("t", tasks=["image captioning", "captioning"])]
    pred = [rec("t", tasks=["captioning", "image captioning"])]
    assert evaluate(pred, gold).fields["tasks"].paired == 2
    # gold "alpha beta gamma" vs "alpha": Jaccard 1/3 < 0.5, vs "omega": 0 -> unpaired;
    # gold "alpha" pairs with "alpha". One pair, one miss, one extra.
    gold = [rec("t", tasks=["alpha beta gamma", "alpha"])]
    pred = [rec("t", tasks=["alpha", "omega"])]
    s = evaluate(pred, gold).fields["tasks"]
    assert (s.paired, s.predicted, s.gold) == (1, 2, 2)


def test_records_pair_one_to_one_by_normalized_title() -> None:
    # two gold records with one title; one prediction: the first gold gets it, the second none.
    gold = [rec("Same Title", benchmarks=["A"]), rec("same title", benchmarks=["A"])]
    pred = [rec("SAME  TITLE.", benchmarks=["A"])]
    report = evaluate(pred, gold)
    s = report.fields["benchmarks"]
    assert (report.paired_records, s.paired, s.predicted, s.gold) == (1, 1, 1, 2)


def test_error_records_predict_nothing() -> None:
    gold = [rec("T", models=[{"name": "M", "role": "proposed"}])]
    pred = [{"id": "x", "title": "T", "error": {"type": "X", "message": "m", "attempts": 3}}]
    report = evaluate(pred, gold)
    s = report.fields["models"]
    assert (report.paired_records, s.paired, s.predicted, s.gold) == (1, 0, 0, 1)
    assert s.precision == 0.0 and s.recall == 0.0 and s.f1 == 0.0


def test_fields_empty_on_both_sides() -> None:
    # nothing expected and nothing predicted: perfect (1.0), the accuracy has nothing to judge
    report = evaluate([rec("T")], [rec("T")])
    assert all(report.fields[f].f1 == 1.0 for f in FIELDS)
    assert report.macro_f1 == 1.0
    assert report.attributes["models.role"].accuracy is None
    # predicted where gold has nothing: precision 0/1, recall defined as 0 -> F1 0
    report = evaluate([rec("T", benchmarks=["B"])], [rec("T")])
    assert report.fields["benchmarks"].f1 == 0.0


@pytest.mark.parametrize(
    ("pred", "message"),
    [
        ([rec("T", models="M")], "'models' is not a list"),
        ([rec("T", models=["M"])], "not an object"),
        ([rec("T", results=[{"value": "high", "evidence": "e"}])], "not a finite number"),
        ([{"title": "T", "extraction": []}], "'extraction' is not an object"),
        ([rec("T", benchmarks=[3])], "is not a string"),
    ],
)
def test_malformed_predictions_raise_a_named_error(pred: list[Any], message: str) -> None:
    with pytest.raises(EvalInputError, match=message):
        evaluate(pred, [rec("T")])


def test_format_report_is_a_readable_table() -> None:
    text = format_report(evaluate(PRED_RECORDS, GOLD_RECORDS))
    lines = text.splitlines()
    assert lines[0].split() == ["field", "precision", "recall", "F1", "paired", "pred", "gold"]
    assert lines[1].split() == ["models", "0.667", "0.500", "0.571", "2", "3", "4"]
    assert "models.role" in text and "1/2" in text
    assert lines[-2] == "macro F1 over 6 fields: 0.701"  # (4/7+1/2+4/5+2/3+2/3+1)/6 = 0.7008
    assert lines[-1].startswith("result tuples F1: ")


def test_result_tuples_need_value_delta_benchmark_metric_and_model() -> None:
    gold = [
        rec(
            "T",
            results=[
                r(86.4, benchmark="MMLU", metric="accuracy", model="GPT-4"),
                r(80.1, benchmark="MMLU", metric="accuracy", model="FooNet"),
                r(2.0, True, benchmark=None, metric="F1", model=None),
            ],
        )
    ]
    pred = [
        rec(
            "T",
            results=[
                r(86.4, benchmark="mmlu", metric="Accuracy", model="FooNet"),  # model wrong
                r(80.1, benchmark="MMLU", metric="accuracy", model="foo-net"),  # whole
                r(2.0, True, metric="F1"),  # whole: null benchmark and model on both sides
            ],
        )
    ]
    report = evaluate(pred, gold)
    t = report.tuples
    assert (t["tuple"].paired, t["tuple"].predicted, t["tuple"].gold) == (2, 3, 3)
    assert t["value+benchmark"].paired == 3
    assert t["value+metric"].paired == 3
    assert t["value+model"].paired == 2
    assert report.fields["results"].paired == 3
    assert report.attributes["results.model"].correct == 2
    as_json = report.to_dict()["tuples"]["tuple"]
    assert as_json["paired"] == 2 and as_json["f1"] == pytest.approx(2 / 3)


def test_result_tuples_pair_a_value_with_the_prediction_whose_names_match() -> None:
    # Two predictions of the same value: pairing by value alone takes the first; the tuple
    # pairs with the second, whose attributes match the gold's.
    gold = [rec("T", results=[r(5.0, benchmark="B", metric="m", model="X")])]
    pred = [
        rec(
            "T",
            results=[
                r(5.0, benchmark="A", metric="m", model="X"),
                r(5.0, benchmark="B", metric="m", model="X"),
            ],
        )
    ]
    report = evaluate(pred, gold)
    assert report.tuples["tuple"].paired == 1
    assert report.attributes["results.benchmark"].correct == 0  # rule 3 pairs the first


# --- the command ---------------------------------------------------------------------------------


def write(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in records), encoding="utf-8")
    return path


def test_cli_prints_tables_and_json(tmp_path: Path) -> None:
    pred = write(tmp_path / "pred.jsonl", PRED_RECORDS)
    gold = write(tmp_path / "gold.jsonl", GOLD_RECORDS)
    out = CliRunner().invoke(eval_command, [str(pred), str(gold)])
    assert out.exit_code == 0, out.output
    assert "macro F1 over 6 fields: 0.701" in out.output
    out = CliRunner().invoke(eval_command, [str(pred), str(gold), "--json"])
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert data["macro_f1"] == pytest.approx((4 / 7 + 1 / 2 + 4 / 5 + 2 / 3 + 2 / 3 + 1) / 6)
    assert data["fields"]["models"] == {
        "precision": pytest.approx(2 / 3), "recall": 0.5, "f1": pytest.approx(4 / 7),
        "paired": 2, "predicted": 3, "gold": 4,
    }  # fmt: skip
    assert data["attributes"]["models.role"] == {"accuracy": 0.5, "correct": 1, "paired": 2}
    assert data["records"] == {"gold": 3, "predicted": 3, "paired": 2}


def test_cli_gold_against_itself_is_perfect() -> None:
    if not GOLD.exists():
        pytest.skip("shared/gold not available")
    out = CliRunner().invoke(eval_command, [str(GOLD), str(GOLD), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["macro_f1"] == 1.0
    assert all(f["f1"] == 1.0 for f in data["fields"].values())
    assert all(a["accuracy"] == 1.0 for a in data["attributes"].values())


def test_cli_bad_input_is_a_one_line_error(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.jsonl", GOLD_RECORDS)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "T"}\n\n{not json\n', encoding="utf-8")
    cases = [
        ([str(tmp_path / "missing.jsonl"), str(gold)], "missing.jsonl: no such file"),
        ([str(bad), str(gold)], "bad.jsonl:3: invalid JSON"),
        ([str(gold), str(bad)], "bad.jsonl:3: invalid JSON"),
        ([str(tmp_path), str(gold)], "is a directory"),
        ([str(gold), str(write(tmp_path / "list.jsonl", [[1, 2]]))], "list.jsonl:1: not a JSON object"),
        ([str(write(tmp_path / "p.jsonl", [rec(t["title"], models="x") for t in GOLD_RECORDS])),
          str(gold)], "'models' is not a list"),
    ]  # fmt: skip
    for args, message in cases:
        out = CliRunner().invoke(eval_command, args)
        assert out.exit_code == 2, out.output
        assert message in out.output
        assert len(out.output.strip().splitlines()) == 1, out.output
        assert "Traceback" not in out.output
