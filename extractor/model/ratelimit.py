"""Client-side rate limits: requests and tokens per minute, learned and obeyed, so a big run
paces itself instead of living on 429s.

`RateLimiter` holds two token buckets (requests and tokens, refilled continuously at the
per-minute limit / 60 each second) and an adaptive cap on requests in flight:

- limits come from `--rpm/--tpm`, and from the provider's own `x-ratelimit-limit-requests`
  / `x-ratelimit-limit-tokens` headers (the lower of the two wins); until the first answer
  has said what the limits are, one request at a time is in flight (a big run would
  otherwise open with a burst of 429s);
- `x-ratelimit-remaining-*` lowers the buckets to what the server says is left (less what
  was sent after the request that carried the header); a 429 empties them, so the requests
  after it wait for the refill (the one that got it waits its `Retry-After` in the transport
  retries, `openai_call`);
- a request's token cost is estimated before it is sent (its body's bytes times the
  tokens-per-byte of past answers, plus their mean output) and settled with the `usage` of
  its answer, so the tokens bucket follows what the server counts;
- a 429 that comes anyway halves the cap on requests in flight (at most once per round
  trip); each cap's worth of successes adds one back, up to `--concurrency`.

`http_client.RateLimitedClient` applies it to every chat completion the remote client sends.
"""

from __future__ import annotations

import asyncio
import collections
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

BURST_SECONDS = 0.5  # the buckets hold this many seconds of the limit
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PROMPT = re.compile(rb'"prompt_tokens"\s*:\s*(\d+)')
_COMPLETION = re.compile(rb'"completion_tokens"\s*:\s*(\d+)')


def parse_duration(text: str | None) -> float | None:
    """OpenAI's reset durations: `20ms`, `1s`, `6m0s`, `1h2m3.5s`; a plain number is seconds."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


@dataclass
class Ticket:
    estimate: float  # tokens reserved
    body_bytes: int
    sent_at: float
    requests_total: float  # the buckets' running totals once this request was charged
    tokens_total: float


@dataclass
class LimiterStats:
    requests: int = 0
    throttled: int = 0  # answered 429
    waited: float = 0.0  # seconds spent waiting for the buckets (summed over requests)
    lowest_cap: int = 0


class RateLimiter:
    def __init__(
        self,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        concurrency: int = 8,
        learn: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ):
        self.user_rpm = rpm
        self.user_tpm = tpm
        self.rpm = rpm
        self.tpm = tpm
        self.learn = learn
        self.max_concurrency = max(1, concurrency)
        self.cap = self.max_concurrency
        self.in_flight = 0
        self.stats = LimiterStats(lowest_cap=self.cap)
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        # Slow start: with a limit unknown, one request until an answer tells the limits.
        self._probing = learn and (rpm is None or tpm is None)
        now = clock()
        self._stamp = now
        self._requests = self._capacity_requests()
        self._tokens = self._capacity_tokens(0.0)
        self._requests_total = 0.0
        self._tokens_total = 0.0
        self._last_cut = -math.inf
        self._successes = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._lock: asyncio.Lock | None = None
        self.tokens_per_byte = 0.25  # a JSON body's bytes / 4 until answers say better
        self.output_mean = 256.0
        self._learned = False  # no answer's usage seen yet

    # -- the buckets -------------------------------------------------------------------

    def _capacity_requests(self) -> float:
        return math.inf if self.rpm is None else max(1.0, self.rpm / 60 * BURST_SECONDS)

    def _capacity_tokens(self, estimate: float) -> float:
        if self.tpm is None:
            return math.inf
        return max(self.tpm / 60 * BURST_SECONDS, estimate)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        if self.rpm is not None:
            self._requests = min(
                self._capacity_requests(), self._requests + elapsed * self.rpm / 60
            )
        if self.tpm is not None:
            self._tokens = min(self._capacity_tokens(0.0), self._tokens + elapsed * self.tpm / 60)

    def _wait(self, now: float, estimate: float) -> float:
        wait = 0.0
        if self.rpm is not None and self._requests < 1:
            wait = max(wait, (1 - self._requests) * 60 / self.rpm)
        if self.tpm is not None:
            # A request bigger than the bucket goes when the bucket is full (then owes).
            need = min(estimate, self._capacity_tokens(0.0))
            if self._tokens < need:
                wait = max(wait, (need - self._tokens) * 60 / self.tpm)
        return wait

    def estimate(self, body_bytes: int) -> float:
        return body_bytes * self.tokens_per_byte + self.output_mean

    # -- requests in flight --------------------------------------------------------------

    def _cap_now(self) -> int:
        return 1 if self._probing else self.cap

    async def _enter(self) -> None:
        loop = asyncio.get_running_loop()
        while self.in_flight >= self._cap_now():
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # it was our turn: pass it on
                raise
        self.in_flight += 1

    def _leave(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        free = self._cap_now() - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    # -- the protocol: acquire before sending, release with what came back --------------

    async def acquire(self, body_bytes: int) -> Ticket:
        await self._enter()
        try:
            if self._lock is None:
                self._lock = asyncio.Lock()
            estimate = self.estimate(body_bytes)
            async with self._lock:  # first come, first served
                while True:
                    now = self._clock()
                    self._refill(now)
                    wait = self._wait(now, estimate)
                    if wait <= 1e-6:  # float dust: a refill computed a hair short
                        break
                    self.stats.waited += wait
                    await self._sleep(wait)
                self._requests -= 1
                self._tokens -= estimate
                self._requests_total += 1
                self._tokens_total += estimate
        except BaseException:
            self._leave()
            raise
        self.stats.requests += 1
        return Ticket(estimate, body_bytes, now, self._requests_total, self._tokens_total)

    def release(
        self,
        ticket: Ticket,
        *,
        status: int | None,
        headers: Mapping[str, str] | None = None,
        usage: tuple[int, int] | None = None,
    ) -> None:
        """`status` None: no answer (a timeout, a dropped connection)."""
        self._leave()
        now = self._clock()
        if headers is not None and self.learn:
            self._learn(ticket, headers, now)
        if usage is not None:
            prompt, completion = usage
            used = prompt + completion
            self._tokens -= used - ticket.estimate
            self._tokens_total += used - ticket.estimate
            # The first answer replaces the guesses; later ones move a running mean.
            weight = 0.2 if self._learned else 1.0
            self._learned = True
            if ticket.body_bytes:
                per_byte = prompt / ticket.body_bytes
                self.tokens_per_byte += weight * (per_byte - self.tokens_per_byte)
            self.output_mean += weight * (completion - self.output_mean)
        if status == 429:
            self.stats.throttled += 1
            self._throttled(ticket, now)
        elif status is not None:
            if self._probing:
                self._probing = False
            if status < 400 and self.cap < self.max_concurrency:
                self._successes += 1
                if self._successes >= self.cap:
                    self._successes = 0
                    self.cap += 1
        self._wake()

    def _throttled(self, ticket: Ticket, now: float) -> None:
        if ticket.sent_at >= self._last_cut:  # one cut per round trip, not one per 429
            self.cap = max(1, self.cap // 2)
            self.stats.lowest_cap = min(self.stats.lowest_cap, self.cap)
            self._last_cut = now
            self._successes = 0
        self._refill(now)
        self._requests = min(self._requests, 0.0)
        self._tokens = min(self._tokens, 0.0)

    def _learn(self, ticket: Ticket, headers: Mapping[str, str], now: float) -> None:
        limit = _number(headers, "x-ratelimit-limit-requests")
        if limit:
            self.rpm = limit if self.user_rpm is None else min(self.user_rpm, limit)
        limit = _number(headers, "x-ratelimit-limit-tokens")
        if limit:
            self.tpm = limit if self.user_tpm is None else min(self.user_tpm, limit)
        # What the server had left when the request arrived, plus what it has refilled
        # since, less what we sent after it.
        self._refill(now)
        elapsed = max(0.0, now - ticket.sent_at)
        left = _number(headers, "x-ratelimit-remaining-requests")
        if left is not None and self.rpm is not None:
            sent_after = self._requests_total - ticket.requests_total
            self._requests = min(self._requests, left + elapsed * self.rpm / 60 - sent_after)
        left = _number(headers, "x-ratelimit-remaining-tokens")
        if left is not None and self.tpm is not None:
            sent_after = self._tokens_total - ticket.tokens_total
            self._tokens = min(self._tokens, left + elapsed * self.tpm / 60 - sent_after)


def response_usage(content: bytes) -> tuple[int, int] | None:
    """(prompt, completion) tokens of a chat completion's body, read without parsing it."""
    # The usage block sits at the end of a chat completion; search only the tail.
    tail = content[-400:]
    prompt = _PROMPT.search(tail) or _PROMPT.search(content)
    completion = _COMPLETION.search(tail) or _COMPLETION.search(content)
    if prompt is None or completion is None:
        return None
    return int(prompt.group(1)), int(completion.group(1))
