"""One chat completion over HTTP: the body posted as it is, the answer read into the SDK's
`ChatCompletion`, failures raised as the SDK's own exceptions.

The openai SDK's `post` walks each request through its option and header builders and each
answer through a loose, pure-Python model constructor: about a quarter of the client's CPU
under the profiler at 256 in flight (`bench/overhead_bench.py --profile`). The body instructor hands
us is already plain JSON, and pydantic reads a `ChatCompletion` from bytes in compiled code,
so this posts it through the same httpx client (rate limiter, connection pool, prefilled
batch answers) with the headers the SDK would send.

Everything downstream sees what the SDK would have raised: `APIStatusError` subclasses by
status (with the response, so Retry-After is read), `APITimeoutError`,
`APIConnectionError`. Only the public exception classes and `ChatCompletion` are used.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import orjson
import pydantic
from openai.types.chat import ChatCompletion

_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def status_error(response: httpx.Response) -> openai.APIStatusError:
    """The SDK's exception for an error response, as its client would build it."""
    text = response.text.strip()
    body: Any = text
    try:
        body = json.loads(text)
        message = f"Error code: {response.status_code} - {body}"
    except ValueError:
        message = text or f"Error code: {response.status_code}"
    data = body.get("error", body) if isinstance(body, dict) else body
    status = response.status_code
    kind = _STATUS_ERRORS.get(status)
    if kind is None:
        kind = openai.InternalServerError if status >= 500 else openai.APIStatusError
    return kind(message, response=response, body=data)


def completion_of(response: httpx.Response) -> ChatCompletion:
    """The answer as a `ChatCompletion`: validated in compiled code; an answer some server
    shaped loosely (a field missing, a finish reason of its own) is built the SDK's lenient
    way, as the SDK itself would have."""
    content = response.content
    try:
        return ChatCompletion.model_validate_json(content)
    except pydantic.ValidationError:
        pass
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise openai.APIResponseValidationError(
            response, content.decode("utf-8", "replace"), message="the answer is not a JSON object"
        )
    return ChatCompletion.construct(**data)


def encode_body(body: dict[str, Any]) -> bytes:
    """The request's JSON: orjson's, 20x faster than the standard library's on our 14 kB of
    few-shot messages and schema; a text orjson refuses (a lone surrogate, which UTF-8
    cannot carry) goes out escaped instead of failing the record."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":")).encode()


def _dropped(exc: BaseException) -> bool:
    """A connection the server closed or reset, which the aiohttp transport reports as a
    connect timeout: a connection error (retried), not a slow answer."""
    import aiohttp

    cause = exc.__cause__
    return isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
        cause, (aiohttp.ServerTimeoutError, aiohttp.ConnectionTimeoutError)
    )


class ChatPost:
    """POST /chat/completions through `http`, with `client`'s address and headers."""

    def __init__(self, client: openai.AsyncOpenAI, http: httpx.AsyncClient, timeout: Any):
        self.http = http
        self.url = str(client.base_url).rstrip("/") + "/chat/completions"
        headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
        headers.update(client.auth_headers)
        self.headers = headers
        self.timeout = timeout

    async def __call__(self, body: dict[str, Any]) -> ChatCompletion:
        content = encode_body(body)
        request = self.http.build_request(
            "POST", self.url, content=content, headers=self.headers, timeout=self.timeout
        )
        try:
            response = await self.http.send(request)
        except httpx.TimeoutException as e:
            if _dropped(e):
                raise openai.APIConnectionError(request=request) from e
            raise openai.APITimeoutError(request=request) from e
        except Exception as e:  # as the SDK does: whatever the transport raised
            raise openai.APIConnectionError(request=request) from e
        if response.status_code >= 400:
            raise status_error(response)
        return completion_of(response)
