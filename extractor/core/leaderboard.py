"""Benchmark results as rows, canonical names, and the model x benchmark/metric pivot.

Pure: works on parsed record dicts (CONTRACT.md's output record, or any partial or older form
of it) and returns data. Reading files and formatting output belong to the commands.

Decisions the table and the report share:
- Names that differ only in case, spacing, punctuation (a decimal point between digits
  excepted) or a known alias (`_ALIASES`; for metrics, the vocabulary of core/metrics.py) are
  one name (`name_key`); its canonical spelling is the most frequent one, ties going to the
  first seen.
  Benchmark spellings are counted in `benchmarks` and in `results[].benchmark`, model spellings
  in `models[].name` and `results[].model`, metric spellings in `results[].metric`.
- The pivot compares levels only: a delta ("improves by 2.1%") is relative to some unstated
  baseline, so it is not a score a model holds and never enters the pivot.
- A pivot column is one (benchmark, metric, unit): numbers in different units are not
  compared. "Best" is the highest value, or the lowest where the metric's direction says so
  (core/metrics.py's vocabulary, then `lower_is_better`'s few extra words and cost units).
- A result that names no model stays unattributed: its `model` is empty, and the pivot puts it
  in an "(unattributed)" row (when asked) or leaves it out and counts it. Crediting it to the
  paper's proposed model is a guess the user must ask for (`attribute_proposed`: only when the
  paper has exactly one), and every row so credited says so (`model_source == "proposed"`).
  Grounding may have nulled a model it could not find in the text; "FooNet reaches 80.1% on
  MMLU, while GPT-4 reaches 86.4%" must never make 86.4 FooNet's.
- A benchmark is a benchmark and a model a model (`KindFix`): a result whose benchmark is a
  name some record lists as a model ("QMoE ... SwitchTransformer-c2048 [GB]": the model that
  was compressed, taken for the benchmark) has its benchmark cleared, and one whose model is a
  listed benchmark has its model cleared. The number stays a row of the long form; only the
  wrong name goes, so the pivot (which needs a benchmark, and a model for a named row) leaves it
  out. Clearing rather than dropping the row keeps the value, its evidence and its other names
  for the reader, and keeps long form, pivot, exports and report in agreement.
  The paper's own lists are asked first (`scope="paper"`), then every record's
  (`scope="corpus"`): a pivot column is read across papers, so a name any paper lists as a
  model is no column key, even where this paper did not list it. A name listed as both kinds
  is therefore neither a pivot benchmark nor a pivot model: a cell lost is a smaller harm than
  a model shown as a benchmark.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from extractor.core import metrics
from extractor.core.normalize import merge_key

Kind = Literal["benchmark", "metric", "model", "task"]
KINDS: tuple[Kind, ...] = ("benchmark", "metric", "model", "task")


# A decimal point between digits: "1.5" in "Qwen2-1.5B".
@lru_cache(maxsize=1 << 16)  # a file repeats its names many times over
def fold(name: str) -> str:
    """The key names are merged by (`normalize.merge_key`)."""
    return merge_key(name)


def _group(canonical: str, *spellings: str) -> dict[str, str]:
    return {fold(s): canonical for s in (canonical, *spellings)}


# Keys are folded spellings; values name the group. Kept small and unsurprising: only
# spellings that always mean the same thing, per kind, so "acc" merges metrics only.
_ALIASES: dict[Kind, dict[str, str]] = {
    "benchmark": {
        **_group("coco", "MS-COCO", "MSCOCO", "MS COCO", "Microsoft COCO"),
        **_group("vqav2", "VQA v2", "VQA-v2", "VQAv2.0", "VQA 2.0", "VQA2"),
        **_group("okvqa", "OK-VQA"),
        **_group("msrvtt", "MSR-VTT"),
        **_group("flickr30k", "Flickr30K", "Flickr-30k", "Flickr 30K"),
        **_group("imagenet1k", "ImageNet-1K", "ImageNet1k", "ILSVRC-2012", "ILSVRC2012"),
        **_group("mmbench", "MM-Bench"),
        **_group("scienceqa", "Science QA", "ScienceQA-IMG"),
        **_group("ptb", "Penn Treebank", "Penn TreeBank", "Penn Tree Bank"),
    },
    "metric": {},  # metrics merge by the vocabulary instead (`name_key`)
    "model": {},
    "task": {},
}

# Metrics merge by the vocabulary's head (core/metrics.py: "Acc." is accuracy, "BLEU score" is
# BLEU), and a few families it keeps apart although their spellings always mean one metric.
_METRIC_SAME = {"meanaverageprecision": "map", "em": "exactmatch", "b4": "bleu4"}
# And members of one vocabulary entry that are different metrics: an MSE is no RMSE, GFLOPs
# are not FLOPs (a billion times apart), CLIP-T and CLIP-I compare different things.
_METRIC_APART = {
    "mse", "rmse", "meansquarederror", "rootmeansquarederror", "gflops", "tflops", "mflops",
    "clipt", "clipi",
}  # fmt: skip
_DIGITS = re.compile(r"\d+")
_RECALL_AT = re.compile(r"r(\d+)")  # "R@5" is "Recall@5"
# Smaller-is-better metrics the vocabulary does not know (whole words only: "ter" must not
# match "intersection").
_LOWER_WORDS = {"loss", "kid", "eer", "chamfer", "distance"}
# Units that measure a cost: with no metric named, a smaller number is better.
_COST_UNITS = {"ms", "s", "seconds", "minutes", "hours", "days", "gb", "mb", "tb", "kb"}


@lru_cache(maxsize=1 << 16)  # a file repeats its names many times over
def name_key(kind: Kind, name: str) -> str:
    """The key two names of one kind are merged by."""
    if kind == "metric":
        if (written := fold(name)) in _METRIC_APART:
            return written.replace("meansquarederror", "mse").replace("root", "r")
        key = fold(metrics.head_key(name))
        if _DIGITS.findall(key) != _DIGITS.findall(written):
            key = written  # the vocabulary dropped a number: "top-1 error" is no "error", "F1@5" no "F1"
        key = _RECALL_AT.sub(r"recall\1", key) if _RECALL_AT.fullmatch(key) else key
        return _METRIC_SAME.get(key, key)
    folded = fold(name)
    return _ALIASES[kind].get(folded, folded)


def lower_is_better(metric: str | None, unit: str | None) -> bool:
    """The vocabulary's direction (core/metrics.py); the upper-case retry finds the acronyms
    it matches by case ("mae", "ter"). With no metric, a cost unit (ms, GB) is lower-better."""
    if metric:
        text = unicodedata.normalize("NFKC", metric)
        if found := metrics.direction(text) or metrics.direction(text.upper()):
            return found == "lower"
        return bool(set(re.findall(r"[a-z0-9]+", text.casefold())) & _LOWER_WORDS)
    return (unit or "").strip().lower() in _COST_UNITS


@dataclass(frozen=True)
class Merge:
    """Spellings merged under one canonical name, most frequent first."""

    kind: Kind
    canonical: str
    variants: tuple[tuple[str, int], ...]

    def describe(self) -> str:
        parts = ", ".join(f"{s!r} x{n}" for s, n in self.variants)
        return f"{self.kind}: {self.canonical!r} <- {parts}"


def _preference(kind: Kind) -> Callable[[tuple[str, int]], tuple[bool, int]]:
    """How a group's spellings compete: by count; a metric's own vocabulary spelling first
    ("accuracy" over "Acc.", "parameters" over "fewer parameters": the text's modifiers that
    merged into it say how a number relates to the metric, not which metric it is)."""

    def rank(spelling_count: tuple[str, int]) -> tuple[bool, int]:
        spelling, count = spelling_count
        plain = kind == "metric" and fold(spelling) == fold(metrics.head_key(spelling))
        return (plain, count)

    return rank


class Canon:
    """Canonical spellings, learned from every name spelling seen in a set of records."""

    def __init__(self) -> None:
        # kind -> key -> spelling -> count; dicts keep first-seen order, which breaks ties.
        self._seen: dict[Kind, dict[str, Counter[str]]] = {k: {} for k in KINDS}
        self._chosen: dict[Kind, dict[str, str]] | None = None

    def add(self, kind: Kind, name: str | None) -> None:
        if name := clean_name(name):
            self._seen[kind].setdefault(name_key(kind, name), Counter())[name] += 1
            self._chosen = None

    def _canonical_by_key(self) -> dict[Kind, dict[str, str]]:
        if self._chosen is None:
            self._chosen = {
                kind: {key: max(c.items(), key=_preference(kind))[0] for key, c in groups.items()}
                for kind, groups in self._seen.items()
            }
        return self._chosen

    def canonical(self, kind: Kind, name: str | None) -> str | None:
        """The canonical spelling of `name`; an unseen name is its own canonical spelling."""
        if not (name := clean_name(name)):
            return None
        return self._canonical_by_key()[kind].get(name_key(kind, name), name)

    def merges(self) -> list[Merge]:
        chosen = self._canonical_by_key()
        out = []
        for kind in KINDS:
            for key, counts in self._seen[kind].items():
                if len(counts) > 1:
                    variants = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: ties stay
                    out.append(Merge(kind, chosen[kind][key], tuple(variants)))
        return out

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Canon:
        canon = cls()
        for record in records:
            ex = extraction_of(record)
            if ex is None:
                continue
            for model in _dicts(ex.get("models")):
                canon.add("model", _str(model.get("name")))
            for bench in _list(ex.get("benchmarks")):
                canon.add("benchmark", _str(bench))
            for task in _list(ex.get("tasks")):
                canon.add("task", _str(task))
            for result in _dicts(ex.get("results")):
                canon.add("benchmark", _str(result.get("benchmark")))
                canon.add("metric", _str(result.get("metric")))
                canon.add("model", _str(result.get("model")))
        return canon


# -- tolerant access to record dicts --------------------------------------------------------
# Records may come from older versions, be hand-edited, or be error records; a wrong type
# anywhere reads as "absent" instead of failing the whole table.


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in _list(value) if isinstance(v, Mapping)]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def clean_name(name: str | None) -> str | None:
    if not isinstance(name, str):
        return None
    name = " ".join(name.split())
    return name if name and name.lower() not in {"null", "none", "n/a"} else None


def extraction_of(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ex = record.get("extraction")
    return ex if isinstance(ex, Mapping) else None


def as_number(value: Any) -> float | None:
    """A finite float from a number or a numeric string ("85.3", "85.3%"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().rstrip("%").strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def number_text(value: float) -> str:
    """A value as the tables write it: 85.0 as "85", and never fewer digits than it has (as
    "%g" would)."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def as_delta(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def code_url(extraction: Mapping[str, Any]) -> str | None:
    """The first link of kind code, else the first link."""
    links = [link for link in _dicts(extraction.get("code_links")) if _str(link.get("url"))]
    for link in links:
        if link.get("kind") == "code":
            return str(link["url"])
    return str(links[0]["url"]) if links else None


def sole_proposed_model(extraction: Mapping[str, Any]) -> str | None:
    proposed = {
        name
        for m in _dicts(extraction.get("models"))
        if m.get("role") == "proposed" and (name := clean_name(_str(m.get("name"))))
    }
    return proposed.pop() if len(proposed) == 1 else None


# -- kinds: a benchmark is no model ---------------------------------------------------------


@dataclass(frozen=True)
class KindFix:
    """A name cleared from a result because a list names it as the other kind."""

    paper_id: str
    field: Literal["benchmark", "model"]  # the result field that was cleared
    name: str
    scope: Literal["paper", "corpus"]  # listed as the other kind by this paper, or another one


@dataclass(frozen=True)
class Listed:
    """Folded names a set of extractions lists as models and as benchmarks."""

    models: frozenset[str]
    benchmarks: frozenset[str]

    @classmethod
    def of(cls, ex: Mapping[str, Any]) -> Listed:
        models = (clean_name(_str(m.get("name"))) for m in _dicts(ex.get("models")))
        benchmarks = (clean_name(_str(b)) for b in _list(ex.get("benchmarks")))
        return cls(
            frozenset(fold(n) for n in models if n), frozenset(fold(n) for n in benchmarks if n)
        )

    @classmethod
    def union(cls, listed: Iterable[Listed]) -> Listed:
        listed = list(listed)
        return cls(
            frozenset().union(*(x.models for x in listed)),
            frozenset().union(*(x.benchmarks for x in listed)),
        )


def check_kind(
    field: Literal["benchmark", "model"], name: str | None, own: Listed, corpus: Listed
) -> Literal["paper", "corpus"] | None:
    """Where `name`, given as a result's `field`, is listed as the other kind: in the paper's
    own lists first, then in any record's; None when it is not (it may stand)."""
    if not (name := clean_name(name)):
        return None
    key = fold(name)
    other = "models" if field == "benchmark" else "benchmarks"
    if key in getattr(own, other):
        return "paper"
    return "corpus" if key in getattr(corpus, other) else None


# -- papers ---------------------------------------------------------------------------------

# New-style arXiv ids ("2401.01234", "2401.01234v2"): a record whose id is one has a paper URL.
_ARXIV_ID = re.compile(r"(?:arxiv:)?(\d{4}\.\d{4,5})(v\d+)?", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Paper:
    """What the exports say about a paper beyond its results, names canonical."""

    paper_id: str
    title: str
    # The input's `url` (kept as the record's source.url), else arXiv's page for an arXiv id.
    url: str | None
    # YYYY-MM-DD from a `date`/`published`/`update_date` field, where the record has one.
    date: str | None
    tasks: tuple[str, ...]
    proposed: tuple[str, ...]  # models listed with role "proposed"
    links: tuple[tuple[str, str], ...]  # (url, kind) of its code links


def paper_url(record: Mapping[str, Any]) -> str | None:
    source = record.get("source")
    url = _str(source.get("url")) if isinstance(source, Mapping) else None
    if url and url.strip():
        return url.strip()
    match = _ARXIV_ID.fullmatch(str(record.get("id") or "").strip())
    return f"https://arxiv.org/abs/{match.group(1)}{match.group(2) or ''}" if match else None


def paper_date(record: Mapping[str, Any]) -> str | None:
    for key in ("date", "published", "update_date"):
        value = _str(record.get(key))
        if value and (match := _DATE.match(value.strip())):
            return match.group(0)
    return None


def _paper(record: Mapping[str, Any], ex: Mapping[str, Any], canon: Canon) -> Paper:
    def names(kind: Kind, values: Iterable[str | None]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for v in values if (c := canon.canonical(kind, v))))

    models = _dicts(ex.get("models"))
    return Paper(
        paper_id=str(record.get("id") or ""),
        title=" ".join((_str(record.get("title")) or "").split()),
        url=paper_url(record),
        date=paper_date(record),
        tasks=names("task", (_str(t) for t in _list(ex.get("tasks")))),
        proposed=names(
            "model", (_str(m.get("name")) for m in models if m.get("role") == "proposed")
        ),
        links=tuple(
            (url.strip(), _str(link.get("kind")) or "other")
            for link in _dicts(ex.get("code_links"))
            if (url := _str(link.get("url"))) and url.strip()
        ),
    )


# -- rows -----------------------------------------------------------------------------------

LONG_COLUMNS = (
    "paper_id", "title", "model", "model_source", "benchmark", "metric", "value", "unit", "delta", "evidence",
    "code_url",
)  # fmt: skip


# Where a row's model comes from: the result names it ("stated"), or the user asked for results
# that name none to be credited to the paper's only proposed model ("proposed").
STATED, PROPOSED = "stated", "proposed"
UNATTRIBUTED = "(unattributed)"  # the pivot row of results credited to no model


@dataclass(frozen=True)
class ResultRow:
    """One result of one paper, names canonical."""

    paper_id: str
    title: str
    model: str | None
    model_source: str | None  # STATED, PROPOSED, or None when no model is credited
    benchmark: str | None
    metric: str | None
    value: float
    unit: str | None
    delta: bool
    evidence: str
    code_url: str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LONG_COLUMNS}


@dataclass
class Rows:
    rows: list[ResultRow]
    canon: Canon
    records_without_extraction: int = 0
    results_skipped: int = 0  # not a dict, or no usable number
    kind_fixes: list[KindFix] = field(default_factory=list)
    # (record, extraction) of each paper, for `papers`: built on first use, since only the
    # exports need it and it costs a quarter of build_rows.
    _sources: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = field(
        default_factory=list, repr=False
    )
    _papers: dict[str, Paper] | None = field(default=None, repr=False)

    @property
    def papers(self) -> dict[str, Paper]:
        """Each paper by id; the first record of an id wins."""
        if self._papers is None:
            self._papers = {}
            for record, ex in self._sources:
                paper_id = str(record.get("id") or "")
                if paper_id not in self._papers:
                    self._papers[paper_id] = _paper(record, ex, self.canon)
        return self._papers


def build_rows(
    records: Sequence[Mapping[str, Any]],
    canon: Canon | None = None,
    *,
    attribute_proposed: bool = False,
) -> Rows:
    """One row per usable result. A result that names no model has no model, unless
    `attribute_proposed`: then the paper's only proposed model, marked `model_source="proposed"`.
    A benchmark listed as a model, or a model listed as a benchmark, is cleared (`KindFix`)."""
    canon = canon or Canon.from_records(records)
    out = Rows([], canon)
    extractions = [extraction_of(record) for record in records]
    lists = [Listed.of(ex) if ex is not None else None for ex in extractions]
    corpus = Listed.union(x for x in lists if x is not None)
    for record, ex, own in zip(records, extractions, lists, strict=True):
        if ex is None or own is None:
            out.records_without_extraction += 1
            continue
        paper_id = str(record.get("id") or "")
        out._sources.append((record, ex))
        title = " ".join((_str(record.get("title")) or "").split())
        url = code_url(ex)
        sole = sole_proposed_model(ex) if attribute_proposed else None
        # A proposed "model" some list names as a benchmark (a benchmark paper's own) is no model.
        fallback = (
            None if check_kind("model", sole, own, corpus) else canon.canonical("model", sole)
        )
        for result in _list(ex.get("results")):
            value = as_number(result.get("value")) if isinstance(result, Mapping) else None
            if not isinstance(result, Mapping) or value is None:
                out.results_skipped += 1
                continue
            names: dict[Literal["benchmark", "model"], str | None] = {}
            for kind in ("benchmark", "model"):
                name = _str(result.get(kind))
                if scope := check_kind(kind, name, own, corpus):
                    out.kind_fixes.append(KindFix(paper_id, kind, clean_name(name) or "", scope))
                    name = None
                names[kind] = canon.canonical(kind, name)
            model = names["model"]
            source = STATED if model else PROPOSED if fallback else None
            out.rows.append(
                ResultRow(
                    paper_id=paper_id,
                    title=title,
                    model=model or fallback,
                    model_source=source,
                    benchmark=names["benchmark"],
                    metric=canon.canonical("metric", _str(result.get("metric"))),
                    value=value,
                    unit=clean_name(_str(result.get("unit"))),
                    delta=as_delta(result.get("delta")),
                    evidence=" ".join((_str(result.get("evidence")) or "").split()),
                    code_url=url,
                )
            )
    return out


def filter_rows(
    rows: Iterable[ResultRow],
    *,
    benchmarks: Iterable[str] = (),
    metrics: Iterable[str] = (),
    no_delta: bool = False,
) -> list[ResultRow]:
    """Rows matching any of `benchmarks` and any of `metrics` (compared by `name_key`, so
    "--benchmark mscoco" finds "MS-COCO"), without deltas when `no_delta`."""
    bench_keys = {name_key("benchmark", b) for b in benchmarks}
    metric_keys = {name_key("metric", m) for m in metrics}

    def wanted(kind: Kind, name: str | None, keys: set[str]) -> bool:
        return not keys or (name is not None and name_key(kind, name) in keys)

    return [
        row
        for row in rows
        if not (no_delta and row.delta)
        and wanted("benchmark", row.benchmark, bench_keys)
        and wanted("metric", row.metric, metric_keys)
    ]


# -- pivot ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    benchmark: str
    metric: str | None
    unit: str | None

    @property
    def lower_is_better(self) -> bool:
        return lower_is_better(self.metric, self.unit)

    @property
    def label(self) -> str:
        label = f"{self.benchmark} / {self.metric}" if self.metric else self.benchmark
        return f"{label} [{self.unit}]" if self.unit else label


@dataclass(frozen=True)
class Cell:
    value: float
    unit: str | None
    paper_id: str
    title: str
    evidence: str
    model_source: str | None = STATED
    row: ResultRow | None = field(default=None, compare=False, repr=False)  # the row it shows


@dataclass
class Pivot:
    columns: list[Column]
    models: list[str]
    cells: dict[tuple[str, Column], Cell]
    unattributed: int = 0  # level results on a benchmark credited to no model
    attributed_to_proposed: int = 0  # level results credited to the paper's proposed model
    without_benchmark: int = 0  # level results tied to no benchmark
    _by_column: dict[Column, list[tuple[str, Cell]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def cell(self, model: str, column: Column) -> Cell | None:
        return self.cells.get((model, column))

    def board(self, column: Column) -> list[tuple[str, Cell]]:
        """One column as a leaderboard: (model, cell), best first."""
        if self._by_column is None:  # built once: scanning `cells` per column is quadratic
            self._by_column = {}
            for (model, col), cell in self.cells.items():
                self._by_column.setdefault(col, []).append((model, cell))
        entries = self._by_column.get(column, [])
        sign = 1 if column.lower_is_better else -1
        return sorted(entries, key=lambda mc: (sign * mc[1].value, mc[0].casefold()))


def _better(new: float, old: float, lower: bool) -> bool:
    return new < old if lower else new > old


def pivot(rows: Iterable[ResultRow], *, unattributed_row: bool = False) -> Pivot:
    """Rows = models, columns = (benchmark, metric, unit), cells = each model's best level.

    A model's best value in a column wins across papers; ties keep the first paper seen.
    Models and columns are ordered by how many cells they fill, then by name. Results credited
    to no model are counted in `unattributed`; with `unattributed_row` they also fill a last
    row, UNATTRIBUTED, so the table shows that such numbers exist without giving them to anyone.
    """
    cells: dict[tuple[str, Column], Cell] = {}
    unattributed = without_benchmark = to_proposed = 0
    for row in rows:
        if row.delta:
            continue
        if not row.benchmark:
            without_benchmark += 1
            continue
        model = row.model
        if not model:
            unattributed += 1
            if not unattributed_row:
                continue
            model = UNATTRIBUTED
        elif row.model_source == PROPOSED:
            to_proposed += 1
        column = Column(row.benchmark, row.metric, row.unit)
        key = (model, column)
        old = cells.get(key)
        if old is None or _better(row.value, old.value, column.lower_is_better):
            cells[key] = Cell(
                row.value, row.unit, row.paper_id, row.title, row.evidence, row.model_source, row
            )

    model_fill = Counter(m for m, _ in cells)
    column_fill = Counter(c for _, c in cells)
    models = sorted(model_fill, key=lambda m: (m == UNATTRIBUTED, -model_fill[m], m.casefold()))
    columns = sorted(column_fill, key=lambda c: (-column_fill[c], c.label.casefold()))
    return Pivot(
        columns,
        models,
        cells,
        unattributed=unattributed,
        without_benchmark=without_benchmark,
        attributed_to_proposed=to_proposed,
    )
