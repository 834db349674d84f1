"""A fast fake OpenAI-compatible endpoint for benchmarks: fixed latency, valid answers.

It answers every chat completion after `--latency` seconds with an extraction grounded in
the paper it was sent (the first word of the title as a proposed model), so the client does
its full work: validation, grounding, caching, writing. Plain asyncio streams, HTTP/1.1
keep-alive, no framework: the server must cost less than the client it measures.

    python bench/fake_openai.py --port 8765 --latency 0.5

`--port 0` takes a free port (printed on the "ready" line); `--stall-title TEXT` never answers
a paper whose title contains TEXT (a request that hangs, for interrupting a run mid-way).
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


async def _handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    latency: float,
    stall_title: str | None = None,
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
            if method == "GET" and path.endswith("/models"):
                payload = _MODELS
            else:
                if _stalls(body, stall_title):
                    await asyncio.Event().wait()  # forever: until the client goes away
                await asyncio.sleep(latency)
                payload = _answer(body)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    finally:
        writer.close()


async def serve(port: int, latency: float, stall_title: str | None = None) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, latency, stall_title), "127.0.0.1", port, backlog=1024
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
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.latency, args.stall_title))


if __name__ == "__main__":
    main()
