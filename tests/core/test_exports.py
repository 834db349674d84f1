"""The leaderboard exports (core/exports.py and `extractor table --format pwc|model-index`),
read back the way their consumers read them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from extractor.cli import cli
from extractor.core.exports import exportable, model_index, pwc_tasks, slug, to_yaml
from extractor.core.leaderboard import build_rows


def res(
    value: float, bench: str | None, metric: str | None, model: str | None, **kw: Any
) -> dict[str, Any]:
    return {
        "value": value,
        "unit": kw.get("unit", "%"),
        "delta": kw.get("delta", False),
        "benchmark": bench,
        "metric": metric,
        "model": model,
        "evidence": f"{value} on {bench}",
    }


RECORDS: list[dict[str, Any]] = [
    {
        "id": "2401.00001",
        "title": "FooNet: a model",
        "abstract": "...",
        "extraction": {
            "models": [
                {"name": "FooNet", "role": "proposed", "size": None},
                {"name": "GPT-4", "role": "compared", "size": None},
            ],
            "tasks": ["question answering", "reasoning"],
            "benchmarks": ["MMLU", "GSM8K"],
            "results": [
                res(80.1, "MMLU", "accuracy", "FooNet"),
                res(86.4, "MMLU", "accuracy", "GPT-4"),
                res(55.0, "GSM8K", "accuracy", "FooNet"),
                res(120.0, "GSM8K", "latency", "FooNet", unit="ms"),
                res(2.1, "MMLU", "accuracy", "FooNet", delta=True),  # a gain: never exported
                res(70.0, "MMLU", "accuracy", None),  # names no model
                res(9.0, "MMLU", None, "FooNet"),  # names no metric
            ],
            "code_links": [
                {"url": "https://github.com/foo/net", "kind": "code"},
                {"url": "https://huggingface.co/foo/net", "kind": "model"},
            ],
        },
    },
    {
        "id": "b",
        "title": "BarNet",
        "date": "2023-05-06",
        "source": {"path": "in.jsonl", "line": 2, "url": "https://openreview.net/forum?id=bar"},
        "extraction": {
            "models": [{"name": "BarNet", "role": "proposed", "size": "7B"}],
            "tasks": [],
            "results": [
                res(82.0, "mmlu", "Accuracy", "BarNet"),
                res(12.5, "WikiText-103", "perplexity", "BarNet", unit=None),
            ],
        },
    },
]

# What the input says, as (task, dataset, metric, model, value): the exportable levels.
EXPECTED = {
    ("question answering", "MMLU", "accuracy", "FooNet", 80.1),
    ("question answering", "MMLU", "accuracy", "GPT-4", 86.4),
    ("question answering", "GSM8K", "accuracy", "FooNet", 55.0),
    ("question answering", "GSM8K", "latency [ms]", "FooNet", 120.0),
    ("Unknown task", "MMLU", "accuracy", "BarNet", 82.0),
    ("Unknown task", "WikiText-103", "perplexity", "BarNet", 12.5),
}


def rows_of(records: list[dict[str, Any]], **kw: Any) -> tuple[Any, Any]:
    data = build_rows(records, **kw)
    return exportable(data.rows), data.papers


# -- Papers with Code: a reader written from sota-extractor's taskdb v01 schemas --------------


def _check(obj: dict[str, Any], required: dict[str, Any], optional: dict[str, Any]) -> None:
    """`required` keys must be there, `optional` ones may be; each of the given type(s)."""
    assert isinstance(obj, dict)
    for key, kinds in {**required, **optional}.items():
        if key in required:
            assert key in obj, f"missing {key!r}"
        if key in obj:
            assert isinstance(obj[key], kinds), f"{key!r}: {obj[key]!r}"
    assert set(obj) <= set(required) | set(optional), set(obj) - set(required) - set(optional)


def _link(obj: dict[str, Any]) -> None:
    _check(obj, {}, {"title": str, "url": str})


def read_pwc(tasks: Any) -> set[tuple[str, str, str, str, float]]:
    """TaskSchema / DatasetSchema / SotaSchema / SotaRowSchema / LinkSchema of
    paperswithcode/sota-extractor (sota_extractor/taskdb/v01/schemas.py): field names, which are
    required, their types (paper_date: "%Y-%m-%d" or null), rows back as tuples."""
    out = set()
    assert isinstance(tasks, list)

    def task(t: dict[str, Any], parents: tuple[str, ...] = ()) -> None:
        _check(
            t,
            {"task": str},
            {"description": str, "categories": list, "datasets": list, "subtasks": list,
             "synonyms": list, "source_link": (dict, type(None))},
        )  # fmt: skip
        for sub in t.get("subtasks", []):
            task(sub)
        for ds in t.get("datasets", []):
            dataset(t["task"], ds)

    def dataset(task_name: str, ds: dict[str, Any]) -> None:
        _check(
            ds,
            {},
            {"dataset": str, "subdataset": str, "description": str, "sota": dict,
             "subdatasets": list, "dataset_links": list, "dataset_citations": list},
        )  # fmt: skip
        assert "dataset" in ds or "subdataset" in ds
        for link in ds.get("dataset_links", []) + ds.get("dataset_citations", []):
            _link(link)
        sota = ds.get("sota", {})
        _check(sota, {}, {"metrics": list, "rows": list})
        assert all(isinstance(m, str) for m in sota.get("metrics", []))
        for row in sota.get("rows", []):
            _check(
                row,
                {"model_name": str},
                {"paper_title": str, "paper_url": str, "paper_date": (str, type(None)),
                 "code_links": list, "model_links": list, "metrics": dict,
                 "uses_additional_data": bool},
            )  # fmt: skip
            if row.get("paper_date") is not None:
                dt.datetime.strptime(row["paper_date"], "%Y-%m-%d")
            for link in row.get("code_links", []) + row.get("model_links", []):
                _link(link)
            for metric, value in row.get("metrics", {}).items():
                assert metric in sota["metrics"]
                out.add(
                    (task_name, ds["dataset"], metric, row["model_name"], float(value.rstrip("%")))
                )
        for sub in ds.get("subdatasets", []):
            dataset(task_name, sub)

    for t in tasks:
        task(t)
    return out


def test_pwc_reads_back_as_the_records_levels() -> None:
    export, papers = rows_of(RECORDS)
    tasks = json.loads(json.dumps(pwc_tasks(export.rows, papers)))
    assert read_pwc(tasks) == EXPECTED
    assert export.left_out == {"delta": 1, "no model": 1, "no metric": 1}
    # Rows not filtered first are filtered the same way.
    assert read_pwc(pwc_tasks(build_rows(RECORDS).rows, papers)) == EXPECTED


def test_pwc_rows_carry_the_paper_and_its_links() -> None:
    export, papers = rows_of(RECORDS)
    tasks = {t["task"]: t for t in pwc_tasks(export.rows, papers)}
    mmlu = tasks["question answering"]["datasets"][0]
    assert mmlu["dataset"] == "MMLU" and mmlu["sota"]["metrics"] == ["accuracy"]
    best, foonet = mmlu["sota"]["rows"]  # best first
    assert best["model_name"] == "GPT-4" and best["metrics"] == {"accuracy": "86.4%"}
    assert foonet == {
        "model_name": "FooNet",
        "paper_title": "FooNet: a model",
        "paper_url": "https://arxiv.org/abs/2401.00001",
        "paper_date": None,
        "metrics": {"accuracy": "80.1%"},
        "code_links": [{"title": "github.com/foo/net", "url": "https://github.com/foo/net"}],
        "model_links": [
            {"title": "huggingface.co/foo/net", "url": "https://huggingface.co/foo/net"}
        ],
        "uses_additional_data": False,
    }
    bar = tasks["Unknown task"]["datasets"][0]["sota"]["rows"][0]
    assert (bar["paper_url"], bar["paper_date"]) == (
        "https://openreview.net/forum?id=bar",
        "2023-05-06",
    )


def test_pwc_credits_unattributed_levels_only_when_asked() -> None:
    export, papers = rows_of(RECORDS, attribute_proposed=True)
    extra = ("question answering", "MMLU", "accuracy", "FooNet", 70.0)
    assert extra not in EXPECTED
    # One value per model, dataset, metric and paper: FooNet's better 80.1 stays.
    assert read_pwc(pwc_tasks(export.rows, papers)) == EXPECTED
    alone = [
        {
            **RECORDS[0],
            "extraction": {
                **RECORDS[0]["extraction"],
                "results": [RECORDS[0]["extraction"]["results"][5]],
            },
        }
    ]
    export, papers = rows_of(alone, attribute_proposed=True)
    assert read_pwc(pwc_tasks(export.rows, papers)) == {extra}
    export, papers = rows_of(alone)
    assert pwc_tasks(export.rows, papers) == []


def test_pwc_orders_rows_best_first_in_the_metrics_direction() -> None:
    records = [
        {
            "id": p,
            "title": p,
            "extraction": {"results": [res(v, "WikiText", "perplexity", m, unit=None)]},
        }
        for p, m, v in (("a", "Big", 20.0), ("b", "Small", 35.0), ("c", "Mid", 18.5))
    ]
    export, papers = rows_of(records)
    rows = pwc_tasks(export.rows, papers)[0]["datasets"][0]["sota"]["rows"]
    assert [r["model_name"] for r in rows] == ["Mid", "Big", "Small"]


def test_pwc_of_nothing_is_an_empty_list() -> None:
    export, papers = rows_of([])
    assert pwc_tasks(export.rows, papers) == []


# -- Hugging Face model-index ----------------------------------------------------------------


def test_model_index_is_read_by_the_hubs_parser() -> None:
    from huggingface_hub import ModelCardData
    from huggingface_hub.repocard_data import model_index_to_eval_results

    export, papers = rows_of(RECORDS)
    text = "".join(
        "---\n" + to_yaml({"model-index": e}) for _, e in model_index(export.rows, papers)
    )
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == 2  # FooNet and BarNet: GPT-4 is no proposed model
    seen = set()
    for doc in docs:
        card = ModelCardData(**doc)
        name, results = model_index_to_eval_results(doc["model-index"])
        assert card.model_name == name and len(card.eval_results) == len(results)
        for r in results:
            assert r.task_type == slug(r.task_name) and r.dataset_type == slug(r.dataset_name)
            assert r.metric_type == slug(r.metric_name.split(" [")[0])
            seen.add((r.task_name, r.dataset_name, r.metric_name, name, r.metric_value))
            if name == "FooNet":
                assert (r.source_name, r.source_url) == (
                    "FooNet: a model",
                    "https://arxiv.org/abs/2401.00001",
                )
    assert seen == {e for e in EXPECTED if e[3] != "GPT-4"}


def test_model_index_has_only_proposed_models_with_results() -> None:
    records = [
        {"id": "x", "title": "X", "extraction": {"models": [{"name": "Lonely", "role": "proposed"}],
                                               "results": [res(1.0, "B", "acc", "Other")]}},
    ]  # fmt: skip
    export, papers = rows_of(records)
    assert model_index(export.rows, papers) == []


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_yaml_writer_round_trips_through_pyyaml(value: Any) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(value, ensure_ascii=False)):
        return  # lone surrogates: no Unicode text holds them
    assert yaml.safe_load(to_yaml({"k": value})) == {"k": value}


@pytest.mark.parametrize(
    "value",
    ["no", "NULL", "~", "1e3", "2024-01-01", "a: b", "- x", "#c", "\x85", "\u2028", "\ufeff",
     "\x00\x1b", "tab\there", "'q' \"dq\" \\", 1e-05, 1e16, -0.0, 85.0, 0, True, None, [], {}],
)  # fmt: skip
def test_yaml_writer_keeps_what_yaml_1_1_would_reinterpret(value: Any) -> None:
    assert yaml.safe_load(to_yaml({"k": value, str(value): 1})) == {"k": value, str(value): 1}


# -- through the CLI -------------------------------------------------------------------------


def run_table(tmp_path: Path, *args: str) -> Any:
    path = tmp_path / "out.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n", encoding="utf-8")
    return CliRunner().invoke(cli, ["table", str(path), *args], catch_exceptions=False)


def test_cli_formats_pwc_and_model_index(tmp_path: Path) -> None:
    result = run_table(tmp_path, "--format", "pwc")
    assert result.exit_code == 0
    assert read_pwc(json.loads(result.stdout)) == EXPECTED
    assert "left out: 1 delta, 1 no metric, 1 no model; --attribute-proposed" in result.stderr
    result = run_table(tmp_path, "--format", "model-index", "--benchmark", "mmlu")
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["model-index"][0]["name"] for d in docs] == ["FooNet", "BarNet"]
    assert {len(d["model-index"][0]["results"]) for d in docs} == {1}


@pytest.mark.parametrize("fmt", ["pwc", "model-index"])
def test_cli_export_with_pivot_is_a_usage_error(tmp_path: Path, fmt: str) -> None:
    result = run_table(tmp_path, "--format", fmt, "--pivot")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "drop --pivot" in result.stderr
