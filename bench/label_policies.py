"""Who should label mined numbers: the rules, the model, or both? Scores each `--labels`
policy on a gold file from ONE set of cached model answers (no request is sent).

    extractor run dev90.jsonl -o pred.jsonl            # fills the cache (anchored results)
    python bench/label_policies.py dev90.jsonl         # re-grounds it under every policy

Each policy is `extractor run INPUT --cache-only --labels POLICY` followed by
`extractor eval`; extra arguments after `--` go to `extractor run` (e.g. `-m`, `--prompt`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

POLICIES = [
    "rule",
    "select=rule,delta=rule,attrs=model,roles=rule",
    "select=rule,delta=model,attrs=model,roles=rule",
    "select=both,delta=rule,attrs=model,roles=rule",
    "select=either,delta=rule,attrs=model,roles=rule",
    "select=model,delta=model,attrs=model,roles=rule",
    "select=rule,delta=rule,attrs=model,roles=model",
    "model",
]


def score(input_path: str, gold: str, policy: str, run_args: list[str], out: Path) -> dict:
    cmd = [sys.executable, "-m", "extractor", "run", input_path, "-o", str(out), "-q"]
    cmd += ["--cache-only", "--labels", policy, *run_args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 3):
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr.strip()}")
    errors = out.with_name(out.stem + ".errors.jsonl")
    missing = sum(1 for _ in errors.open()) if errors.exists() else 0
    report = subprocess.run(
        [sys.executable, "-m", "extractor", "eval", str(out), gold, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(report.stdout)
    data["not_cached"] = missing
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/label_policies.py", description=__doc__)
    ap.add_argument("input", help="papers to re-ground (JSONL with title and abstract)")
    ap.add_argument("--gold", help="gold file (default: the input itself)")
    ap.add_argument("--policy", action="append", help="policies to score (default: a grid)")
    ap.add_argument("--json", action="store_true")
    args, rest = ap.parse_known_args(argv)
    run_args = rest[1:] if rest[:1] == ["--"] else rest
    gold = args.gold or args.input
    header = (
        f"{'policy':<50} {'results P/R/F1':>17} {'bench':>6} {'metric':>6} {'role':>6} "
        f"{'macro':>6} {'miss':>4}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for policy in args.policy or POLICIES:
            d = score(args.input, gold, policy, run_args, Path(tmp) / "out.jsonl")
            if args.json:
                print(json.dumps({"policy": policy, **d}))
                continue
            r = d["fields"]["results"]
            a = d["attributes"]
            prf = f"{r['precision']:.3f}/{r['recall']:.3f}/{r['f1']:.3f}"

            def acc(name: str, attributes: dict = a) -> str:
                v = attributes[name]["accuracy"]
                return "n/a" if v is None else f"{v:.3f}"

            print(
                f"{policy:<50} {prf:>17} {acc('results.benchmark'):>6} {acc('results.metric'):>6} "
                f"{acc('models.role'):>6} {d['macro_f1']:>6.3f} {d['not_cached']:>4}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
