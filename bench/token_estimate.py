"""How far the prompt-token estimate (`pricing.estimate_tokens`: characters / 4 plus a few a
message) is from what servers counted: every recorded request in `cassettes/` against the
`usage.prompt_tokens` of its answer.

    python bench/token_estimate.py
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extractor.pipeline.pricing import estimate_tokens  # noqa: E402


def main() -> None:
    ratios = []
    for path in sorted((ROOT / "cassettes").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for exchange in data.get("interactions", []):
            body = exchange["request"].get("body") or {}
            usage = (exchange["response"].get("body") or {}).get("usage") or {}
            if not body.get("messages") or not usage.get("prompt_tokens"):
                continue
            estimate = estimate_tokens(body["messages"])
            ratios.append(estimate / usage["prompt_tokens"])
            print(f"{path.name}: estimate {estimate}, counted {usage['prompt_tokens']}")
    if not ratios:
        raise SystemExit("no recorded exchange with usage")
    errors = [abs(r - 1) for r in ratios]
    print(
        f"{len(ratios)} requests: estimate / counted mean {statistics.mean(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}); mean absolute error "
        f"{100 * statistics.mean(errors):.1f}%"
    )


if __name__ == "__main__":
    main()
