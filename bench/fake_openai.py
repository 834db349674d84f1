"""A fast fake OpenAI-compatible endpoint for benchmarks: fixed latency, valid answers.

It answers every chat completion after `--latency` seconds with an extraction grounded in
the paper it was sent (the first word of the title as a proposed model), so the client does
its full work: validation, grounding, caching, writing. Plain asyncio streams, HTTP/1.1
keep-alive, no framework: the server must cost less than the client it measures.

    python bench/fake_openai.py --port 8765 --latency 0.5

`--port 0` takes a free port (printed on the "ready" line); `--stall-title TEXT` never answers
a paper whose title contains TEXT (a request that hangs, for interrupting a run mid-way).
`--capacity N` serves at most N completions at once (the others wait their turn: an endpoint
whose limit is N / latency records a second); `--fail-after A --fail-count B` answers
completions A+1 to A+B with HTTP 500 and `Retry-After: 0` (a 500 storm in the middle of a run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re

_TITLE = re.compile(r"Title: (\S+)")


def _answer(body: bytes) -> bytes:
    request = json.loads(body)
    paper = request["messages"][-1]["content"]
    match = _TITLE.search(paper)
    name = match.group(1).rstrip(":") if match else "Model"
    extraction = {
        "models": [{"name": name, "role": "proposed", "size": None}],
        "modalities": ["image", "text"],
        "tasks": ["visual question answering"],
        "benchmarks": [],
        "results": [],
        "code_links": [],
    }
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model", "bench"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(extraction)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960},
        }
    ).encode()


_MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()


def _stalls(body: bytes, stall_title: str | None) -> bool:
    if not stall_title:
        return False
    match = re.search(r"Title: (.*)", json.loads(body)["messages"][-1]["content"])
    return bool(match) and stall_title in match.group(1)


class _Faults:
    def __init__(self, capacity: int | None, fail_after: int, fail_count: int):
        self.slots = asyncio.Semaphore(capacity) if capacity else None
        self.fail_after = fail_after
        self.fail_count = fail_count
        self.completions = 0

    def storm(self) -> bool:
        self.completions += 1
        return self.fail_after < self.completions <= self.fail_after + self.fail_count


_FAILED = b'{"error": {"message": "injected server error", "type": "server_error"}}'


async def _handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    latency: float,
    stall_title: str | None = None,
    faults: _Faults | None = None,
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            status = b"200 OK"
            if method == "GET" and path.endswith("/models"):
                payload = _MODELS
            elif faults is not None and faults.storm():
                status, payload = b"500 Internal Server Error\r\nRetry-After: 0", _FAILED
            else:
                if _stalls(body, stall_title):
                    await asyncio.Event().wait()  # forever: until the client goes away
                if faults is not None and faults.slots is not None:
                    async with faults.slots:
                        await asyncio.sleep(latency)
                else:
                    await asyncio.sleep(latency)
                payload = _answer(body)
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    finally:
        writer.close()


async def serve(
    port: int,
    latency: float,
    stall_title: str | None = None,
    *,
    capacity: int | None = None,
    fail_after: int = 0,
    fail_count: int = 0,
) -> None:
    faults = _Faults(capacity, fail_after, fail_count)
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, latency, stall_title, faults), "127.0.0.1", port, backlog=1024
    )
    async with server:
        port = server.sockets[0].getsockname()[1]
        print(f"ready on http://127.0.0.1:{port}/v1", flush=True)
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--stall-title", help="never answer papers whose title contains this")
    parser.add_argument("--capacity", type=int, help="completions served at once (default: all)")
    parser.add_argument("--fail-after", type=int, default=0, help="completions before the storm")
    parser.add_argument("--fail-count", type=int, default=0, help="completions answered with 500")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                args.port,
                args.latency,
                args.stall_title,
                capacity=args.capacity,
                fail_after=args.fail_after,
                fail_count=args.fail_count,
            )
        )


if __name__ == "__main__":
    main()
