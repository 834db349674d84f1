"""Leaderboards in the formats other tools read: Papers with Code's evaluation tables and the
Hugging Face model card's `model-index`. Pure: result rows in, plain data (or YAML text) out.

What is exported, and the rules the formats need but the records do not say:
- Only levels (a delta is a gain over an unstated baseline, not a score) that name a
  benchmark, a metric and a model. With `--attribute-proposed` the model may be the one the
  rows were credited to (see leaderboard.build_rows); otherwise a number no text ties to a
  model is left out, since both formats key a row by its model. A level that names no metric
  is left out too: neither format has a row without one, and inventing "score" would put
  unlike numbers in one column. `Export.left_out` counts each reason.
- Results carry no task. A row's task is its paper's first task (canonical across papers),
  else `UNKNOWN_TASK`.
- A metric is keyed by its name, with its unit in brackets unless the unit is "%"
  ("latency [ms]"); a "%" value is written "85.3%" in Papers with Code, as its tables did.
- One paper reporting two values for one model, dataset and metric keeps the better one in
  the metric's direction: both formats hold one value per key.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from extractor.core.leaderboard import Paper, ResultRow, lower_is_better, number_text

UNKNOWN_TASK = "Unknown task"


@dataclass
class Export:
    rows: list[ResultRow]  # the rows exported
    left_out: Counter[str] = field(default_factory=Counter)  # reason -> how many rows


def exportable(rows: Iterable[ResultRow]) -> Export:
    out = Export([])
    for row in rows:
        reason = (
            "delta"
            if row.delta
            else "no benchmark"
            if not row.benchmark
            else "no model"
            if not row.model
            else "no metric"
            if not row.metric
            else None
        )
        if reason:
            out.left_out[reason] += 1
        else:
            out.rows.append(row)
    return out


def metric_key(row: ResultRow) -> str:
    return f"{row.metric} [{row.unit}]" if row.unit and row.unit != "%" else str(row.metric)


def task_of(row: ResultRow, papers: Mapping[str, Paper]) -> str:
    paper = papers.get(row.paper_id)
    return paper.tasks[0] if paper and paper.tasks else UNKNOWN_TASK


def _better(row: ResultRow, old: ResultRow | None) -> bool:
    if old is None:
        return True
    lower = lower_is_better(row.metric, row.unit)
    return row.value < old.value if lower else row.value > old.value


# -- Papers with Code ------------------------------------------------------------------------
# The evaluation-tables JSON (paperswithcode/sota-extractor, taskdb v01): a list of tasks,
# each with datasets, each with `sota.metrics` (names) and `sota.rows` (one per model and
# paper, `metrics` mapping a name to a value string). paper_url is a string ("" if unknown),
# paper_date "YYYY-MM-DD" or null.


def _link(url: str) -> dict[str, str]:
    return {"title": re.sub(r"^[a-z]+://", "", url).rstrip("/"), "url": url}


def _pwc_row(model: str, paper: Paper | None, metrics: Mapping[str, ResultRow]) -> dict[str, Any]:
    links = paper.links if paper else ()
    return {
        "model_name": model,
        "paper_title": paper.title if paper else "",
        "paper_url": (paper.url if paper else None) or "",
        "paper_date": paper.date if paper else None,
        "metrics": {
            key: number_text(r.value) + ("%" if r.unit == "%" else "") for key, r in metrics.items()
        },
        "code_links": [_link(url) for url, kind in links if kind == "code"],
        "model_links": [_link(url) for url, kind in links if kind == "model"],
        "uses_additional_data": False,
    }


def _rank(metrics: Mapping[str, ResultRow], key: str, model: str) -> tuple[int, float, str]:
    """Best first on the metric `key` in its direction; rows without it after the others."""
    held = metrics.get(key)
    if held is None:
        return (1, 0.0, model.casefold())
    sign = 1 if lower_is_better(held.metric, held.unit) else -1
    return (0, sign * held.value, model.casefold())


def pwc_tasks(rows: Iterable[ResultRow], papers: Mapping[str, Paper]) -> list[dict[str, Any]]:
    """The evaluation tables of `exportable()` rows (any other row is skipped)."""
    # task -> dataset -> (model, paper) -> metric key -> the row holding its value
    tree: dict[str, dict[str, dict[tuple[str, str], dict[str, ResultRow]]]] = {}
    for row in rows:
        if row.delta or not (row.benchmark and row.model and row.metric):
            continue
        held = (
            tree.setdefault(task_of(row, papers), {})
            .setdefault(row.benchmark, {})
            .setdefault((row.model, row.paper_id), {})
        )
        if _better(row, held.get(key := metric_key(row))):
            held[key] = row

    tasks = []
    for task, datasets in tree.items():
        out_datasets = []
        for dataset, entries in datasets.items():
            counts = Counter(k for metrics in entries.values() for k in metrics)
            names = sorted(counts, key=lambda k: -counts[k])  # stable: first seen breaks ties
            ranked = sorted(entries.items(), key=lambda e: _rank(e[1], names[0], e[0][0]))
            out_datasets.append(
                {
                    "dataset": dataset,
                    "description": "",
                    "sota": {
                        "metrics": names,
                        "rows": [_pwc_row(m, papers.get(p), ms) for (m, p), ms in ranked],
                    },
                    "subdatasets": [],
                    "dataset_links": [],
                    "dataset_citations": [],
                }
            )
        tasks.append(
            {
                "task": task,
                "description": "",
                "categories": [],
                "datasets": out_datasets,
                "subtasks": [],
                "synonyms": [],
                "source_link": None,
            }
        )
    return tasks


# -- Hugging Face model-index -----------------------------------------------------------------
# The model card's metadata (hub-docs modelcard.md; huggingface_hub.repocard_data):
# model-index: [{name, results: [{task: {type, name}, dataset: {name, type},
# metrics: [{type, value, name}], source: {name, url}}]}]. `type`s are identifiers, so they
# are slugs of the names; a result group is one task, dataset and paper, its source the paper.


def slug(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[^0-9a-z]+", "-", text).strip("-") or "unknown"


def model_index(
    rows: Iterable[ResultRow], papers: Mapping[str, Paper]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """(model, its `model-index` list) for each proposed model with exportable results."""
    proposed = dict.fromkeys(m for p in papers.values() for m in p.proposed)
    groups: dict[str, dict[tuple[str, str, str], dict[str, ResultRow]]] = {}
    for row in rows:
        if row.model in proposed and row.benchmark and row.metric and not row.delta:
            held = groups.setdefault(row.model, {}).setdefault(
                (task_of(row, papers), str(row.benchmark), row.paper_id), {}
            )
            if _better(row, held.get(key := metric_key(row))):
                held[key] = row
    out = []
    for model in proposed:
        results = []
        for (task, dataset, paper_id), metrics in groups.get(model, {}).items():
            result: dict[str, Any] = {
                "task": {"type": slug(task), "name": task},
                "dataset": {"name": dataset, "type": slug(dataset)},
                "metrics": [
                    {"type": slug(str(r.metric)), "value": r.value, "name": key}
                    for key, r in metrics.items()
                ],
            }
            paper = papers.get(paper_id)
            if paper and paper.url:  # the Hub wants a source's url whenever it has a name
                result["source"] = {"name": paper.title or paper.url, "url": paper.url}
            results.append(result)
        if results:
            out.append((model, [{"name": model, "results": results}]))
    return out


def model_index_yaml(index: Iterable[tuple[str, list[dict[str, Any]]]]) -> str:
    """One YAML document per model, each ready to be a model card's front matter."""
    return "".join("---\n" + to_yaml({"model-index": entry}) for _, entry in index)


# -- YAML --------------------------------------------------------------------------------------
# Block style, every string double-quoted: no YAML 1.1 surprises ("no", "1e3", "2024-01-01"
# stay strings), and no PyYAML needed at run time. Escaped: what YAML forbids in a stream or
# reads as a line break (C0/C1 controls, NEL, U+2028/9, BOM, surrogates, U+FFFE/F).

_PLAIN_KEY = re.compile(r"[a-z][a-z0-9_-]*")  # "model-index", "name": the format's own keys
_RESERVED = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}  # YAML 1.1 scalars
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or code in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
        or 0xD800 <= code <= 0xDFFF
    ):
        return f"\\u{code:04x}"
    return ch


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)  # finite: results' values are (leaderboard.as_number)
        # YAML 1.1 reads "1e-05" as a string: its floats need a point.
        return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return '"' + "".join(_escape(ch) for ch in str(value)) + '"'


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict) and value:
        out = []
        for key, item in value.items():
            plain = _PLAIN_KEY.fullmatch(key) and key not in _RESERVED
            name = key if plain else _scalar(key)
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{name}:")
                out += _lines(item, indent + 2)
            else:
                out.append(f"{pad}{name}: {_scalar(item)}")
        return out
    if isinstance(value, list) and value:
        out = []
        for item in value:
            sub = _lines(item, indent + 2)
            out.append(f"{pad}- {sub[0][indent + 2 :]}")
            out += sub[1:]
        return out
    return [pad + _scalar(value)]


def to_yaml(value: Any) -> str:
    return "\n".join(_lines(value, 0)) + "\n"
