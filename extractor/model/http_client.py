"""The HTTP client of a remote endpoint, for every engine and the library API alike.

Requests go through aiohttp's connection pool under httpx (`httpx_aiohttp`, the openai SDK's
own `openai[aiohttp]` backend). httpcore's pool looks over every connection and waiting
request each time a request starts or ends, so its CPU per request grows with the requests
in flight; aiohttp's does not, and its HTTP parser is compiled. At 256 in flight, posting our
request and reading the answer costs 0.56 ms of CPU through it against 5.4 ms through
httpcore (`bench/overhead_bench.py --floor`). Proxies come from the environment as httpx
reads them (HTTP(S)_PROXY, NO_PROXY), each mounted on an aiohttp transport.

`RateLimitedClient.send` paces every chat completion through a `RateLimiter`: below the SDK
and the transport retries, so each retry is paced too, and above the transport, so respx
(mocking at the client) still sees the requests in tests.
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx_aiohttp import HttpxAiohttpClient

from extractor.model.call import PREFILLED
from extractor.model.ratelimit import RateLimiter, response_usage


class RateLimitedClient(HttpxAiohttpClient):
    """An httpx client whose chat-completion requests go through a `RateLimiter` (when
    given), and which serves a record's prefilled answer (`call.PREFILLED`, a Batch API
    results line) as the answer to its next chat completion, without sending it.

    `stub_models` answers `GET /models` itself: an offline results file is validated with
    no server at all (its re-asks, if any, still need one)."""

    def __init__(
        self, limiter: RateLimiter | None = None, *, stub_models: bool = False, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.limiter = limiter
        self.stub_models = stub_models

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
            if self.stub_models and request.url.path.endswith("/models"):
                return httpx.Response(200, json={"object": "list", "data": []}, request=request)
            return await super().send(request, **kwargs)
        prefilled = PREFILLED.get()
        if prefilled:
            content = prefilled.pop()
            headers = {"content-type": "application/json"}
            return httpx.Response(200, content=content, headers=headers, request=request)
        limiter = self.limiter
        if limiter is None:
            return await super().send(request, **kwargs)
        ticket = await limiter.acquire(len(request.content))
        try:
            response = await super().send(request, **kwargs)
        except BaseException:
            limiter.release(ticket, status=None)
            raise
        usage = None
        if response.status_code == 200 and not kwargs.get("stream"):
            usage = response_usage(response.content)
        limiter.release(ticket, status=response.status_code, headers=response.headers, usage=usage)
        return response


def remote_client(
    concurrency: int, limiter: RateLimiter | None = None, *, stub_models: bool = False
) -> RateLimitedClient:
    """Every request in flight gets a connection, kept alive for the next (a little slack
    for the preflight)."""
    import openai

    size = concurrency + 2
    return RateLimitedClient(
        limiter,
        stub_models=stub_models,
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        timeout=openai.DEFAULT_TIMEOUT,
        follow_redirects=True,
    )
