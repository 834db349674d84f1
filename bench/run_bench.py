"""Benchmark `extractor run` against a local fake endpoint; prints ratios and rates.

1. Throughput: N papers at --latency seconds per request and --concurrency in flight. The
   endpoint's limit is N x latency / concurrency seconds; the ratio limit / wall time says
   how much of it the client's own work (schema, validation, JSON, cache, writes) costs.
2. Cache: the same kind of run served entirely from the cache, in records per second.
3. Memory: peak RSS for a small and a large input; records stream through, so it stays flat.

    python bench/run_bench.py                      # the figures recorded in docs/performance.md
    python bench/run_bench.py --records 500 --cache-records 2000 --memory-records 0
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
_WORDS = [
    "multimodal",
    "large",
    "language",
    "models",
    "visual",
    "instruction",
    "tuning",
    "benchmark",
    "retrieval",
    "video",
    "alignment",
    "encoder",
    "tokens",
    "reasoning",
    "grounding",
    "captioning",
    "evaluation",
    "dataset",
    "performance",
]


def make_input(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            name = f"BenchNet{i}"
            body = " ".join(rng.choice(_WORDS) for _ in range(170))
            abstract = f"We propose {name}, a model for {body}. {name} improves results."
            fh.write(json.dumps({"title": f"{name}: {body[:60]}", "abstract": abstract}) + "\n")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fake_endpoint(latency: float, capacity: int | None = None) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fake_openai.py"),
            "--port",
            str(port),
            "--latency",
            str(latency),
            *(["--capacity", str(capacity)] if capacity else []),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and "ready" in proc.stdout.readline()
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_extractor(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in KiB, and stderr of one `extractor run`."""
    cmd = [sys.executable, "-m", "extractor", "run", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            match = re.search(r"VmHWM:\s+(\d+)", status.read_text())
            peak = max(peak, int(match.group(1))) if match else peak
        except OSError:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"extractor run failed ({proc.returncode}):\n{stderr}")
    return wall, peak, stderr


def _in_run_seconds(stderr: str) -> float:
    match = re.search(r" in (\d+\.\d+)s", stderr)
    return float(match.group(1)) if match else float("nan")


async def _bare_client(url: str, n: int, concurrency: int) -> float:
    """Seconds a bare aiohttp client takes for `n` chat completions at `concurrency`: the
    ceiling the fake endpoint itself allows on this machine (it shares the cores)."""
    import asyncio

    import aiohttp

    from extractor.pipeline.prompt import load_prompt

    messages = load_prompt("full", "anchored").messages("Title: BenchNet0", "We propose BenchNet0.")
    data = json.dumps({"model": "bench", "messages": messages, "max_tokens": 2048}).encode()
    slots = asyncio.Semaphore(concurrency)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def one() -> None:
            async with slots, http.post(f"{url}/chat/completions", data=data, headers=headers) as r:
                json.loads(await r.read())

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cache-records", type=int, default=20000)
    parser.add_argument("--memory-records", type=int, default=100000, help="0 skips the memory run")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also time a bare aiohttp client (the server's share)",
    )
    opts = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        common = ["-m", "bench", "-q", "-o", str(tmp / "out.jsonl")]
        loud = [a for a in common if a != "-q"]  # the summary line gives the in-run seconds

        src = make_input(tmp / "throughput.jsonl", opts.records)
        env["EXTRACTOR_CACHE_DIR"] = str(tmp / "cache-throughput")
        with fake_endpoint(opts.latency) as url:
            wall, _, err = run_extractor(
                [str(src), "--base-url", url, "-c", str(opts.concurrency), *loud], env
            )
        limit = opts.records * opts.latency / opts.concurrency
        print(
            f"throughput: {opts.records} records, latency {opts.latency}s, concurrency "
            f"{opts.concurrency}: endpoint limit {limit:.1f}s, wall {wall:.1f}s, "
            f"ratio {limit / wall:.3f} (in-run {limit / _in_run_seconds(err) if err else float('nan'):.3f})"
        )
        if opts.ceiling:
            import asyncio

            with fake_endpoint(opts.latency) as url:
                bare = asyncio.run(_bare_client(url, opts.records, opts.concurrency))
            print(
                f"throughput ceiling: a bare aiohttp client, same records and concurrency: "
                f"{bare:.1f}s, ratio {limit / bare:.3f}"
            )

        src = make_input(tmp / "cache.jsonl", opts.cache_records, seed=1)
        env["EXTRACTOR_CACHE_DIR"] = str(tmp / "cache-rerun")
        with fake_endpoint(0.0) as url:
            fill, _, _ = run_extractor([str(src), "--base-url", url, "-c", "64", *common], env)
            wall, _, _ = run_extractor([str(src), "--base-url", url, *common], env)
            _, _, err = run_extractor([str(src), "--base-url", url, *loud], env)
        in_run = _in_run_seconds(err)
        print(
            f"cache: {opts.cache_records} records filled in {fill:.1f}s "
            f"({opts.cache_records / fill:.0f}/s at zero latency); rerun from cache "
            f"{opts.cache_records / wall:.0f} records/s end to end, "
            f"{opts.cache_records / in_run:.0f} records/s in-run"
        )

        if opts.memory_records:
            env["EXTRACTOR_CACHE_DIR"] = str(tmp / "cache-memory")
            peaks = []
            with fake_endpoint(0.0) as url:
                for n in (opts.memory_records // 10, opts.memory_records):
                    src = make_input(tmp / f"memory-{n}.jsonl", n, seed=2)
                    wall, peak, _ = run_extractor(
                        [str(src), "--base-url", url, "-c", "64", "--no-cache", *common], env
                    )
                    peaks.append(peak)
                    print(
                        f"memory: {n} records, peak RSS {peak / 1024:.0f} MiB, {n / wall:.0f} records/s"
                    )
            print(f"memory: peak RSS ratio {peaks[1] / peaks[0]:.2f} for {10}x the records")


if __name__ == "__main__":
    main()
