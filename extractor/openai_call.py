"""The `ModelCall` for any OpenAI-compatible endpoint, through `instructor`.

The embedded local model is this same code pointed at a local base URL.

Two retry policies, kept apart on purpose:
- transport failures (429 honouring Retry-After, 5xx, timeouts, dropped connections) are
  retried with exponential backoff and jitter around the raw HTTP call, below instructor,
  so they never reach the prompt and never repeat a validation round already paid for;
- invalid output (malformed JSON, schema violations) is re-asked by instructor a bounded
  number of times, showing the model its validation error.
The SDK's own retries are off, so attempts do not multiply.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from openai.types.chat import ChatCompletion
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from extractor.call import CallError, FatalError, Messages, Reply
from extractor.config import ModelConfig
from extractor.core.schema import RESULT_MODES, reply_model


@dataclass
class _Account:
    """Requests and tokens of one record, across transport retries and re-asks."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


_account: contextvars.ContextVar[_Account] = contextvars.ContextVar("extractor_account")


def _memoize_instructor_model_checks() -> None:
    """instructor re-walks the response model looking for async validators several times a
    request (about 1 ms each on our schema); a class cannot grow them after definition, so
    the answer per class is remembered. Skipped quietly if instructor moves the function."""
    try:
        from instructor.v2.validation import async_validators as av
    except ImportError:
        return
    check = getattr(av, "reject_async_validators", None)
    if check is None:
        return
    passed: set[int] = set()

    def memoized(response_model: Any) -> None:
        if id(response_model) in passed:
            return
        check(response_model)
        if isinstance(response_model, type):
            passed.add(id(response_model))

    # Some instructor modules import the function by name: replace it there too.
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("instructor")
            and getattr(module, "reject_async_validators", None) is check
        ):
            module.reject_async_validators = memoized  # type: ignore[attr-defined]


_memoize_instructor_model_checks()
# instructor wraps a plain model into a new class on every request (5 ms of pydantic class
# building); wrapping it once here makes that a no-op.
_RESPONSE_MODELS = {mode: instructor.openai_schema(reply_model(mode)) for mode in RESULT_MODES}

_MODES = {
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
}
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_MAX_RETRY_AFTER = 120.0


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _TRANSIENT_STATUS and not _is_quota(exc)
    return False


def _is_quota(exc: openai.APIStatusError) -> bool:
    # OpenAI answers 429 both for "slow down" and for "no credit left"; only the first heals.
    body = exc.body if isinstance(exc.body, dict) else {}
    return body.get("code") == "insufficient_quota" or body.get("type") == "insufficient_quota"


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """The server's own wait hint: `retry-after-ms`, or `Retry-After` in seconds or as a date."""
    if response is None:
        return None
    headers = response.headers
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class _TransportWait:
    def __init__(self, base: Callable[[RetryCallState], float]):
        self._base = base

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, openai.APIStatusError):
            hint = retry_after_seconds(exc.response)
            if hint is not None:
                return min(hint, _MAX_RETRY_AFTER)
        return self._base(state)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def transport_retrying(config: ModelConfig) -> AsyncRetrying:
    return AsyncRetrying(
        sleep=lambda s: _sleep(s),  # looked up per call, so tests can stand in for the clock
        retry=retry_if_exception(_is_transient),
        wait=_TransportWait(wait_random_exponential(multiplier=0.5, max=30)),
        stop=stop_any(stop_after_attempt(config.max_retries + 1), _RepeatedTimeouts()),
        reraise=True,
    )


_MAX_TIMEOUT_ATTEMPTS = 3


class _RepeatedTimeouts(stop_base):
    # A timed-out request is paid for again in full (a local model regenerates the whole
    # answer); three in a row say the server is too slow for --timeout, not that it blinked.
    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome else None
        return (
            isinstance(exc, openai.APITimeoutError)
            and retry_state.attempt_number >= _MAX_TIMEOUT_ATTEMPTS
        )


_KEY_LIKE = re.compile(r"\b(sk|pk|key)-[A-Za-z0-9_\-*.]{4,}")


def redact(text: str, secret: str | None) -> str:
    """Remove the key from text bound for a log, a file or the terminal; servers echo keys
    back masked ("sk-proj-****wxyz"), and even those fragments are not ours to print."""
    if secret:
        text = text.replace(secret, "[REDACTED]")
    return _KEY_LIKE.sub("[REDACTED]", text)


class OpenAICall:
    """`ModelCall` against any OpenAI-compatible endpoint, through instructor."""

    def __init__(self, config: ModelConfig, *, http_client: httpx.AsyncClient | None = None):
        if config.mode not in _MODES:
            raise ValueError(f"unknown mode {config.mode!r} (choose from {', '.join(_MODES)})")
        self.config = config
        self.client = openai.AsyncOpenAI(
            api_key=config.api_key or "sk-no-key-required",
            base_url=config.base_url,
            timeout=httpx.Timeout(config.timeout, connect=min(10.0, config.timeout)),
            max_retries=0,
            http_client=http_client,
        )
        post = self.client.post

        async def raw_create(**body: Any) -> ChatCompletion:
            # The SDK's `create` walks every request through its TypedDict transformer,
            # about 6 ms of CPU for our few-shot messages and schema: as much as the rest of
            # the client's work together. The body is already plain JSON, so post it as is,
            # through the same client (auth, errors, response types).
            return await post("/chat/completions", body=body, cast_to=ChatCompletion)

        async def create(*args: Any, **kwargs: Any) -> Any:
            account = _account.get()
            async for attempt in transport_retrying(config):
                with attempt:
                    account.requests += 1
                    response = await raw_create(*args, **kwargs)
            usage = getattr(response, "usage", None)
            if usage is not None:
                account.input_tokens += usage.prompt_tokens or 0
                account.output_tokens += usage.completion_tokens or 0
            return response

        mode = _MODES[config.mode]
        self._instructor = instructor.AsyncInstructor(
            client=self.client, create=instructor.patch(create=create, mode=mode), mode=mode
        )
        self._checked = False
        self._preflight_lock = asyncio.Lock()

    async def preflight(self) -> None:
        """One cheap request before the first paid one: a bad key or a dead endpoint is one
        clear error, not a thousand failed records."""
        if self._checked:
            return
        try:
            await self.client.models.list(timeout=min(15.0, self.config.timeout))
        except openai.AuthenticationError as e:
            raise FatalError(
                f"the endpoint rejected the API key (HTTP {e.status_code}); check OPENAI_API_KEY"
            ) from None
        except openai.PermissionDeniedError as e:
            raise FatalError(
                f"the API key may not use this endpoint (HTTP {e.status_code})"
            ) from None
        except (openai.APIConnectionError, openai.APITimeoutError):
            raise FatalError(f"cannot reach the endpoint at {self.client.base_url}") from None
        except openai.APIStatusError:
            pass  # servers without /models still serve chat completions
        self._checked = True

    async def __call__(self, messages: Messages) -> Reply:
        if not self._checked:
            async with self._preflight_lock:
                await self.preflight()
        account = _Account()
        _account.set(account)
        try:
            extraction, _ = await self._instructor.create_with_completion(
                model=self.config.model,
                messages=messages,  # type: ignore[arg-type]
                response_model=_RESPONSE_MODELS[self.config.results],
                max_retries=self.config.max_reasks,
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                strict=False,
            )
        except Exception as exc:
            raise self._classify(exc, account) from None
        return Reply(
            extraction=extraction.model_dump(mode="json"),
            attempts=account.requests,
            input_tokens=account.input_tokens,
            output_tokens=account.output_tokens,
        )

    def _classify(self, exc: Exception, account: _Account) -> Exception:
        usage = (account.input_tokens, account.output_tokens)

        def fail(type_: str, message: str) -> CallError:
            return CallError(type_, redact(message, self.config.api_key), account.requests, usage)

        cause = exc
        if isinstance(exc, InstructorRetryException) and not _is_parse_failure(exc):
            cause = exc.__cause__ or exc.__context__ or exc  # type: ignore[assignment]
        if isinstance(cause, openai.AuthenticationError):
            return FatalError(f"the endpoint rejected the API key (HTTP {cause.status_code})")
        if isinstance(cause, openai.PermissionDeniedError):
            return FatalError(f"the API key may not use this endpoint (HTTP {cause.status_code})")
        if isinstance(cause, openai.NotFoundError):
            return FatalError(f"the endpoint does not serve model {self.config.model!r} (HTTP 404)")
        if isinstance(cause, IncompleteOutputException):
            return fail(
                "output_truncated",
                f"the answer was cut off at max_tokens={self.config.max_tokens}; "
                "re-run with a larger --max-tokens",
            )
        if isinstance(cause, openai.APIStatusError):
            if cause.status_code == 429 and _is_quota(cause):
                return FatalError("the account has no quota left (HTTP 429 insufficient_quota)")
            kind = "rate_limited" if cause.status_code == 429 else "http_error"
            return fail(
                kind, f"HTTP {cause.status_code} after {account.requests} attempts: {_short(cause)}"
            )
        if isinstance(cause, openai.APITimeoutError):
            return fail(
                "timeout", f"no answer within {self.config.timeout:g}s, {account.requests} attempts"
            )
        if isinstance(cause, openai.APIConnectionError):
            return fail("connection_error", f"connection failed after {account.requests} attempts")
        if isinstance(exc, InstructorRetryException):
            return fail(
                "invalid_output",
                f"no valid answer after {account.requests} attempts: {_short(exc)}",
            )
        return fail(type(cause).__name__, _short(cause))


def _is_parse_failure(exc: InstructorRetryException) -> bool:
    return bool(getattr(exc, "failed_attempts", None))


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
