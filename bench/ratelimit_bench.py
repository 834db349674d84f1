"""Benchmark the client-side rate limiter: `extractor run` against `fake_openai.py` enforcing
RPM and TPM limits with 429s.

The limits allow min(RPM / 60, TPM / 60 / tokens per request) requests a second; the
ratio of that to the run's measured rate (in-run, from the summary line) says how much of
the limits the run uses, and the server's own count says how many requests it answered 429.

    python bench/ratelimit_bench.py       # 2,000 records, 600 RPM, 200k TPM: docs/performance.md's figure
    python bench/ratelimit_bench.py --records 300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from run_bench import HERE, _free_port, _in_run_seconds, make_input, run_extractor


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rpm", type=float, default=600)
    parser.add_argument("--tpm", type=float, default=200_000)
    parser.add_argument("--prompt-tokens", type=int, default=270)
    parser.add_argument("--completion-tokens", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--client-limits",
        action="store_true",
        help="also give the limits to the client (--rpm/--tpm); by default it learns them",
    )
    opts = parser.parse_args()

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable, str(HERE / "fake_openai.py"), "--port", str(port),
            "--latency", str(opts.latency), "--rpm", str(opts.rpm), "--tpm", str(opts.tpm),
            "--prompt-tokens", str(opts.prompt_tokens),
            "--completion-tokens", str(opts.completion_tokens),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    try:
        assert server.stdout is not None and "ready" in server.stdout.readline()
        url = f"http://127.0.0.1:{port}/v1"
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            env["EXTRACTOR_CACHE_DIR"] = str(tmp / "cache")
            src = make_input(tmp / "in.jsonl", opts.records)
            args = [str(src), "--base-url", url, "-m", "bench", "-c", str(opts.concurrency)]
            args += ["-o", str(tmp / "out.jsonl")]
            if opts.client_limits:
                args += ["--rpm", str(opts.rpm), "--tpm", str(opts.tpm)]
            wall, _, err = run_extractor(args, env)
        with urllib.request.urlopen(f"{url}/stats") as response:
            stats = json.loads(response.read())
    finally:
        server.terminate()
        server.wait(timeout=10)
    per_request = opts.prompt_tokens + opts.completion_tokens
    allowed = min(opts.rpm / 60, opts.tpm / 60 / per_request)  # requests a second
    in_run = _in_run_seconds(err)
    ideal = opts.records / allowed
    throttled = stats["throttled"]
    print(
        f"rate limits: {opts.records} records, {opts.rpm:g} RPM, {opts.tpm:g} TPM "
        f"({per_request} tokens a request): the limits allow {allowed:.2f} requests/s, "
        f"{ideal:.1f}s for the run; in-run {in_run:.1f}s (wall {wall:.1f}s), "
        f"throughput ratio {ideal / in_run:.3f}; {throttled} of {stats['requests']} requests "
        f"answered 429 ({100 * throttled / stats['requests']:.2f}%)"
    )


if __name__ == "__main__":
    main()
