"""Time grounding: the gold records (the exact path) and one 100 KB text (the fuzzy path).

    .venv/bin/python bench/ground_bench.py [--gold ../shared/gold/dev.jsonl] [--repeat 5]

Prints microseconds a record and records a second for the gold set (best of `--repeat`
passes after a warm-up), and milliseconds for one call on a 100 KB text holding a fuzzy
evidence match. A cached run must exceed 5,000 records/s overall, and grounding gets a small
share of that: measured ~30-60 us a record on the gold set and ~10 ms for the 100 KB text.
These were assertions in tests/core/test_ground.py; timings on a shared machine are not tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extractor.core.ground import ground
from extractor.core.schema import Extraction

ROOT = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    for base in (ROOT.parent / "shared", ROOT / "shared"):
        if base.exists():
            return base
    return ROOT.parent / "shared"


def gold_rate(gold: Path, repeat: int) -> float:
    records = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line]
    args = [
        (Extraction.model_validate(r["extraction"]), r["title"], r["abstract"]) for r in records
    ]
    for a in args:  # warm-up
        ground(*a)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for a in args:
            ground(*a)
        best = min(best, (time.perf_counter() - started) / len(args))
    return best


def big_text_seconds(seed: Path) -> float:
    abstract = seed.read_text(encoding="utf-8")[:100_000]
    clause = abstract[50_000:50_090]

    def result(value: float, evidence: str) -> dict[str, Any]:
        return {"value": value, "unit": "%", "delta": False, "benchmark": None, "metric": None,
                "model": None, "evidence": evidence}  # fmt: skip

    ex = Extraction.model_validate(
        {
            "models": [
                {"name": "GPT-5", "role": "compared"},
                {"name": "Zorblax", "role": "proposed"},
            ],
            "modalities": [],
            "tasks": [],
            "benchmarks": ["FakeBench-42"],
            "results": [
                result(99.9, "achieves 99.9% accuracy on the FakeBench-42 benchmark overall"),
                result(1.0, clause[:30] + clause[31:]),  # one character dropped: a fuzzy match
            ],
            "code_links": [{"url": "https://evil.example", "kind": "code"}],
        }
    )
    started = time.perf_counter()
    ground(ex, "A title", abstract)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gold", type=Path, default=_shared() / "gold" / "dev.jsonl")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    per_record = gold_rate(args.gold, args.repeat)
    print(f"gold ({args.gold.name}): {per_record * 1e6:.0f} us a record, "
          f"{1 / per_record:,.0f} records/s")  # fmt: skip
    seeds = sorted((_shared() / "seeds").glob("*.txt"))
    if seeds:
        print(f"100 KB text ({seeds[0].name}): {big_text_seconds(seeds[0]) * 1e3:.1f} ms")
    else:
        print("100 KB text: skipped (shared/seeds not found)")


if __name__ == "__main__":
    main()
