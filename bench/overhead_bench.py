"""Client CPU per request: `extractor run --no-cache` against `fake_openai.py` answering at once,
with many requests in flight. The figure is the extractor process's own CPU time (user +
system, from the kernel's accounting of the child) divided by the records, start-up
excluded by subtracting a run of 1 record; the fake server's CPU is not in it.

    python bench/overhead_bench.py                          # 2,000 records at concurrency 256
    python bench/overhead_bench.py --profile prof.out       # and a cProfile of the run
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run_bench import fake_endpoint, make_input

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_of(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"extractor run failed ({proc.returncode}):\n{proc.stderr.decode()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


async def _floor(url: str, n: int, concurrency: int, pooled: bool) -> float:
    """CPU seconds a request of bare httpx costs: the same body posted, its JSON parsed."""
    import asyncio
    import json

    import httpx
    from httpx_aiohttp import HttpxAiohttpClient

    from extractor.pipeline.prompt import load_prompt

    messages = load_prompt("full", "anchored").messages("Title: BenchNet", "We propose BenchNet.")
    body = {"model": "bench", "messages": messages, "max_tokens": 2048}
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency)
    kind = HttpxAiohttpClient if pooled else httpx.AsyncClient
    async with kind(base_url=url, limits=limits) as client:
        slots = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with slots:
                response = await client.post("/chat/completions", json=body)
                json.loads(response.content)

        await asyncio.gather(*(one() for _ in range(50)))  # connections opened
        start = time.process_time()
        await asyncio.gather(*(one() for _ in range(n)))
        return (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each size; the least counts")
    parser.add_argument("--profile", help="write a cProfile of the big run here")
    parser.add_argument(
        "--floor", action="store_true", help="also measure bare httpx posting the same body"
    )
    opts = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with tempfile.TemporaryDirectory() as tmp_name, fake_endpoint(0.0) as url:
        tmp = Path(tmp_name)
        env["EXTRACTOR_CACHE_DIR"] = str(tmp / "cache")
        base = [sys.executable]
        args = ["-m", "extractor", "run", "--base-url", url, "-m", "bench", "-q", "--no-cache"]
        args += ["-c", str(opts.concurrency), "-o", str(tmp / "out.jsonl")]
        one = make_input(tmp / "one.jsonl", 1)
        many = make_input(tmp / "many.jsonl", opts.records)
        # Start-up (imports, the first connection) varies by a second from run to run: the
        # least of three one-record runs, and of the big runs, is the least disturbed.
        startup = min(cpu_of([*base, *args, str(one)], env)[0] for _ in range(opts.repeat))
        cpu, wall = min(cpu_of([*base, *args, str(many)], env) for _ in range(opts.repeat))
        per = (cpu - startup) / (opts.records - 1)
        print(
            f"client overhead: {opts.records} records, concurrency {opts.concurrency}, "
            f"zero-latency endpoint: {per * 1000:.2f} ms CPU a request "
            f"(run {cpu:.2f}s CPU less {startup:.2f}s start-up), wall {wall:.1f}s, "
            f"{opts.records / wall:.0f} records/s"
        )
        if opts.floor:
            import asyncio

            for pooled in (False, True):
                per = asyncio.run(_floor(url, opts.records, opts.concurrency, pooled))
                pools = "aiohttp transport" if pooled else "httpcore's pool"
                print(f"floor: bare httpx ({pools}), {per * 1000:.2f} ms CPU a request")
        if opts.profile:
            prof = ["-m", "cProfile", "-o", opts.profile]
            cpu_of([*base, *prof, *args, str(many)], env)
            import pstats

            pstats.Stats(opts.profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
