"""Cassettes: HTTP exchanges recorded from a real OpenAI-compatible server, replayed by respx.

Recording goes through the product's own call path (`OpenAICall` with a recording httpx
transport), so a cassette holds exactly what the tool sent and what the server answered.
Replay matches a request by the paper it asks about, not by the whole body, so editing the
instructions does not silently turn a recording into something the server never said: the
answer stays the server's answer to that paper.

Record (needs the embedded server; see cassettes/README.md):

    python -m tests.cassette --model local:qwen2.5-coder-1.5b --n 3 cassettes/qwen-dev.json

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


def replay(cassette: dict[str, Any]) -> Any:
    """A respx side effect answering each chat request with the recorded answer for its paper."""
    answers: dict[str, list[dict[str, Any]]] = {}
    for exchange in cassette["interactions"]:
        answers.setdefault(paper_of(exchange["request"]["body"]), []).append(exchange["response"])

    def side_effect(request: httpx.Request) -> httpx.Response:
        paper = paper_of(json.loads(request.content))
        queue = answers.get(paper)
        if not queue:
            raise AssertionError(f"no recorded answer for this paper: {paper[:80]!r}")
        recorded = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(recorded["status"], json=recorded["body"])

    return side_effect


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
) -> dict[str, Any]:
    from extractor.call import FatalError
    from extractor.config import LOCAL_TIMEOUT, ModelConfig, RunConfig
    from extractor.logs import configure

    configure()  # the libraries' loggers stay quiet, as under the CLI
    from extractor.core.schema import SCHEMA_VERSION
    from extractor.local import local_endpoint
    from extractor.openai_call import OpenAICall
    from extractor.pipeline import Pipeline
    from extractor.progress import Counters, Progress
    from extractor.prompt import load_prompt
    from extractor.read import read_inputs
    from extractor.write import JsonlWriter

    config = RunConfig(inputs=[str(papers_path)], limit=n, use_cache=False, concurrency=1)
    # As `extractor run` sets it up for a local model: compact prompt, local timeout.
    config.model = ModelConfig(
        model=model,
        prompt_variant="compact",
        mode=mode,
        timeout=LOCAL_TIMEOUT,
        max_tokens=max_tokens,
    )
    transport = RecordingTransport(httpx.AsyncHTTPTransport())
    stopped: str | None = None
    started = time.monotonic()
    with local_endpoint(model, parallel=1) as base_url:
        config.model.base_url = base_url
        async with httpx.AsyncClient(transport=transport) as client:
            call = OpenAICall(config.model, http_client=client)
            pipeline = Pipeline(config, call, load_prompt("compact"), None)
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
            "prompt_version": load_prompt("compact").version,
            "schema_version": SCHEMA_VERSION,
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
        "--papers", type=Path, default=Path(__file__).resolve().parents[2] / "shared/gold/dev.jsonl"
    )
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--mode", default="json_schema", choices=["json_schema", "tools", "json"])
    parser.add_argument("--max-tokens", type=int, default=2048)
    args = parser.parse_args()
    cassette = asyncio.run(
        _record(args.model, args.papers, args.n, args.out, args.mode, args.max_tokens)
    )
    args.out.write_text(json.dumps(cassette, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(cassette['interactions'])} exchanges -> {args.out}")


if __name__ == "__main__":
    main()
