"""The `ModelCall` for any OpenAI-compatible endpoint, through `instructor`.

The embedded local model is this same code pointed at a local base URL.

Two retry policies, kept apart on purpose:
- transport failures (429 honouring Retry-After, 5xx, timeouts, dropped connections) are
  retried with exponential backoff and jitter around the raw HTTP call, below instructor,
  so they never reach the prompt and never repeat a validation round already paid for;
- invalid output (malformed JSON, schema violations) is re-asked by instructor a bounded
  number of times, showing the model its validation error.
The SDK's own retries are off, so attempts do not multiply.

A response showing that the endpoint cannot do what the mode asks (no tool call at all in
`tools` mode, `response_format` or a tool rejected with a 400) is not an invalid answer: it
is the endpoint's capability, and re-asking cannot change it. It stops the run with one line
(`ModeUnsupportedError`), or under `--mode auto` switches the whole run, once, to the next
mode in `FALLBACK_ORDER`.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from extractor.config import FALLBACK_ORDER, ModelConfig
from extractor.core.schema import RESULT_MODES, reply_model
from extractor.core.strict_schema import absent_nulls_dropped, strict_schema
from extractor.errors import EndpointError, ModeUnsupportedError
from extractor.logs import redact, redact_url
from extractor.model.call import CallError, Messages, Reply
from extractor.model.chat_post import ChatPost


@dataclass
class _Account:
    """Requests and tokens of one record, across transport retries and re-asks."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    answers: set[str] = field(default_factory=set)  # raw answers seen, to spot a repeat


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
# What to try instead when a mode is unsupported, for the one-line error of an explicit mode.
_INSTEAD = {"json_schema": "json", "tools": "json_schema", "json": "json_schema"}


class ModeUnsupported(Exception):
    """The endpoint cannot do what `mode` asks; raised from the HTTP layer, below instructor."""

    def __init__(self, mode: str, reason: str):
        super().__init__(f"the endpoint cannot do --mode {mode}: {reason}")
        self.mode = mode
        self.reason = reason


class RepeatedAnswer(Exception):
    """The model gave, word for word, an answer it gave before for this record: invalid then,
    invalid now, and a further re-ask would most likely get it a third time."""


class RetryAfterTooLong(Exception):
    """The server asked for a wait longer than what is left of the record's wait budget."""

    def __init__(self, wait: float, budget: float):
        super().__init__(f"asked to wait {wait:.0f}s, budget {budget:.0f}s")
        self.wait = wait
        self.budget = budget


# Words in a 400's message that say the request's structured-output part was refused,
# per mode. vLLM: "...JSON schema contains features not supported by xgrammar",
# "response_format ..."; Ollama: "llama3 does not support tools"; llama.cpp:
# "response_format type must be one of ...", "tools param requires --jinja flag".
_REFUSAL_WORDS = {
    "json_schema": (
        "response_format",
        "json_schema",
        "json schema",
        "grammar",
        "guided",
        "structured output",
        "schema",
    ),
    "tools": ("tool", "function"),
    "json": ("response_format", "json_object", "json mode", "grammar"),
}
_REFUSAL_STATUS = {400, 422, 501}


def _mode_refused(exc: openai.APIStatusError, mode: str) -> bool:
    if exc.status_code not in _REFUSAL_STATUS:
        return False
    text = _error_message(exc).lower()
    return any(word in text for word in _REFUSAL_WORDS[mode])


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return str(exc.message)


def _has_tool_call(response: Any) -> bool:
    choices = getattr(response, "choices", None) or []
    if not choices:
        return True  # nothing to judge; instructor reports the empty answer
    message = choices[0].message
    return bool(getattr(message, "tool_calls", None) or getattr(message, "function_call", None))


def _finish_reason(response: Any) -> str | None:
    choices = getattr(response, "choices", None) or []
    return getattr(choices[0], "finish_reason", None) if choices else None


def _answer_text(response: Any) -> str | None:
    """The answer as the model wrote it (content, or the tool call's arguments)."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        return None
    message = choices[0].message
    calls = getattr(message, "tool_calls", None) or []
    parts = [getattr(getattr(c, "function", None), "arguments", "") or "" for c in calls]
    return "\x00".join([message.content or "", *parts])


def strict_endpoint(base_url: str | None) -> bool:
    """Endpoints that enforce OpenAI's strict schemas (structured outputs): OpenAI's own API.
    Other servers get the schema as generated; some reject `strict`, some ignore it."""
    if base_url is None:
        return True
    return (urlsplit(base_url).hostname or "").lower() == "api.openai.com"


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
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        # An HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT"), or something no client can read
        # ("soon"): then the hint is ignored and the usual backoff applies.
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed is None:
            return None
        if parsed.tzinfo is None:  # "-0000": UTC by RFC 5322
            import datetime as dt

            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        seconds = parsed.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class _TransportWait:
    """Backoff with jitter, or exactly the server's own hint; the waits of one request add up
    to at most `budget` seconds. A hint beyond what is left is not cut short (a retry sent
    before the server allows is wasted): the record fails with a clear error instead."""

    def __init__(self, base: Callable[[RetryCallState], float], budget: float):
        self._base = base
        self.budget = budget
        self.waited = 0.0

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = retry_after_seconds(exc.response) if isinstance(exc, openai.APIStatusError) else None
        if hint is not None and self.waited + hint > self.budget:
            raise RetryAfterTooLong(hint, self.budget) from exc
        wait = hint if hint is not None else min(self._base(state), self.budget - self.waited)
        wait = max(0.0, wait)
        self.waited += wait
        return wait


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def wait_budget(config: ModelConfig) -> float:
    """Seconds one request may spend waiting between its transport retries: the time its
    attempts could have taken (--timeout x (--retries + 1))."""
    return config.timeout * (config.max_retries + 1)


def transport_retrying(config: ModelConfig) -> AsyncRetrying:
    return AsyncRetrying(
        sleep=lambda s: _sleep(s),  # looked up per call, so tests can stand in for the clock
        retry=retry_if_exception(_is_transient),
        wait=_TransportWait(wait_random_exponential(multiplier=0.5, max=30), wait_budget(config)),
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


# A key-like token: a key as servers echo it, whole, cut short or masked ("sk-proj-****wxyz").
_KEY_TOKEN = re.compile(r"\b(?:sk|pk|key)-[A-Za-z0-9_\-*.]{4,}")
_FRAGMENT = 12  # a piece of the key this long is the key's, not a word of the paper


def _scrub_text(text: str, secret: str) -> str:
    if secret in text:
        text = text.replace(secret, "[REDACTED]")

    def hide(m: re.Match[str]) -> str:
        token = m.group()
        # only tokens that are this key's: masked, or a long enough piece of it ("key-value
        # retrieval" is a task, not a secret)
        masked = "*" in token or "..." in token
        if masked or (len(token) >= _FRAGMENT and token.rstrip(".") in secret):
            return "[REDACTED]"
        return token

    return _KEY_TOKEN.sub(hide, text) if "-" in text else text


def scrub_secret(value: Any, secret: str | None) -> Any:
    """`value` (an answer's JSON: dicts, lists, strings) with the API key and its masked or
    cut-short echoes replaced, as errors already are (`logs.redact`)."""
    if not secret:
        return value
    if isinstance(value, str):
        return _scrub_text(value, secret)
    if isinstance(value, dict):
        return {k: scrub_secret(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_secret(v, secret) for v in value]
    return value


class OpenAICall:
    """`ModelCall` against any OpenAI-compatible endpoint, through instructor.

    `notice` receives one line when `--mode auto` falls back to another mode.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        http_client: httpx.AsyncClient | None = None,
        notice: Callable[[str], None] | None = None,
    ):
        if config.mode != "auto" and config.mode not in _MODES:
            raise ValueError(
                f"unknown mode {config.mode!r} (choose from auto, {', '.join(_MODES)})"
            )
        self.config = config
        self.auto = config.mode == "auto"
        self.mode = FALLBACK_ORDER[0] if self.auto else config.mode
        self.strict = strict_endpoint(config.base_url)
        self._notice = notice or (lambda _m: None)
        timeout = httpx.Timeout(config.timeout, connect=min(10.0, config.timeout))
        http = http_client or httpx.AsyncClient(follow_redirects=True)
        self.client = openai.AsyncOpenAI(
            api_key=config.api_key or "sk-no-key-required",
            base_url=config.base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http,
        )
        self._post = ChatPost(self.client, http, timeout)
        self._instructors: dict[str, instructor.AsyncInstructor] = {}
        self._strict_cache: dict[str, dict[str, Any]] = {}
        self._checked = False
        self._preflight_lock = asyncio.Lock()

    def _instructor_for(self, mode: str) -> instructor.AsyncInstructor:
        if mode not in self._instructors:
            patched = instructor.patch(create=self._create_for(mode), mode=_MODES[mode])
            self._instructors[mode] = instructor.AsyncInstructor(
                client=self.client, create=patched, mode=_MODES[mode]
            )
        return self._instructors[mode]

    def _create_for(self, mode: str) -> Callable[..., Any]:
        config = self.config
        # The SDK's `create` walks every request through its TypedDict transformer and
        # every answer through its loose model builder; the body is already plain JSON,
        # so it is posted as it is (`chat_post`), with the SDK's headers and exceptions.
        raw_create = self._post

        async def create(**kwargs: Any) -> Any:
            account = _account.get()
            original = self._make_strict(kwargs) if self.strict else None
            try:
                async for attempt in transport_retrying(config):
                    with attempt:
                        account.requests += 1
                        response = await raw_create(kwargs)
            except openai.APIStatusError as e:
                if _mode_refused(e, mode):
                    raise ModeUnsupported(
                        mode, f"HTTP {e.status_code}: {_short(_error_message(e), 200)}"
                    ) from e
                raise
            usage = getattr(response, "usage", None)
            if usage is not None:
                account.input_tokens += usage.prompt_tokens or 0
                account.output_tokens += usage.completion_tokens or 0
                # OpenAI and vLLM report the prompt prefix served from their cache here
                details = getattr(usage, "prompt_tokens_details", None)
                cached = getattr(details, "cached_tokens", None)
                if isinstance(cached, int) and cached > 0:
                    account.cached_input_tokens += cached
            if mode == "tools" and not _has_tool_call(response):
                # A server that honours a forced tool choice answers with a tool call, even
                # one cut short; plain text means it ignored `tools`.
                cut = (
                    " (cut off at max_tokens without one)"
                    if _finish_reason(response) == "length"
                    else ""
                )
                raise ModeUnsupported(
                    mode,
                    f"its answer had no tool call{cut}: the server ignores `tools` (llama.cpp "
                    "parses tool calls only with --jinja)",
                )
            text = _answer_text(response)
            if text is not None:
                if text in account.answers:
                    raise RepeatedAnswer("the model gave the same invalid answer again")
                account.answers.add(text)
            if original is not None:
                _drop_absent_nulls(response, original)
            return response

        return create

    def _make_strict(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Turn the request's schema into OpenAI's strict form, in place; the schema as
        generated is returned, to read the answer's nulls against."""
        fmt = kwargs.get("response_format")
        if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
            spec = fmt["json_schema"]
            original = spec.get("schema")
            if isinstance(original, dict):
                kwargs["response_format"] = {
                    **fmt,
                    "json_schema": {**spec, "schema": self._strict_of(original), "strict": True},
                }
                return original
        tools = kwargs.get("tools")
        if isinstance(tools, list) and len(tools) == 1 and isinstance(tools[0], dict):
            function = tools[0].get("function")
            if isinstance(function, dict) and isinstance(function.get("parameters"), dict):
                original = function["parameters"]
                strict_function = {
                    **function,
                    "parameters": self._strict_of(original),
                    "strict": True,
                }
                kwargs["tools"] = [{**tools[0], "function": strict_function}]
                return original
        return None

    def _strict_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._strict_cache:
            self._strict_cache[key] = strict_schema(schema)
        return self._strict_cache[key]

    async def preflight(self) -> None:
        """One cheap request before the first paid one: a bad key or a dead endpoint is one
        clear error, not a thousand failed records."""
        if self._checked:
            return
        try:
            await self.client.models.list(timeout=min(15.0, self.config.timeout))
        except openai.AuthenticationError as e:
            raise EndpointError(
                f"the endpoint rejected the API key (HTTP {e.status_code}); check OPENAI_API_KEY"
            ) from None
        except openai.PermissionDeniedError as e:
            raise EndpointError(
                f"the API key may not use this endpoint (HTTP {e.status_code})"
            ) from None
        except (openai.APIConnectionError, openai.APITimeoutError):
            raise EndpointError(
                f"cannot reach the endpoint at {redact_url(str(self.client.base_url))}"
            ) from None
        except openai.APIStatusError:
            pass  # servers without /models still serve chat completions
        self._checked = True

    async def __call__(self, messages: Messages) -> Reply:
        if not self._checked:
            async with self._preflight_lock:
                await self.preflight()
        account = _Account()
        _account.set(account)
        while True:
            mode = self.mode
            account.answers.clear()
            try:
                extraction, _ = await self._instructor_for(mode).create_with_completion(
                    model=self.config.model,
                    messages=messages,  # type: ignore[arg-type]
                    response_model=_RESPONSE_MODELS[self.config.results],
                    max_retries=self.config.max_reasks,
                    temperature=self.config.temperature,
                    max_tokens=self.config.max_tokens,
                    strict=False,
                )
            except Exception as exc:
                unsupported = _in_chain(exc, ModeUnsupported)
                if unsupported is None:
                    raise self._classify(exc, account) from None
                self._fall_back(unsupported)
                continue  # the same record, in the mode now in force
            return Reply(
                # before the cache or any output sees it: a server may echo the key back
                extraction=scrub_secret(extraction.model_dump(mode="json"), self.config.api_key),
                attempts=account.requests,
                input_tokens=account.input_tokens,
                output_tokens=account.output_tokens,
                mode=mode,
                cached_input_tokens=account.cached_input_tokens,
            )

    def _fall_back(self, unsupported: ModeUnsupported) -> None:
        """Move the run to the next mode, once per mode (requests already in flight in the
        old mode just retry in the new one), or stop it."""
        failed = unsupported.mode
        if failed != self.mode:
            return  # another request already moved the run on
        reason = redact(unsupported.reason, self.config.api_key)
        if not self.auto:
            raise ModeUnsupportedError(
                f"the endpoint cannot do --mode {failed}: {reason}. Nothing was written; "
                f"use --mode {_INSTEAD[failed]}, or --mode auto to pick the mode the server "
                "supports (`extractor check` tests each)",
                failed,
                reason,
            )
        rest = FALLBACK_ORDER[FALLBACK_ORDER.index(failed) + 1 :]
        if not rest:
            raise ModeUnsupportedError(
                f"the endpoint supports none of the modes ({', '.join(FALLBACK_ORDER)}); "
                f"the last, {failed}: {reason}",
                failed,
                reason,
            )
        self.mode = rest[0]
        self._notice(f"the endpoint cannot do --mode {failed} ({reason}); using --mode {rest[0]}")

    def _classify(self, exc: Exception, account: _Account) -> Exception:
        usage = (account.input_tokens, account.output_tokens)

        def fail(type_: str, message: str) -> CallError:
            return CallError(type_, redact(message, self.config.api_key), account.requests, usage)

        # instructor wraps whatever ended its loop (`raise InstructorRetryException(...) from
        # last`): the last exception, not an earlier re-ask, says what went wrong.
        cause: BaseException = exc
        if isinstance(exc, InstructorRetryException) and exc.__cause__ is not None:
            cause = exc.__cause__
        if (too_long := _in_chain(cause, RetryAfterTooLong)) is not None:
            return fail(
                "rate_limited",
                f"the server asked to wait {too_long.wait:.0f}s before a retry (Retry-After), "
                f"more than this record's wait budget of {too_long.budget:.0f}s "
                "(--timeout x (--retries + 1)); run the same command later to resume",
            )
        if isinstance(cause, RepeatedAnswer):
            return fail(
                "invalid_output",
                f"the model gave the same invalid answer twice, not asked a third time "
                f"({account.requests} attempts): {_short(_last_parse_error(exc))}",
            )
        cause = _transport_cause(cause)
        if isinstance(cause, openai.AuthenticationError):
            return EndpointError(f"the endpoint rejected the API key (HTTP {cause.status_code})")
        if isinstance(cause, openai.PermissionDeniedError):
            return EndpointError(
                f"the API key may not use this endpoint (HTTP {cause.status_code})"
            )
        if isinstance(cause, openai.NotFoundError):
            return EndpointError(
                f"the endpoint does not serve model {self.config.model!r} (HTTP 404)"
            )
        if isinstance(cause, IncompleteOutputException):
            return fail(
                "output_truncated",
                f"the answer was cut off at max_tokens={self.config.max_tokens}; "
                "re-run with a larger --max-tokens",
            )
        if isinstance(cause, openai.APIStatusError):
            if cause.status_code == 429 and _is_quota(cause):
                return EndpointError("the account has no quota left (HTTP 429 insufficient_quota)")
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
                f"no valid answer after {account.requests} attempts: {_short(_last_parse_error(exc))}",
            )
        return fail(type(cause).__name__, _short(cause))


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _in_chain(exc: BaseException | None, kind: type[Any]) -> Any:
    return next((e for e in _chain(exc) if isinstance(e, kind)), None)


def _transport_cause(exc: BaseException) -> BaseException:
    """The SDK or instructor error in `exc`'s chain that names the failure, else `exc`."""
    for e in _chain(exc):
        if isinstance(e, (openai.APIError, IncompleteOutputException)):
            return e
    return exc


def _last_parse_error(exc: BaseException) -> BaseException:
    failed = getattr(exc, "failed_attempts", None) or []
    return failed[-1].exception if failed else (exc.__cause__ or exc)


def _drop_absent_nulls(response: Any, schema: dict[str, Any]) -> None:
    """Undo the strict schema's "null for absent" in the answer, before instructor reads it."""
    for choice in getattr(response, "choices", None) or []:
        message = choice.message
        if message.content:
            message.content = _cleaned(message.content, schema)
        for call in getattr(message, "tool_calls", None) or []:
            function = getattr(call, "function", None)
            if function is not None and function.arguments:
                function.arguments = _cleaned(function.arguments, schema)


def _cleaned(text: str, schema: dict[str, Any]) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return text  # instructor reports it, with the re-ask it deserves
    return json.dumps(absent_nulls_dropped(value, schema))


def _short(exc: BaseException | str, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
