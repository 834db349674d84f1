"""How much of the gold the number miner offers: the share of gold result values that stand
among the candidates mined from the gold record's own title and abstract. Results cited by id
can be no better than this, so `extractor eval` reports it beside the scores."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from extractor.core.facts import analyze


@dataclass
class CandidateRecall:
    found: int = 0
    total: int = 0
    missed: list[tuple[str, float]] = field(default_factory=list)  # (title, value)

    @property
    def recall(self) -> float | None:
        return self.found / self.total if self.total else None


def _same(a: float, b: float) -> bool:
    # EVAL.md's value identity; a sign the miner read ("-1.5%") against a gold magnitude counts
    return abs(abs(a) - abs(b)) <= 1e-6 * max(1.0, abs(b))


def candidate_recall(gold: Iterable[Mapping[str, Any]]) -> CandidateRecall:
    """Gold records need `title`, `abstract` and `extraction.results[].value`; records without
    an abstract are skipped (there is nothing to mine)."""
    out = CandidateRecall()
    for rec in gold:
        abstract = rec.get("abstract")
        extraction = rec.get("extraction")
        if not isinstance(abstract, str) or not isinstance(extraction, Mapping):
            continue
        title = rec["title"] if isinstance(rec.get("title"), str) else ""
        values = [n.value for n in analyze(title, abstract).numbers]
        for r in extraction.get("results") or []:
            v = r.get("value") if isinstance(r, Mapping) else None
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            out.total += 1
            if any(_same(x, float(v)) for x in values):
                out.found += 1
            else:
                out.missed.append((title, float(v)))
    return out
