"""The data the review page shows, cleaned from records of any age or completeness.

The page's JavaScript trusts this shape: every list is a list, every span is valid for its
text or null, so a malformed record shows as what it holds instead of breaking the page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from extractor.core.leaderboard import (
    Canon,
    Rows,
    as_delta,
    as_number,
    build_rows,
    clean_name,
    extraction_of,
    pivot,
)
from extractor.core.record import Meta, Spans
from extractor.core.schema import Extraction

# The page's fields come from the record's models (extractor/core/record.py): each list of the
# extraction that has spans, under its key in the page data (the page says "links" for
# code_links), the extraction's other lists (of strings: modalities, tasks), and every field of
# `meta` (each a scalar).
_PAGE_KEY = {"code_links": "links"}
_SPANNED = tuple((name, _PAGE_KEY.get(name, name)) for name in Spans.model_fields)
_PLAIN_LISTS = tuple(name for name in Extraction.model_fields if name not in Spans.model_fields)
_META = tuple(Meta.model_fields)
_FIELDS = {"title": 0, "abstract": 1}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _span(value: Any, texts: Mapping[str, str]) -> list[Any] | None:
    """[field (0 title, 1 abstract), start, end, match] when it fits its text, else None."""
    if not isinstance(value, Mapping):
        return None
    field, start, end = value.get("field"), value.get("start"), value.get("end")
    if field not in _FIELDS or not isinstance(start, int) or not isinstance(end, int):
        return None
    if isinstance(start, bool) or isinstance(end, bool) or not 0 <= start < end:
        return None
    if end > len(texts[field]):
        return None
    return [_FIELDS[field], start, end, _str(value.get("match"))]


def _model(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):  # older files listed bare names
        item = {"name": item}
    if not isinstance(item, Mapping) or not (name := clean_name(item.get("name"))):
        return None
    return {"name": name, "role": _str(item.get("role")), "size": _opt_str(item.get("size"))}


def _benchmark(item: Any) -> str | None:
    return clean_name(item) if isinstance(item, str) else None


def _result(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, Mapping) or (value := as_number(item.get("value"))) is None:
        return None
    return {
        "value": value,
        "unit": _opt_str(item.get("unit")),
        "delta": as_delta(item.get("delta")),
        "benchmark": clean_name(item.get("benchmark")),
        "metric": clean_name(item.get("metric")),
        "model": clean_name(item.get("model")),
        "evidence": _str(item.get("evidence")),
    }


def _link(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        item = {"url": item}
    if not isinstance(item, Mapping) or not (url := _opt_str(item.get("url"))):
        return None
    return {"url": url.strip(), "kind": _str(item.get("kind")) or "other"}


_CLEAN = {"models": _model, "benchmarks": _benchmark, "results": _result, "code_links": _link}


def _source(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not (path := _opt_str(value.get("path"))):
        return None
    line = value.get("line")
    return f"{path}:{line}" if isinstance(line, int) else path


def _meta(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    meta = {k: value[k] for k in _META if isinstance(value.get(k), str | int | float | bool)}
    return meta or None


def _error(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        return None
    kind, message = _str(value.get("type")), _str(value.get("message"))
    return f"{kind}: {message}" if kind and message else (kind or message or "failed")


def paper(
    record: Mapping[str, Any], canon: Canon, not_benchmarks: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The card's data. `not_benchmarks`: result benchmarks the leaderboards cleared as models
    (leaderboard.KindFix), left out of the benchmark filter too."""
    title, abstract = _str(record.get("title")), _str(record.get("abstract"))
    texts = {"title": title, "abstract": abstract}
    ex = extraction_of(record) or {}
    raw_spans = record.get("spans")
    spans = raw_spans if isinstance(raw_spans, Mapping) else {}
    out: dict[str, Any] = {
        "id": str(record.get("id") or ""),
        "title": title,
        "abstract": abstract,
        "source": _source(record.get("source")),
        "meta": _meta(record.get("meta")),
        "warnings": [w for w in _list(record.get("warnings")) if isinstance(w, str)],
        "error": _error(record.get("error")),
        "hasExtraction": extraction_of(record) is not None,
        "hasSpans": isinstance(raw_spans, Mapping),
        **{name: [v for v in _list(ex.get(name)) if isinstance(v, str)] for name in _PLAIN_LISTS},
        "spans": {},
    }
    for field, key in _SPANNED:
        items, item_spans = [], []
        raw_item_spans = _list(spans.get(field))
        # Items and spans stay parallel: a malformed item drops together with its span.
        for i, raw in enumerate(_list(ex.get(field))):
            if (item := _CLEAN[field](raw)) is not None:
                items.append(item)
                raw_span = raw_item_spans[i] if i < len(raw_item_spans) else None
                item_spans.append(_span(raw_span, texts))
        out[key] = items
        out["spans"][key] = item_spans
    results_benchmarks = (r["benchmark"] for r in out["results"] if r["benchmark"])
    names = [*out["benchmarks"], *(b for b in results_benchmarks if b not in not_benchmarks)]
    out["bk"] = sorted({c for n in names if (c := canon.canonical("benchmark", n))})
    return out


def leaderboards(data: Rows) -> list[dict[str, Any]]:
    """Per benchmark: its pivot columns as boards of (model, best level), best first in the
    metric's direction, and its gains (deltas) apart, never ranked: a gain is over a baseline
    the text names or not, so two gains are no comparison. Each board says which spellings its
    benchmark and metric merge. Entries: [model, value, paper id, title, evidence, source];
    gains: [model or null, value, unit, metric, paper id, title, evidence]."""
    canon = data.canon
    pv = pivot(data.rows)
    aka: dict[tuple[str, str], list[str]] = {
        (m.kind, m.canonical): [v for v, _ in m.variants if v != m.canonical]
        for m in canon.merges()
    }
    by_benchmark: dict[str, dict[str, Any]] = {}

    def card(benchmark: str) -> dict[str, Any]:
        return by_benchmark.setdefault(
            benchmark,
            {"benchmark": benchmark, "aka": aka.get(("benchmark", benchmark), []),
             "boards": [], "gains": []},
        )  # fmt: skip

    for column in pv.columns:
        entries = [
            [model, cell.value, cell.paper_id, cell.title, cell.evidence, cell.model_source]
            for model, cell in pv.board(column)
        ]
        card(column.benchmark)["boards"].append(
            {
                "metric": column.metric,
                "aka": aka.get(("metric", column.metric), []) if column.metric else [],
                "unit": column.unit,
                "lower": column.lower_is_better,
                "entries": entries,
            }
        )
    for row in data.rows:
        if row.delta and row.benchmark:
            card(row.benchmark)["gains"].append(
                [row.model, row.value, row.unit, row.metric, row.paper_id, row.title, row.evidence]
            )
    size = {
        b: sum(len(c["entries"]) for c in v["boards"]) + len(v["gains"])
        for b, v in by_benchmark.items()
    }
    order = sorted(by_benchmark, key=lambda b: (-size[b], b.casefold()))
    return [by_benchmark[b] for b in order]


def kind_fixes(data: Rows) -> list[list[str]]:
    """[paper id, field, name, scope] for each name the leaderboards cleared as the wrong kind."""
    return [[f.paper_id, f.field, f.name, f.scope] for f in data.kind_fixes]


def build_payload(records: Sequence[Mapping[str, Any]], *, source: str = "") -> dict[str, Any]:
    canon = Canon.from_records(records)
    data = build_rows(records, canon)
    cleared: dict[str, set[str]] = {}
    for fix in data.kind_fixes:
        if fix.field == "benchmark":
            cleared.setdefault(fix.paper_id, set()).add(fix.name)
    papers = [paper(r, canon, frozenset(cleared.get(str(r.get("id") or ""), ()))) for r in records]
    modalities = Counter(m for p in papers for m in p["modalities"])
    benchmarks = Counter(b for p in papers for b in p["bk"])
    return {
        "version": 1,
        "source": source,
        "papers": papers,
        "boards": leaderboards(data),
        "kindFixes": kind_fixes(data),
        "merges": [
            {"kind": m.kind, "canonical": m.canonical, "variants": [list(v) for v in m.variants]}
            for m in canon.merges()
        ],
        # [name, papers], most frequent first: the filter menus.
        "modalities": modalities.most_common(),
        "benchmarks": benchmarks.most_common(),
    }
