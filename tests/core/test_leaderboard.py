"""Canonical names, result rows and the pivot (core/leaderboard.py), on hand-made records."""

from __future__ import annotations

from typing import Any

import pytest

from extractor.core.leaderboard import (
    Canon,
    Column,
    build_rows,
    filter_rows,
    fold,
    lower_is_better,
    name_key,
    pivot,
)


def result(
    value: Any,
    benchmark: str | None = None,
    metric: str | None = None,
    model: str | None = None,
    *,
    unit: str | None = "%",
    delta: bool = False,
    evidence: str = "",
) -> dict[str, Any]:
    return {
        "value": value,
        "unit": unit,
        "delta": delta,
        "benchmark": benchmark,
        "metric": metric,
        "model": model,
        "evidence": evidence,
    }


def record(
    rid: str,
    results: list[Any],
    *,
    models: list[Any] | None = None,
    benchmarks: list[Any] | None = None,
    links: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": rid,
        "title": f"Paper {rid}",
        "abstract": "...",
        "extraction": {
            "models": models or [],
            "benchmarks": benchmarks or [],
            "results": results,
            "code_links": links or [],
        },
    }


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [
        ("benchmark", "MS-COCO", "ms coco"),
        ("benchmark", "MS-COCO", "COCO"),
        ("benchmark", "MSCOCO", "coco"),
        ("benchmark", "PTB", "Penn Treebank"),
        ("benchmark", "VQAv2", "VQA v2"),
        ("benchmark", "VQA-v2", "vqa_v2"),
        ("benchmark", "Flickr30K", "flickr-30k"),
        ("metric", "acc", "Accuracy"),
        ("metric", "acc.", "accuracy"),
        ("metric", "top-1 accuracy", "Top1 Acc"),
        ("metric", "R@1", "recall@1"),
        ("model", "LLaVA-1.5", "llava 1.5"),
        ("model", "Video_LLaMA", "Video-LLaMA"),
        ("model", "GPT\u20114V", "gpt-4v"),  # a non-breaking hyphen from a PDF
        ("model", "ＧＰＴ-４", "GPT-4"),  # full-width, from a PDF
        ("model", "GPT-4 (2023)", "gpt4 2023"),  # punctuation is not part of a name
        # the metric vocabulary (core/metrics.py) merges what the aliases did, and more
        ("metric", "mean average precision", "mAP"),
        ("metric", "EM", "exact match"),
        ("metric", "B@4", "BLEU-4"),
        ("metric", "R@10", "Recall@10"),
        ("metric", "F1-score", "F1"),
        ("metric", "BLEU score", "BLEU"),
        ("metric", "PPL", "perplexity"),
        ("metric", "word error rate", "WER"),
        ("metric", "Top1 Acc", "top-1 accuracy"),
        ("metric", "RMSE", "root mean squared error"),
        ("metric", "MSE", "mean squared error"),
    ],
)
def test_names_that_differ_only_in_spelling_share_a_key(kind: Any, a: str, b: str) -> None:
    assert name_key(kind, a) == name_key(kind, b)


@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [
        ("model", "LLaVA-1.5", "LLaVA-15"),  # dots are part of a version
        ("model", "Qwen2-1.5B", "Qwen2-15B"),  # and of a size
        ("model", "LLaVA-1.5", "LLaVA-1.6"),
        ("benchmark", "COCO", "RefCOCO"),
        ("benchmark", "VQAv2", "VQAv1"),
        ("metric", "top-1 accuracy", "top-5 accuracy"),
        ("metric", "accuracy", "balanced accuracy"),
        ("metric", "accuracy", "execution accuracy"),  # a modifier names another metric
        ("metric", "BLEU", "ROUGE"),
        ("metric", "R@1", "R@5"),
        ("metric", "MSE", "RMSE"),  # one vocabulary entry, two metrics
        ("metric", "GFLOPs", "FLOPs"),
        ("metric", "CLIP-T", "CLIP-I"),
        ("metric", "top-1 error", "top-5 error"),  # a number the vocabulary's key drops
        ("metric", "top-1 error", "error"),
        ("metric", "F1@5", "F1"),
        ("model", "acc", "accuracy"),  # aliases are per kind
    ],
)
def test_different_names_stay_apart(kind: Any, a: str, b: str) -> None:
    assert name_key(kind, a) != name_key(kind, b)


def test_fold_drops_case_spacing_separators_and_trailing_punctuation() -> None:
    assert fold("  Video - LLaMA_2. ") == "videollama2"
    assert fold("LLaVA-1.5") == "llava1.5"


def test_fold_is_the_eval_name_key_where_no_decimal_point_is_involved() -> None:
    from extractor.core.normalize import text_key

    for name in ["Video-LLaMA", "GPT-4V", "α-CLIP", "MS COCO", "R@1", "Straße", "InternVL 2"]:
        assert fold(name) == text_key(name)


def test_canonical_is_the_most_frequent_spelling() -> None:
    canon = Canon()
    for name in ["MS-COCO", "COCO", "coco", "COCO", "MSCOCO"]:
        canon.add("benchmark", name)
    assert canon.canonical("benchmark", "mscoco") == "COCO"
    assert canon.canonical("benchmark", "ms coco") == "COCO"  # unseen spelling, known group


def test_a_metrics_vocabulary_spelling_is_canonical_over_more_frequent_ones() -> None:
    canon = Canon()
    for name in ["Acc.", "Acc.", "accuracy", "fewer parameters", "fewer parameters", "parameters"]:
        canon.add("metric", name)
    assert canon.canonical("metric", "acc") == "accuracy"
    assert canon.canonical("metric", "fewer parameters") == "parameters"
    for name in ["R@1", "Recall@1", "R@1"]:  # both the vocabulary's: the count decides
        canon.add("metric", name)
    assert canon.canonical("metric", "recall@1") == "R@1"


def test_canonical_ties_go_to_the_first_spelling_seen() -> None:
    canon = Canon()
    for name in ["VQA v2", "VQAv2", "vqa-v2"]:
        canon.add("benchmark", name)
    assert canon.canonical("benchmark", "VQAv2") == "VQA v2"
    canon.add("benchmark", "VQAv2")
    assert canon.canonical("benchmark", "VQA v2") == "VQAv2"


def test_unknown_and_empty_names() -> None:
    canon = Canon()
    assert canon.canonical("benchmark", "NewBench") == "NewBench"
    assert canon.canonical("benchmark", "  ") is None
    assert canon.canonical("metric", "null") is None
    assert canon.canonical("model", None) is None


def test_merges_list_only_groups_with_several_spellings() -> None:
    records = [
        record("a", [result(1, "MS-COCO", "acc"), result(2, "COCO", "accuracy")]),
        record("b", [result(3, "COCO", "accuracy"), result(4, "ImageNet", "top-1")]),
    ]
    merges = Canon.from_records(records).merges()
    assert [(m.kind, m.canonical, m.variants) for m in merges] == [
        ("benchmark", "COCO", (("COCO", 2), ("MS-COCO", 1))),
        ("metric", "accuracy", (("accuracy", 2), ("acc", 1))),
    ]
    assert merges[0].describe() == "benchmark: 'COCO' <- 'COCO' x2, 'MS-COCO' x1"


def test_spellings_are_counted_in_benchmark_lists_and_model_lists_too() -> None:
    records = [
        record(
            "a",
            [result(1, "mmbench", model="llava")],
            benchmarks=["MMBench", "MMBench"],
            models=[{"name": "LLaVA", "role": "compared"}],
        ),
    ]
    canon = Canon.from_records(records)
    assert canon.canonical("benchmark", "mmbench") == "MMBench"
    assert canon.canonical("model", "llava") == "LLaVA"  # tie: the models list is read first


# -- rows -----------------------------------------------------------------------------------


def test_rows_use_canonical_names_and_the_first_code_link() -> None:
    records = [
        record(
            "a",
            [result(78.2, "MS-COCO", "acc", "TinyVLM", evidence="78.2% on MS-COCO")],
            links=[
                {"url": "https://tiny.example", "kind": "project_page"},
                {"url": "https://github.com/a/b", "kind": "code"},
            ],
        ),
        record(
            "b",
            [result(80.1, "COCO", "accuracy", "LLaVA")],
            links=[{"url": "https://hf.co/x", "kind": "model"}],
        ),
        record("c", [result(70.0, "COCO", "accuracy")]),
    ]
    rows = build_rows(records).rows
    assert [(r.paper_id, r.benchmark, r.metric, r.value) for r in rows] == [
        ("a", "COCO", "accuracy", 78.2),
        ("b", "COCO", "accuracy", 80.1),
        ("c", "COCO", "accuracy", 70.0),
    ]
    assert [r.code_url for r in rows] == ["https://github.com/a/b", "https://hf.co/x", None]
    assert rows[0].as_dict()["evidence"] == "78.2% on MS-COCO"
    assert list(rows[0].as_dict()) == [
        "paper_id",
        "title",
        "model",
        "model_source",
        "benchmark",
        "metric",
        "value",
        "unit",
        "delta",
        "evidence",
        "code_url",
    ]


def test_rows_tolerate_partial_and_malformed_records() -> None:
    records: list[dict[str, Any]] = [
        {"id": "err", "title": "failed", "error": {"type": "Timeout", "message": "x"}},
        {"id": "old", "extraction": {"results": [{"value": "85.3%", "evidence": "85.3%"}]}},
        {"extraction": {"results": "not a list", "models": None}},
        {
            "id": "bad",
            "extraction": {
                "results": [
                    "a string",
                    {"value": None},
                    {"value": True},
                    {"value": "n/a"},
                    {"value": float("nan")},
                    {"value": 3, "delta": "true", "benchmark": 7, "metric": ["x"], "unit": ""},
                ]
            },
        },
        {"id": "noext", "extraction": None},
    ]
    data = build_rows(records)
    assert data.records_without_extraction == 2
    assert data.results_skipped == 5
    assert [(r.paper_id, r.value, r.delta, r.benchmark, r.unit) for r in data.rows] == [
        ("old", 85.3, False, None, None),
        ("bad", 3.0, True, None, None),
    ]
    assert data.rows[0].title == ""


def test_a_result_naming_no_model_is_credited_to_the_proposed_model_only_when_asked() -> None:
    one = record(
        "a",
        [result(50, "X")],
        models=[{"name": "Ours", "role": "proposed"}, {"name": "Base", "role": "compared"}],
    )
    two = record(
        "b",
        [result(60, "X")],
        models=[{"name": "P1", "role": "proposed"}, {"name": "P2", "role": "proposed"}],
    )
    rows = build_rows([one, two]).rows
    assert [(r.model, r.model_source) for r in rows] == [(None, None), (None, None)]
    pv = pivot(rows)
    assert pv.cells == {} and pv.unattributed == 2
    rows = build_rows([one, two], attribute_proposed=True).rows
    assert [(r.model, r.model_source) for r in rows] == [("Ours", "proposed"), (None, None)]
    pv = pivot(rows, unattributed_row=True)
    assert [(m, c.model_source) for (m, _), c in pv.cells.items()] == [
        ("Ours", "proposed"),
        ("(unattributed)", None),
    ]
    assert (pv.unattributed, pv.attributed_to_proposed) == (1, 1)


# -- kinds ----------------------------------------------------------------------------------


def test_a_benchmark_the_paper_lists_as_a_model_is_cleared_and_leaves_the_pivot() -> None:
    # The real case: the compressed model taken for the benchmark.
    qmoe = record(
        "q",
        [result(160, "SwitchTransformer-c2048", None, "QMoE", unit="GB")],
        models=[
            {"name": "QMoE", "role": "proposed"},
            {"name": "SwitchTransformer-c2048", "role": "compared"},
        ],
    )
    data = build_rows([qmoe])
    (row,) = data.rows
    assert (row.model, row.benchmark, row.value, row.unit) == ("QMoE", None, 160.0, "GB")
    assert [(f.paper_id, f.field, f.name, f.scope) for f in data.kind_fixes] == [
        ("q", "benchmark", "SwitchTransformer-c2048", "paper")
    ]
    pv = pivot(data.rows)
    assert pv.cells == {} and pv.without_benchmark == 1


def test_a_name_another_paper_lists_as_a_model_is_no_benchmark_either() -> None:
    lists_it = record("a", [], models=[{"name": "LLaVA-HR", "role": "proposed"}])
    uses_it = record("b", [result(20, "llava hr", "inference time", "gamma-MoD", unit="ms")])
    data = build_rows([lists_it, uses_it])
    assert data.rows[0].benchmark is None
    assert [(f.field, f.name, f.scope) for f in data.kind_fixes] == [
        ("benchmark", "llava hr", "corpus")
    ]


def test_a_model_listed_as_a_benchmark_is_cleared_and_the_row_goes_unattributed() -> None:
    data = build_rows([record("a", [result(50, "MMLU", "acc", "MMBench")], benchmarks=["MMBench"])])
    assert (data.rows[0].model, data.rows[0].model_source) == (None, None)
    assert [(f.field, f.name, f.scope) for f in data.kind_fixes] == [("model", "MMBench", "paper")]


def test_a_benchmark_papers_proposed_benchmark_is_not_credited_as_a_model() -> None:
    bench_paper = record(
        "a",
        [result(50, "OmniBench", "accuracy")],
        models=[{"name": "OmniBench", "role": "proposed"}],
        benchmarks=["OmniBench"],
    )
    data = build_rows([bench_paper], attribute_proposed=True)
    assert (data.rows[0].model, data.rows[0].benchmark) == (None, None)


def test_names_of_their_own_kind_stand() -> None:
    ok = record(
        "a",
        [result(80, "MMBench", "acc", "FooNet")],
        models=[{"name": "FooNet", "role": "proposed"}],
        benchmarks=["MMBench"],
    )
    data = build_rows([ok, record("b", [result(1, "Unlisted", None, "AlsoUnlisted")])])
    assert [(r.benchmark, r.model) for r in data.rows] == [
        ("MMBench", "FooNet"),
        ("Unlisted", "AlsoUnlisted"),
    ]
    assert data.kind_fixes == []


def test_pivot_never_shows_a_listed_model_as_a_benchmark_or_the_other_way() -> None:
    records = [
        record(
            "a",
            [
                result(1, "M1", "acc", "B1"),
                result(2, "B1", "acc", "M1"),
                result(3, "M2", None, None),
                result(4, "B2", "acc", "M2"),
            ],
            models=[{"name": "M1", "role": "proposed"}],
            benchmarks=["B1"],
        ),
        record(
            "b",
            [result(5, "m1", "acc", "b2")],
            models=[{"name": "M2", "role": "compared"}],
            benchmarks=["B2"],
        ),
    ]
    pv = pivot(build_rows(records, attribute_proposed=True).rows, unattributed_row=True)
    models = {fold(m) for m in ("M1", "M2")}
    benchmarks = {fold(b) for b in ("B1", "B2")}
    assert pv.cells
    for model, column in pv.cells:
        assert fold(column.benchmark) not in models
        assert fold(model) not in benchmarks


# -- papers ---------------------------------------------------------------------------------


def test_papers_carry_url_date_tasks_and_proposed_models() -> None:
    a = record("2401.01234v2", [], models=[{"name": "Ours", "role": "proposed"}])
    a["extraction"]["tasks"] = ["VQA", "captioning"]
    a["date"] = "2024-01-03T10:00:00Z"
    b = record("b", [], links=[{"url": " https://github.com/o/r ", "kind": "code"}])
    b["source"] = {"path": "in.jsonl", "line": 2, "url": "https://openreview.net/forum?id=x"}
    b["extraction"]["tasks"] = ["vqa"]
    papers = build_rows([a, b, record("c", [])]).papers
    assert papers["2401.01234v2"].url == "https://arxiv.org/abs/2401.01234v2"
    assert papers["2401.01234v2"].date == "2024-01-03"
    assert papers["2401.01234v2"].proposed == ("Ours",)
    assert papers["b"].tasks == ("VQA",)  # canonical across papers
    assert (papers["b"].url, papers["b"].links) == (
        "https://openreview.net/forum?id=x",
        (("https://github.com/o/r", "code"),),
    )
    assert (papers["c"].url, papers["c"].date, papers["c"].tasks) == (None, None, ())


def test_filters_match_after_canonicalization() -> None:
    records = [
        record(
            "a",
            [
                result(1, "MS-COCO", "acc"),
                result(2, "VQAv2", "accuracy", delta=True),
                result(3, "COCO", "CIDEr"),
                result(4, None, None),
            ],
        ),
    ]
    rows = build_rows(records).rows
    assert [r.value for r in filter_rows(rows, benchmarks=["mscoco"])] == [1, 3]
    assert [r.value for r in filter_rows(rows, benchmarks=["coco", "VQA v2"])] == [1, 2, 3]
    assert [r.value for r in filter_rows(rows, metrics=["Accuracy"])] == [1, 2]
    assert [r.value for r in filter_rows(rows, metrics=["acc"], no_delta=True)] == [1]
    assert [r.value for r in filter_rows(rows, no_delta=True)] == [1, 3, 4]


# -- pivot ----------------------------------------------------------------------------------


def test_pivot_keeps_each_models_best_level_and_its_paper() -> None:
    records = [
        record(
            "p1",
            [
                result(78.2, "MS-COCO", "acc", "TinyVLM"),
                result(80.1, "COCO", "accuracy", "LLaVA-1.5"),
            ],
        ),
        record(
            "p2",
            [
                result(81.0, "coco", "Accuracy", "TinyVLM"),
                result(5.0, "COCO", "accuracy", "TinyVLM", delta=True),  # a gain: not a level
                result(99.0, "COCO", "accuracy", "llava-1.5", delta=True),
            ],
        ),
        record(
            "p3",
            [
                result(79.0, "COCO", "accuracy", "LLaVA-1.5"),
                result(12.5, "COCO", "FID", "TinyVLM", unit=None),
                result(9.1, "COCO", "FID", "TinyVLM", unit=None),
            ],
        ),
    ]
    pv = pivot(build_rows(records).rows)
    acc = Column("COCO", "accuracy", "%")
    fid = Column("COCO", "FID", None)
    assert pv.columns == [acc, fid]
    assert pv.models == ["TinyVLM", "LLaVA-1.5"]
    tiny, llava = pv.cell("TinyVLM", acc), pv.cell("LLaVA-1.5", acc)
    assert tiny is not None and (tiny.value, tiny.paper_id) == (81.0, "p2")
    assert llava is not None and (llava.value, llava.paper_id) == (80.1, "p1")
    best_fid = pv.cell("TinyVLM", fid)
    assert best_fid is not None and (best_fid.value, best_fid.paper_id) == (9.1, "p3")
    assert pv.cell("LLaVA-1.5", fid) is None
    assert [(m, c.value) for m, c in pv.board(acc)] == [("TinyVLM", 81.0), ("LLaVA-1.5", 80.1)]
    assert fid.lower_is_better and not acc.lower_is_better
    assert acc.label == "COCO / accuracy [%]" and fid.label == "COCO / FID"


def test_pivot_never_compares_across_units_and_counts_what_it_leaves_out() -> None:
    records = [
        record(
            "a",
            [
                result(0.85, "X", "accuracy", "M", unit=None),
                result(85.0, "X", "accuracy", "M", unit="%"),
                result(70.0, None, "accuracy", "M"),
                result(60.0, "X", "accuracy", None),
            ],
        ),
    ]
    pv = pivot(build_rows(records).rows)
    assert {(c.label, pv.cells[("M", c)].value) for c in pv.columns} == {
        ("X / accuracy", 0.85),
        ("X / accuracy [%]", 85.0),
    }
    assert (pv.without_benchmark, pv.unattributed) == (1, 1)


def test_pivot_ties_keep_the_first_paper() -> None:
    records = [record("a", [result(50, "X", None, "M")]), record("b", [result(50, "X", None, "M")])]
    pv = pivot(build_rows(records).rows)
    cell = pv.cell("M", Column("X", None, "%"))
    assert cell is not None and cell.paper_id == "a"


def test_pivot_of_nothing_is_empty() -> None:
    pv = pivot([])
    assert (pv.columns, pv.models, pv.cells) == ([], [], {})


@pytest.mark.parametrize(
    ("metric", "unit", "lower"),
    [
        ("FID", None, True),
        ("word error rate", "%", True),
        ("WER", "%", True),
        ("latency", "ms", True),
        ("hallucination rate", "%", True),
        ("accuracy", "%", False),
        ("intersection over union", "%", False),  # holds "ter", which is a metric of its own
        ("CIDEr", None, False),
        ("perplexity", None, True),  # the vocabulary's direction
        ("PPL", None, True),
        ("mae", None, True),  # an acronym it matches by case
        ("inference time", "ms", True),
        ("training loss", None, True),  # words it lacks
        ("EER", "%", True),
        ("throughput", "tokens/s", False),
        ("MMLU", "%", False),  # not a metric: higher, the default
        (None, "ms", True),
        (None, "hours", True),
        (None, "%", False),
    ],
)
def test_lower_is_better(metric: str | None, unit: str | None, lower: bool) -> None:
    assert lower_is_better(metric, unit) is lower
