"""Score predicted records against gold records, exactly as /work/shared/spec/EVAL.md defines.

Works on plain dicts (the JSONL lines), not on pydantic objects: a prediction file may hold
error records or items a newer schema would reject, and those must score, not crash.

Choices the spec leaves open, made here:
- "normalized" titles and names use `normalize.text_key` (casefold, then only letters and digits,
  Unicode letters included);
- result attributes, as EVAL.md words them: `benchmark` is correct when the text keys are equal
  or both are null; `metric` and `unit` only when equal as written (both null included). A
  lenient figure is reported beside those two, never instead of them: `metric` by text key,
  `unit` after `normalize.normalize_unit` ("percent" and "%", "seconds" and "s" agree);
- a field with nothing predicted has precision 0 unless nothing is expected either; a field with
  nothing expected has recall 0 unless nothing is predicted either; F1 is 1.0 only for a field
  empty on both sides over the whole file (nothing to find, nothing invented);
- an accuracy over zero paired items is None ("n/a").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from extractor.core.normalize import normalize_unit, task_words, text_key
from extractor.core.urls import url_key
from extractor.errors import EvalInputError

FIELDS = ("models", "modalities", "tasks", "benchmarks", "results", "code_links")
ATTRIBUTES = (
    "models.role",
    "results.benchmark",
    "results.metric",
    "results.model",
    "results.unit",
    "code_links.kind",
)

# EVAL.md rule 5: a result tuple is the value (with delta) and these attributes together, the
# unit of a leaderboard row. The partial tuples beside it show which attribute fails.
TUPLES: dict[str, tuple[str, ...]] = {
    "value+benchmark": ("benchmark",),
    "value+metric": ("metric",),
    "value+model": ("model",),
    "tuple": ("benchmark", "metric", "model"),
}


# Attributes also scored leniently (normalized metric names and units), reported beside the
# EVAL.md figures, which compare them as written.
LENIENT = ("results.metric", "results.unit")


@dataclass
class FieldScore:
    paired: int = 0
    predicted: int = 0
    gold: int = 0

    @property
    def precision(self) -> float:
        if self.predicted:
            return self.paired / self.predicted
        return 1.0 if self.gold == 0 else 0.0

    @property
    def recall(self) -> float:
        if self.gold:
            return self.paired / self.gold
        return 1.0 if self.predicted == 0 else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "paired": self.paired,
            "predicted": self.predicted,
            "gold": self.gold,
        }


@dataclass
class AttributeScore:
    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclass
class Report:
    gold_records: int = 0
    predicted_records: int = 0
    paired_records: int = 0
    fields: dict[str, FieldScore] = field(default_factory=lambda: {f: FieldScore() for f in FIELDS})
    attributes: dict[str, AttributeScore] = field(
        default_factory=lambda: {a: AttributeScore() for a in ATTRIBUTES}
    )
    tuples: dict[str, FieldScore] = field(default_factory=lambda: {t: FieldScore() for t in TUPLES})
    # Beside the spec's figures, not part of them: see LENIENT.
    lenient: dict[str, AttributeScore] = field(
        default_factory=lambda: {a: AttributeScore() for a in LENIENT}
    )

    @property
    def macro_f1(self) -> float:
        return sum(self.fields[f].f1 for f in FIELDS) / len(FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": {
                "gold": self.gold_records,
                "predicted": self.predicted_records,
                "paired": self.paired_records,
            },
            "fields": {name: s.as_dict() for name, s in self.fields.items()},
            "attributes": {
                name: {"accuracy": a.accuracy, "correct": a.correct, "paired": a.total}
                for name, a in self.attributes.items()
            },
            "tuples": {name: s.as_dict() for name, s in self.tuples.items()},
            "attributes_lenient": {
                name: {"accuracy": a.accuracy, "correct": a.correct, "paired": a.total}
                for name, a in self.lenient.items()
            },
            "macro_f1": self.macro_f1,
        }


# --- items ---------------------------------------------------------------------------------------


def _items(extraction: Mapping[str, Any], name: str, where: str) -> list[Any]:
    value = extraction.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise EvalInputError(f"{where}: '{name}' is not a list")
    return value


def _text(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str):
        raise EvalInputError(f"{where}: {what} {value!r} is not a string")
    return value


def _opt_key(value: Any) -> str | None:
    return None if value is None else text_key(str(value))


def _value(item: Any, where: str) -> float:
    v = item.get("value") if isinstance(item, Mapping) else None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise EvalInputError(f"{where}: result value {v!r} is not a finite number")
    return float(v)


def _tasks_match(g: tuple[str, frozenset[str]], p: tuple[str, frozenset[str]]) -> bool:
    if g[0] == p[0]:
        return True
    union = g[1] | p[1]
    return bool(union) and len(g[1] & p[1]) / len(union) >= 0.5


def _results_match(g: tuple[bool, float], p: tuple[bool, float]) -> bool:
    return g[0] == p[0] and abs(p[1] - g[1]) <= 1e-6 * max(1.0, abs(g[1]))


def _pair(
    gold: list[Any], pred: list[Any], same: Callable[[Any, Any], bool]
) -> list[tuple[int, int]]:
    """EVAL.md rule 2: greedy in gold order, each gold item with the first unpaired prediction
    that matches it. Returns (gold index, predicted index) pairs."""
    used = [False] * len(pred)
    pairs = []
    for gi, g in enumerate(gold):
        for pi, p in enumerate(pred):
            if not used[pi] and same(g, p):
                used[pi] = True
                pairs.append((gi, pi))
                break
    return pairs


# Per field: how an item is reduced to what pairing compares, and how two reduced items match.
def _keys(name: str, items: list[Any], where: str) -> list[Any]:
    if name == "models":
        return [text_key(_text(m.get("name"), "model name", where)) for m in items]
    if name == "modalities":
        return [_text(v, "modality", where) for v in items]
    if name == "benchmarks":
        return [text_key(_text(v, "benchmark", where)) for v in items]
    if name == "tasks":
        return [(text_key(t), task_words(t)) for t in (_text(v, "task", where) for v in items)]
    if name == "results":
        return [(r.get("delta") is True, _value(r, where)) for r in items]
    return [url_key(_text(c.get("url"), "code link url", where)) for c in items]


def _score_record(
    report: Report, gold: Mapping[str, Any], pred: Mapping[str, Any], where: str
) -> None:
    for name in FIELDS:
        g_items = _items(gold, name, f"gold {where}")
        p_items = _items(pred, name, f"prediction {where}")
        for label, items in (("gold", g_items), ("prediction", p_items)):
            for item in items:
                if name in ("models", "results", "code_links") and not isinstance(item, Mapping):
                    raise EvalInputError(f"{label} {where}: an item of '{name}' is not an object")
        g_keys = _keys(name, g_items, f"gold {where}")
        p_keys = _keys(name, p_items, f"prediction {where}")
        if name == "tasks":
            pairs = _pair(g_keys, p_keys, _tasks_match)
        elif name == "results":
            pairs = _pair(g_keys, p_keys, _results_match)
        else:
            pairs = _pair(g_keys, p_keys, lambda a, b: a == b)
        score = report.fields[name]
        score.gold += len(g_items)
        score.predicted += len(p_items)
        score.paired += len(pairs)
        for gi, pi in pairs:
            _score_attributes(report, name, g_items[gi], p_items[pi])
        if name == "results":
            _score_tuples(report, g_items, p_items, g_keys, p_keys)


def _score_tuples(
    report: Report, g_items: list[Any], p_items: list[Any], g_keys: list[Any], p_keys: list[Any]
) -> None:
    """EVAL.md rule 5, and the partial tuples: pairing is redone per tuple, since a prediction
    that pairs on value alone may not be the one whose attributes match."""
    for name, attrs in TUPLES.items():

        def tup(item: Any, key: Any, attrs: tuple[str, ...] = attrs) -> tuple[Any, ...]:
            return (key, *(_opt_key(item.get(a)) for a in attrs))

        g = [tup(i, k) for i, k in zip(g_items, g_keys, strict=True)]
        p = [tup(i, k) for i, k in zip(p_items, p_keys, strict=True)]
        pairs = _pair(g, p, lambda a, b: _results_match(a[0], b[0]) and a[1:] == b[1:])
        score = report.tuples[name]
        score.gold += len(g)
        score.predicted += len(p)
        score.paired += len(pairs)


def _score_attributes(report: Report, name: str, g: Any, p: Any) -> None:
    checks: list[tuple[str, bool]] = []
    if name == "models":
        checks.append(("models.role", g.get("role") == p.get("role")))
    elif name == "results":
        checks.append(
            ("results.benchmark", _opt_key(g.get("benchmark")) == _opt_key(p.get("benchmark")))
        )
        checks.append(("results.metric", g.get("metric") == p.get("metric")))
        checks.append(("results.model", _opt_key(g.get("model")) == _opt_key(p.get("model"))))
        checks.append(("results.unit", g.get("unit") == p.get("unit")))
        for attr, ok in (
            ("results.metric", _opt_key(g.get("metric")) == _opt_key(p.get("metric"))),
            ("results.unit", _unit(g.get("unit")) == _unit(p.get("unit"))),
        ):
            report.lenient[attr].total += 1
            report.lenient[attr].correct += ok
    elif name == "code_links":
        checks.append(("code_links.kind", g.get("kind") == p.get("kind")))
    for attr, ok in checks:
        a = report.attributes[attr]
        a.total += 1
        a.correct += ok


def _unit(value: Any) -> str | None:
    return normalize_unit(value) if isinstance(value, str) else None


def _extraction(record: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    e = record.get("extraction")
    if e is None:
        return {}  # an error record, or one the tool could not extract: predicts nothing
    if not isinstance(e, Mapping):
        raise EvalInputError(f"{where}: 'extraction' is not an object")
    return e


def evaluate(predicted: Iterable[Mapping[str, Any]], gold: Iterable[Mapping[str, Any]]) -> Report:
    """Score `predicted` records against `gold` records (dicts with `title` and `extraction`).

    Records pair by `text_key(title)`, one to one, greedily in gold order (EVAL.md rule 1)."""
    report = Report()
    by_title: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for i, rec in enumerate(predicted, 1):
        report.predicted_records += 1
        if not isinstance(rec, Mapping):
            raise EvalInputError(f"prediction record {i}: not a JSON object")
        title = rec.get("title")
        if isinstance(title, str):
            by_title.setdefault(text_key(title), []).append((i, rec))
    for i, rec in enumerate(gold, 1):
        report.gold_records += 1
        if not isinstance(rec, Mapping) or not isinstance(rec.get("title"), str):
            raise EvalInputError(f"gold record {i}: not a JSON object with a 'title'")
        candidates = by_title.get(text_key(rec["title"]))
        if candidates:
            pred_line, pred = candidates.pop(0)
            report.paired_records += 1
            where = f"record {i} (prediction record {pred_line})"
            pred_extraction = _extraction(pred, f"prediction record {pred_line}")
        else:
            where, pred_extraction = f"record {i}", {}
        _score_record(report, _extraction(rec, f"gold record {i}"), pred_extraction, where)
    return report


def format_report(report: Report) -> str:
    """The human-readable table `extractor eval` prints."""
    header = ("field", "precision", "recall", "F1", "paired", "pred", "gold")
    lines = ["{:<12} {:>9} {:>7} {:>7} {:>7} {:>6} {:>6}".format(*header)]
    for name in FIELDS:
        s = report.fields[name]
        lines.append(
            f"{name:<12} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>7.3f}"
            f" {s.paired:>7} {s.predicted:>6} {s.gold:>6}"
        )
    lines.append("")
    lines.append("result tuples (EVAL.md rule 5: value, delta and the attributes named)")
    for name in TUPLES:
        s = report.tuples[name]
        lines.append(
            f"{name:<16} {s.precision:>5.3f} {s.recall:>7.3f} {s.f1:>7.3f}"
            f" {s.paired:>7} {s.predicted:>6} {s.gold:>6}"
        )
    lines.append("")
    lines.append(f"{'attribute':<18} {'accuracy':>8} {'correct/paired':>15}")
    for name in ATTRIBUTES:
        a = report.attributes[name]
        acc = "n/a" if a.accuracy is None else f"{a.accuracy:.3f}"
        line = f"{name:<18} {acc:>8} {f'{a.correct}/{a.total}':>15}"
        if name in report.lenient and (lenient := report.lenient[name].accuracy) is not None:
            line += f"  (normalized: {lenient:.3f})"
        lines.append(line)
    lines.append("")
    lines.append(
        f"records: {report.gold_records} gold, {report.predicted_records} predicted, "
        f"{report.paired_records} paired"
    )
    lines.append(f"macro F1 over {len(FIELDS)} fields: {report.macro_f1:.3f}")
    lines.append(f"result tuples F1: {report.tuples['tuple'].f1:.3f}")
    return "\n".join(lines)
