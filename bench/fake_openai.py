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

With `--rpm`/`--tpm` it enforces rate limits as a provider does: token buckets refilled
continuously at the limit / 60 per second, holding `--burst` seconds of it; a request that
finds a bucket short is answered 429 at once, with `retry-after-ms`. Each request is charged
its usage (`--prompt-tokens` + `--completion-tokens`) on arrival, and every answer carries
OpenAI's `x-ratelimit-*` headers. `GET /stats` tells how many requests came and how many got
a 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_TITLE = re.compile(r"Title: (\S+)")


@dataclass
class Limits:
    """The server's buckets; `None` limits are not enforced."""

    rpm: float | None = None
    tpm: float | None = None
    burst: float = 1.0
    prompt_tokens: int = 900
    completion_tokens: int = 60
    requests: int = 0
    throttled: int = 0
    _req: float = 0.0
    _tok: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _stamp: float = -1.0

    def __post_init__(self) -> None:
        self._stamp = self.clock()
        self._req = self._cap(self.rpm)
        self._tok = self._cap(self.tpm)

    def _cap(self, limit: float | None) -> float:
        return 0.0 if limit is None else max(1.0, limit / 60 * self.burst)

    def admit(self) -> tuple[bool, bytes]:
        """Charge one request; False when a bucket is short. Also the x-ratelimit headers."""
        self.requests += 1
        now = self.clock()
        elapsed, self._stamp = now - self._stamp, now
        cost = self.prompt_tokens + self.completion_tokens
        ok = True
        if self.rpm is not None:
            self._req = min(self._cap(self.rpm), self._req + elapsed * self.rpm / 60)
            ok = self._req >= 1
        if self.tpm is not None:
            self._tok = min(self._cap(self.tpm), self._tok + elapsed * self.tpm / 60)
            ok = ok and self._tok >= cost
        if ok:
            self._req -= 1 if self.rpm is not None else 0
            self._tok -= cost if self.tpm is not None else 0
        else:
            self.throttled += 1
        headers = b""
        waits = []
        if self.rpm is not None:
            reset = (self._cap(self.rpm) - self._req) * 60 / self.rpm
            waits.append((1 - self._req) * 60 / self.rpm)
            headers += (
                f"x-ratelimit-limit-requests: {self.rpm:g}\r\n"
                f"x-ratelimit-remaining-requests: {max(0, int(self._req))}\r\n"
                f"x-ratelimit-reset-requests: {reset * 1000:.0f}ms\r\n"
            ).encode()
        if self.tpm is not None:
            reset = (self._cap(self.tpm) - self._tok) * 60 / self.tpm
            waits.append((cost - self._tok) * 60 / self.tpm)
            headers += (
                f"x-ratelimit-limit-tokens: {self.tpm:g}\r\n"
                f"x-ratelimit-remaining-tokens: {max(0, int(self._tok))}\r\n"
                f"x-ratelimit-reset-tokens: {reset * 1000:.0f}ms\r\n"
            ).encode()
        if not ok:
            headers += f"retry-after-ms: {max(1, int(max(waits) * 1000) + 1)}\r\n".encode()
        return ok, headers


_THROTTLED = json.dumps(
    {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
).encode()


def _answer(body: bytes, limits: Limits | None = None) -> bytes:
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
            "usage": {
                "prompt_tokens": limits.prompt_tokens if limits else 900,
                "completion_tokens": limits.completion_tokens if limits else 60,
                "total_tokens": (limits.prompt_tokens + limits.completion_tokens)
                if limits
                else 960,
            },
        }
    ).encode()


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
    limits: Limits | None = None,
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
            status, extra = b"200 OK", b""
            if method == "GET" and path.endswith("/models"):
                payload = _MODELS
            elif method == "GET" and path.endswith("/stats"):
                counts = (
                    {"requests": limits.requests, "throttled": limits.throttled} if limits else {}
                )
                payload = json.dumps(counts).encode()
            else:
                admitted, extra = limits.admit() if limits else (True, b"")
                if not admitted:
                    status, payload = b"429 Too Many Requests", _THROTTLED
                elif faults is not None and faults.storm():
                    status, payload = b"500 Internal Server Error\r\nRetry-After: 0", _FAILED
                else:
                    if _stalls(body, stall_title):
                        await asyncio.Event().wait()  # forever: until the client goes away
                    if faults is not None and faults.slots is not None:
                        async with faults.slots:
                            await asyncio.sleep(latency)
                    elif latency:
                        await asyncio.sleep(latency)
                    payload = _answer(body, limits)
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: application/json\r\n"
                + extra
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
    limits: Limits | None = None,
    *,
    capacity: int | None = None,
    fail_after: int = 0,
    fail_count: int = 0,
) -> None:
    faults = _Faults(capacity, fail_after, fail_count)
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, latency, stall_title, limits, faults),
        "127.0.0.1",
        port,
        backlog=1024,
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
    parser.add_argument("--rpm", type=float, help="enforce this many requests per minute")
    parser.add_argument("--tpm", type=float, help="enforce this many tokens per minute")
    parser.add_argument(
        "--burst", type=float, default=1.0, help="seconds of the limits a bucket holds"
    )
    parser.add_argument(
        "--prompt-tokens", type=int, default=900, help="usage reported, and charged"
    )
    parser.add_argument("--completion-tokens", type=int, default=60)
    parser.add_argument("--capacity", type=int, help="completions served at once (default: all)")
    parser.add_argument("--fail-after", type=int, default=0, help="completions before the storm")
    parser.add_argument("--fail-count", type=int, default=0, help="completions answered with 500")
    args = parser.parse_args()
    limits = Limits(
        rpm=args.rpm,
        tpm=args.tpm,
        burst=args.burst,
        prompt_tokens=args.prompt_tokens,
        completion_tokens=args.completion_tokens,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                args.port,
                args.latency,
                args.stall_title,
                limits,
                capacity=args.capacity,
                fail_after=args.fail_after,
                fail_count=args.fail_count,
            )
        )


if __name__ == "__main__":
    main()
