"""Cassettes: HTTP exchanges recorded from a real OpenAI-compatible server, replayed by respx.

Recording goes through the product's own call path (`OpenAICall` with a recording httpx
transport), so a cassette holds exactly what the tool sent and what the server answered.
Replay matches the whole request (messages, schema, settings; only the model's name may
differ) and answers each recorded request once: a prompt or schema edited since the recording
fails loudly (`StaleCassette`) instead of replaying an answer the server never gave to it.

Record (needs the embedded server; see cassettes/README.md):

    python -m tests.cassette --model local:qwen2.5-coder-1.5b --n 3 cassettes/qwen-dev.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
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


def request_key(body: dict[str, Any]) -> str:
    """What a live request must share with a recorded one: the whole body but the model's
    name (a replay runs under another name, so the run does not start a local server)."""
    return json.dumps({k: v for k, v in body.items() if k != "model"}, sort_keys=True)


def _what_differs(body: dict[str, Any], recorded: dict[str, Any]) -> str:
    parts = sorted(k for k in set(body) | set(recorded) if k != "model")
    changed = [k for k in parts if body.get(k) != recorded.get(k)]
    if "messages" in changed:
        sent, was = body.get("messages", []), recorded.get("messages", [])
        at = [i for i in range(max(len(sent), len(was))) if sent[i : i + 1] != was[i : i + 1]]
        changed[changed.index("messages")] = f"messages[{at[0]}]" if at else "messages"
    return ", ".join(changed) or "nothing (already replayed)"


def replay(cassette: dict[str, Any]) -> Any:
    """A respx side effect answering each chat request with the recorded answer to the very
    same request, once: a request that was never recorded (or is asked more often than it was)
    raises `StaleCassette` naming what differs from the recording of the same paper."""
    pending = [
        (request_key(e["request"]["body"]), e["request"]["body"], e["response"])
        for e in cassette["interactions"]
    ]

    def side_effect(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        key = request_key(body)
        for i, (recorded_key, _, response) in enumerate(pending):
            if recorded_key == key:
                del pending[i]
                return httpx.Response(response["status"], json=response["body"])
        same_paper = [b for _, b, _ in pending if paper_of(b) == paper_of(body)]
        if same_paper:
            why = f"differs from its recording in {_what_differs(body, same_paper[0])}"
        else:
            why = "is for a paper with no recording left"
        raise StaleCassette(f"stale cassette: the request {why}; re-record it")

    return side_effect


async def _record(model: str, papers_path: Path, n: int, out: Path) -> dict[str, Any]:
    from extractor.config import ModelConfig, RunConfig
    from extractor.core.schema import SCHEMA_VERSION
    from extractor.local import local_endpoint
    from extractor.openai_call import OpenAICall
    from extractor.pipeline import Pipeline
    from extractor.progress import Counters, Progress
    from extractor.prompt import load_prompt
    from extractor.read import read_inputs
    from extractor.write import JsonlWriter

    config = RunConfig(inputs=[str(papers_path)], limit=n, use_cache=False, concurrency=1)
    config.model = ModelConfig(model=model, prompt_variant="compact")
    transport = RecordingTransport(httpx.AsyncHTTPTransport())
    with local_endpoint(model, parallel=1) as base_url:
        config.model.base_url = base_url
        async with httpx.AsyncClient(transport=transport) as client:
            call = OpenAICall(config.model, http_client=client)
            pipeline = Pipeline(config, call, load_prompt("compact"), None)
            sink = JsonlWriter(os.devnull)
            errors = JsonlWriter(str(out.with_suffix(".errors.jsonl")), lazy=True)
            papers = read_inputs([str(papers_path)], None, print)
            await pipeline.run(papers, sink, errors, Progress(Counters(), total=n, enabled=False))
            sink.close()
            errors.close()
    import xllamacpp

    return {
        "recorded_with": {
            "server": f"llama.cpp server embedded by xllamacpp {getattr(xllamacpp, '__version__', '?')}",
            "model": model,
            "prompt_version": load_prompt("compact").version,
            "schema_version": SCHEMA_VERSION,
            "machine": f"{platform.machine()}, {platform.system()}",
            "date": dt.date.today().isoformat(),
        },
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
    args = parser.parse_args()
    cassette = asyncio.run(_record(args.model, args.papers, args.n, args.out))
    args.out.write_text(json.dumps(cassette, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(cassette['interactions'])} exchanges -> {args.out}")


if __name__ == "__main__":
    main()
