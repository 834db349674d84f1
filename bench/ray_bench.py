"""Benchmark `--engine ray` against the fake endpoint: records/s for 1, 2 and 4 actors.

The endpoint answers after --latency seconds and serves at most --capacity completions at
once, so its limit is capacity / latency records a second, whoever asks. Each actor keeps
--concurrency requests in flight. The ratio is the measured rate over that limit: one actor
is bounded by its own concurrency (concurrency / latency), more actors by the endpoint.

Two rates per run: end to end (Ray start-up excluded: one local Ray serves every run;
reading, dedupe, extraction, shard writes and the ordered merge included) and in-job (the
map_batches stage and its shard writes alone, actor start-up included). Each run uses a
fresh cache and work directory, so every record is a request. A plain single-process run
with actors x concurrency in flight is the baseline.

    python bench/ray_bench.py                          # the figures in docs/performance.md
    python bench/ray_bench.py --records 300 --actors 1,2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run_bench import fake_endpoint, make_input  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--capacity", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight per actor")
    parser.add_argument("--actors", default="1,2,4")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--cpus", type=int, default=2, help="ray.init(num_cpus=...)")
    args = parser.parse_args()

    import ray

    from extractor.api import Extractor, build_config
    from extractor.engines.ray import run_ray

    limit = args.capacity / args.latency
    print(
        f"{args.records} records, latency {args.latency}s, capacity {args.capacity}: "
        f"endpoint limit {limit:.1f} records/s; {args.concurrency} in flight per actor"
    )
    t = time.monotonic()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    print(f"ray.init: {time.monotonic() - t:.1f}s (not counted below)")
    with tempfile.TemporaryDirectory() as tmp, fake_endpoint(args.latency, args.capacity) as url:
        src = make_input(Path(tmp) / "in.jsonl", args.records)
        for n in [int(a) for a in args.actors.split(",")]:
            work = Path(tmp) / f"ray{n}"
            config = build_config(
                [str(src)],
                output=str(work / "out.jsonl"),
                base_url=url,
                cache_dir=work / "cache",
                concurrency=args.concurrency,
            )
            s = run_ray(config, actors=n, batch_size=args.batch_size)
            assert s.written == args.records, s
            e2e, job = s.written / s.seconds, s.written / s.extract_seconds
            bound = min(limit, n * args.concurrency / args.latency)
            print(
                f"ray, {n} actor{'s' if n > 1 else ''}: {s.seconds:6.1f}s end to end "
                f"{e2e:6.1f} records/s (ratio to endpoint limit {e2e / limit:.3f}); in-job "
                f"{s.extract_seconds:6.1f}s {job:6.1f} records/s (ratio {job / limit:.3f}; "
                f"{job / bound:.3f} of what {n}x{args.concurrency} in flight allows)"
            )
        ray.shutdown()
        n = max(int(a) for a in args.actors.split(","))
        with Extractor(
            base_url=url, cache_dir=Path(tmp) / "plain", concurrency=n * args.concurrency
        ) as ex:
            t = time.monotonic()
            count = sum(1 for _ in ex.run(_rows(src)))
            wall = time.monotonic() - t
        print(
            f"plain, one process, {n * args.concurrency} in flight: {wall:6.1f}s "
            f"{count / wall:6.1f} records/s (ratio {count / wall / limit:.3f})"
        )


def _rows(path: Path):  # type: ignore[no-untyped-def]
    import json

    with path.open() as fh:
        for line in fh:
            yield json.loads(line)


if __name__ == "__main__":
    main()
