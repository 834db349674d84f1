"""Cassettes: HTTP exchanges recorded from a real OpenAI-compatible server, replayed by respx.

Recording goes through the product's own call path (`OpenAICall` with a recording httpx
transport), so a cassette holds exactly what the tool sent and what the server answered.
Replay matches the whole request (messages, schema, settings; only the model's name may
differ) and answers each recorded request once: a prompt or schema edited since the recording
fails loudly (`StaleCassette`) instead of replaying an answer the server never gave to it.

Record (needs the embedded server; see cassettes/README.md):

    python -m tests.support.cassette --model local:qwen2.5-coder-1.5b --n 3 cassettes/qwen-dev.json

`--mode` records one mode (default json_schema); a mode the server cannot do is recorded too,
up to the response that stopped the run (its one-line error is kept in `stopped_with`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import httpx

PAPER_TAG = "<paper>"


def paper_of(body: dict[str, Any]) -> str:
    papers = [m["content"] for m in body.get("messages", []) if PAPER_TAG in str(m.get("content"))]
    return str(papers[-1]) if papers else ""


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner
        self.interactions: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        if request.method == "POST":
            self.interactions.append(
                {
                    "request": {
                        "method": request.method,
                        "path": request.url.path,
                        "body": json.loads(request.content),
                    },
                    "response": {
                        "status": response.status_code,
                        "headers": {"content-type": response.headers.get("content-type", "")},
                        "body": json.loads(content),
                    },
                }
            )
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


class StaleCassette(AssertionError):
    """The request differs from every recorded one: the prompt, the schema or a setting
    changed since the recording. Re-record (see cassettes/README.md) rather than replay an
    answer the server never gave to this request."""


def request_key(body: dict[str, Any], ignore: frozenset[str] = frozenset()) -> str:
    """What a live request must share with a recorded one: the whole body but the model's
    name (a replay runs under another name, so the run does not start a local server) and
    whatever a test explicitly `ignore`s."""
    skip = {"model", *ignore}
    return json.dumps({k: v for k, v in body.items() if k not in skip}, sort_keys=True)


def _what_differs(body: dict[str, Any], recorded: dict[str, Any]) -> str:
    parts = sorted(k for k in set(body) | set(recorded) if k != "model")
    changed = [k for k in parts if body.get(k) != recorded.get(k)]
    if "messages" in changed:
        sent, was = body.get("messages", []), recorded.get("messages", [])
        at = [i for i in range(max(len(sent), len(was))) if sent[i : i + 1] != was[i : i + 1]]
        changed[changed.index("messages")] = f"messages[{at[0]}]" if at else "messages"
    return ", ".join(changed) or "nothing (already replayed)"


class Replay:
    """A respx side effect answering each chat request with the recorded answer to the very
    same request, once. A request that was never recorded (or is asked more often than it
    was) raises `StaleCassette` naming what differs from the recording of the same paper, and
    is kept in `stale`: the client may take the raise for a dropped connection, so a test
    asserts `stale == []` to fail loudly."""

    def __init__(self, cassette: dict[str, Any], ignore: frozenset[str] = frozenset()):
        self.ignore = ignore
        self.stale: list[str] = []
        self.pending = [
            (request_key(e["request"]["body"], ignore), e["request"]["body"], e["response"])
            for e in cassette["interactions"]
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        pending = self.pending
        body = json.loads(request.content)
        key = request_key(body, self.ignore)
        for i, (recorded_key, _, response) in enumerate(pending):
            if recorded_key == key:
                del pending[i]
                return httpx.Response(response["status"], json=response["body"])
        same_paper = [b for _, b, _ in pending if paper_of(b) == paper_of(body)]
        if same_paper:
            why = f"differs from its recording in {_what_differs(body, same_paper[0])}"
        else:
            why = "is for a paper with no recording left"
        self.stale.append(f"stale cassette: the request {why}; re-record it")
        raise StaleCassette(self.stale[-1])


def replay(cassette: dict[str, Any], ignore: frozenset[str] = frozenset()) -> Replay:
    return Replay(cassette, ignore)


def mode_of(body: dict[str, Any]) -> str:
    """The mode a recorded request was sent in, from its body."""
    if body.get("tools"):
        return "tools"
    kind = (body.get("response_format") or {}).get("type")
    return {"json_schema": "json_schema", "json_object": "json"}.get(kind, "none")


async def _record(
    model: str,
    papers_path: Path,
    n: int,
    out: Path,
    mode: str = "json_schema",
    max_tokens: int = 2048,
    results: str = "rule",
) -> dict[str, Any]:
    from extractor.config import LOCAL_TIMEOUT, ModelConfig, RunConfig
    from extractor.logs import configure
    from extractor.model.call import FatalError

    configure()  # the libraries' loggers stay quiet, as under the CLI
    from extractor.core.schema import schema_version
    from extractor.model.local import local_endpoint
    from extractor.model.openai_call import OpenAICall
    from extractor.pipeline.progress import Counters, Progress
    from extractor.pipeline.prompt import load_prompt
    from extractor.pipeline.read import read_inputs
    from extractor.pipeline.window import Pipeline
    from extractor.pipeline.write import JsonlWriter

    config = RunConfig(inputs=[str(papers_path)], limit=n, use_cache=False, concurrency=1)
    # As `extractor run` sets it up for a local model: compact prompt, local timeout.
    config.model = ModelConfig(
        model=model,
        prompt_variant="compact",
        mode=mode,
        timeout=LOCAL_TIMEOUT,
        max_tokens=max_tokens,
        results=results,
    )
    prompt = load_prompt("compact", results)
    transport = RecordingTransport(httpx.AsyncHTTPTransport())
    stopped: str | None = None
    started = time.monotonic()
    with local_endpoint(model, parallel=1) as base_url:
        config.model.base_url = base_url
        async with httpx.AsyncClient(transport=transport) as client:
            call = OpenAICall(config.model, http_client=client)
            pipeline = Pipeline(config, call, prompt, None)
            sink = JsonlWriter(os.devnull)
            errors = JsonlWriter(str(out.with_suffix(".errors.jsonl")), lazy=True)
            papers = read_inputs([str(papers_path)], None, print)
            try:
                await pipeline.run(
                    papers, sink, errors, Progress(Counters(), total=n, enabled=False)
                )
            except FatalError as e:
                stopped = str(e)
            sink.close()
            errors.close()
    import xllamacpp

    return {
        "recorded_with": {
            "mode": mode,
            "max_tokens": max_tokens,
            "seconds": round(time.monotonic() - started, 1),
            "server": f"llama.cpp server embedded by xllamacpp {getattr(xllamacpp, '__version__', '?')}",
            "model": model,
            "results": results,
            "prompt_version": prompt.version,
            "schema_version": schema_version(results),
            "machine": f"{platform.machine()}, {platform.system()}",
            "date": dt.date.today().isoformat(),
        },
        "stopped_with": stopped,
        "interactions": transport.interactions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="local:smollm2-135m")
    parser.add_argument(
        "--papers", type=Path, default=Path(__file__).resolve().parents[3] / "shared/gold/dev.jsonl"
    )
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--mode", default="json_schema", choices=["json_schema", "tools", "json"])
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument(
        "--results", default="rule", choices=["anchored", "rule", "free"], help="results mode"
    )
    args = parser.parse_args()
    cassette = asyncio.run(
        _record(args.model, args.papers, args.n, args.out, args.mode, args.max_tokens, args.results)
    )
    args.out.write_text(json.dumps(cassette, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(cassette['interactions'])} exchanges -> {args.out}")


if __name__ == "__main__":
    main()
