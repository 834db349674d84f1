"""Seconds per abstract and tokens per second of the embedded model, per server setting.

    python bench/local_model.py --model local:qwen2.5-coder-1.5b \
        --input shared/gold/dev.jsonl --papers 6 --threads 1,2 --parallel 1,2

Each paper is sent as `extractor run` sends it: the project's prompt, then the Extraction
JSON Schema as `response_format` (llama.cpp turns it into a grammar), through the OpenAI
client. The first paper of each setting also pays for reading the shared prompt prefix;
later ones reuse it from the KV cache, which is the steady state of a long run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from extractor.model.local.resolve import resolve
from extractor.model.local.server import DEFAULT_CTX, LocalServer, default_threads


@dataclass
class Sample:
    seconds: float
    prompt_tokens: int
    cached_tokens: int
    output_tokens: int
    prompt_ms: float
    gen_ms: float
    finish: str
    valid: bool


@dataclass
class Outcome:
    threads: int
    parallel: int
    startup_s: float
    wall_s: float
    samples: list[Sample] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        s = self.samples
        warm = s[1:] if len(s) > 1 else s
        gen_ms = sum(x.gen_ms for x in s)
        prompt_ms = sum(x.prompt_ms for x in s)
        new_prompt = sum(x.prompt_tokens - x.cached_tokens for x in s)
        return {
            "threads": self.threads,
            "parallel": self.parallel,
            "papers": len(s),
            "startup_s": round(self.startup_s, 1),
            "s_per_abstract": round(self.wall_s / len(s), 1),
            "first_s": round(s[0].seconds, 1),
            "warm_median_s": round(statistics.median(x.seconds for x in warm), 1),
            "prompt_tok": sum(x.prompt_tokens for x in s),
            "cached_tok": sum(x.cached_tokens for x in s),
            "prefill_tok_s": round(new_prompt / (prompt_ms / 1000), 1) if prompt_ms else None,
            "output_tok": sum(x.output_tokens for x in s),
            "gen_tok_s": round(sum(x.output_tokens for x in s) / (gen_ms / 1000), 1)
            if gen_ms
            else None,
            "valid": sum(x.valid for x in s),
            "truncated": sum(x.finish == "length" for x in s),
        }


async def _one(
    client: Any,
    model: str,
    messages: list[dict[str, str]],
    kw: dict[str, Any],
    answer_model: type[Any],
) -> Sample:
    start = time.perf_counter()
    resp = await client.chat.completions.create(model=model, messages=messages, **kw)
    seconds = time.perf_counter() - start
    timings = (resp.model_extra or {}).get("timings") or {}
    text = resp.choices[0].message.content or ""
    try:
        answer_model.model_validate_json(text)
        valid = True
    except ValueError:
        valid = False
    return Sample(
        seconds=seconds,
        prompt_tokens=resp.usage.prompt_tokens if resp.usage else 0,
        cached_tokens=int(timings.get("cache_n", 0)),
        output_tokens=resp.usage.completion_tokens if resp.usage else 0,
        prompt_ms=float(timings.get("prompt_ms", 0.0)),
        gen_ms=float(timings.get("predicted_ms", 0.0)),
        finish=resp.choices[0].finish_reason or "",
        valid=valid,
    )


async def _drive(
    server: LocalServer, convos: list[list[dict[str, str]]], max_tokens: int, results: str
) -> list[Sample]:
    import openai

    from extractor.core.schema import reply_model

    Extraction = reply_model(results)

    client = openai.AsyncOpenAI(
        base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=1800
    )
    kw = {
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "Extraction", "schema": Extraction.model_json_schema()},
        },
    }
    # The first paper alone, so it alone pays for the shared prefix; then the rest with as
    # many in flight as there are slots, as `extractor run` keeps them.
    samples = [await _one(client, server.alias, convos[0], kw, Extraction)]
    queue = list(convos[1:])
    lock = asyncio.Lock()

    async def worker() -> None:
        while True:
            async with lock:
                if not queue:
                    return
                convo = queue.pop(0)
            samples.append(await _one(client, server.alias, convo, kw, Extraction))

    await asyncio.gather(*(worker() for _ in range(server.parallel)))
    await client.close()
    return samples


def _papers(paths: list[str], limit: int) -> list[tuple[str, str]]:
    from extractor.pipeline.read import read_inputs

    out = []
    for paper in read_inputs(paths, None, lambda _m: None):
        out.append((paper.title, paper.abstract))
        if len(out) >= limit:
            break
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python bench/local_model.py", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--model", default="local:qwen2.5-coder-1.5b")
    ap.add_argument("--input", action="append", required=True, help="papers pages, JSONL or CSV")
    ap.add_argument("--papers", type=int, default=6)
    ap.add_argument("--threads", default=str(default_threads()), help="comma-separated")
    ap.add_argument("--parallel", default="1", help="comma-separated")
    ap.add_argument("--ctx", type=int, default=DEFAULT_CTX, help="per slot")
    ap.add_argument(
        "--prompt", default="compact", help="prompt variant (run uses compact for local)"
    )
    ap.add_argument(
        "--results",
        default="anchored",
        choices=("anchored", "rule", "free"),
        help="anchored: numbers listed with ids, cited by id; rule: results not asked; "
        "free: written out (issue 8)",
    )
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--json", action="store_true", help="one JSON row per setting on stdout")
    args = ap.parse_args(argv)

    from extractor.core.facts import analyze
    from extractor.pipeline.prompt import load_prompt

    prompt = load_prompt(args.prompt, args.results)
    convos = [
        prompt.messages(t, a, analyze(t, a).numbers) for t, a in _papers(args.input, args.papers)
    ]
    path = resolve(args.model)
    print(
        f"model {args.model} ({path.stat().st_size / 1e9:.2f} GB), {len(convos)} papers, "
        f"prompt {prompt.version}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    for threads in map(int, args.threads.split(",")):
        for parallel in map(int, args.parallel.split(",")):
            start = time.perf_counter()
            with LocalServer(
                path, alias=args.model, threads=threads, parallel=parallel, ctx_size=args.ctx
            ) as srv:
                startup = time.perf_counter() - start
                t0 = time.perf_counter()
                samples = asyncio.run(_drive(srv, convos, args.max_tokens, args.results))
                wall = time.perf_counter() - t0
            row = Outcome(threads, parallel, startup, wall, samples).row()
            row["load"] = round(os.getloadavg()[0], 2)
            print(
                json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
