"""The client-side rate limiter, on a virtual clock: deterministic, no real waiting.

The limiter's sleeps are serialized by its lock, so advancing a shared virtual clock by each
sleep gives every request the send time it would have had; the fake provider
(`bench/fake_openai.Limits`, the same buckets the benchmark's server enforces) reads that
clock too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from bench.fake_openai import Limits
from extractor.config import ModelConfig
from extractor.model.http_client import RateLimitedClient
from extractor.model.openai_call import OpenAICall
from extractor.model.ratelimit import RateLimiter, parse_duration
from tests.cli.test_run import EMPTY
from tests.support.shared import BASE_URL, completion, models_list, sent_paper


class VirtualClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_parse_duration_reads_openai_reset_formats() -> None:
    assert parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("1s") == 1.0
    assert parse_duration("6m0s") == 360.0
    assert parse_duration("1h2m3.5s") == pytest.approx(3723.5)
    assert parse_duration("2.5") == 2.5
    assert parse_duration("soon") is None
    assert parse_duration(None) is None


async def test_requests_never_exceed_the_rate_in_any_window() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(rpm=600, concurrency=64, learn=False, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(100):
        ticket = await limiter.acquire(1000)
        sent.append(clock())
        limiter.release(ticket, status=200)
    # 600 RPM = 10 a second; the bucket holds half a second (5 requests).
    for i, start in enumerate(sent):
        in_one_second = [t for t in sent[i:] if t < start + 1.0]
        assert len(in_one_second) <= 10 + 5
    assert sent[-1] - sent[0] == pytest.approx((100 - 5) / 10, rel=0.02)


async def test_tokens_bucket_is_settled_with_the_reported_usage() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(tpm=60_000, concurrency=8, learn=False, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        ticket = await limiter.acquire(400)
        limiter.release(ticket, status=200, usage=(900, 100))
    # 1,000 tokens a request at 1,000 tokens a second: about a second each after the burst.
    assert clock.now - 1000.0 == pytest.approx(19, abs=1.5)
    assert limiter.output_mean == pytest.approx(100, rel=0.1)
    assert limiter.tokens_per_byte == pytest.approx(900 / 400, rel=0.1)


async def test_limits_are_learned_from_headers_after_one_request_at_a_time() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(concurrency=16, clock=clock, sleep=clock.sleep)
    first = await limiter.acquire(100)
    # Until an answer has told the limits, a second request waits.
    second = asyncio.ensure_future(limiter.acquire(100))
    await asyncio.sleep(0)
    assert not second.done()
    limiter.release(
        first,
        status=200,
        headers={"x-ratelimit-limit-requests": "600", "x-ratelimit-limit-tokens": "200000"},
    )
    await asyncio.wait_for(second, 1)
    assert (limiter.rpm, limiter.tpm) == (600, 200000)
    assert limiter._cap_now() == 16
    limiter.release(second.result(), status=200)


async def test_a_user_limit_below_the_servers_wins() -> None:
    limiter = RateLimiter(rpm=100, concurrency=4)
    ticket = await limiter.acquire(10)
    limiter.release(ticket, status=200, headers={"x-ratelimit-limit-requests": "600"})
    assert limiter.rpm == 100


async def test_429s_halve_concurrency_once_per_round_trip_and_successes_restore_it() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(rpm=600, concurrency=32, learn=False, clock=clock, sleep=clock.sleep)
    tickets = [await limiter.acquire(10) for _ in range(8)]
    clock.now += 0.1
    for t in tickets[:4]:  # a burst of 429s from one moment is one signal
        limiter.release(t, status=429, headers={"retry-after-ms": "200"})
    assert limiter.cap == 16
    assert limiter.stats.throttled == 4
    ticket = await limiter.acquire(10)  # sent after the cut: the buckets were emptied
    assert clock.slept and clock.slept[-1] == pytest.approx(0.1)
    limiter.release(ticket, status=429)
    assert limiter.cap == 8
    for t in tickets[4:]:
        limiter.release(t, status=200)
    for _ in range(8 + 9):
        t = await limiter.acquire(10)
        limiter.release(t, status=200)
    assert limiter.cap == 10


def _provider(limits: Limits) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        ok, raw = limits.admit()
        headers = dict(
            line.split(": ", 1) for line in raw.decode().split("\r\n") if line and ": " in line
        )
        if not ok:
            return httpx.Response(429, headers=headers, json={"error": {"message": "slow down"}})
        name = sent_paper(request).split("Title: ")[1].split(":")[0]
        extraction = {**EMPTY, "models": [{"name": name, "role": "proposed", "size": None}]}
        body = completion(
            extraction,
            prompt_tokens=limits.prompt_tokens,
            completion_tokens=limits.completion_tokens,
        )
        return httpx.Response(200, headers=headers, json=body)

    return handle


@pytest.mark.parametrize(("rpm", "tpm"), [(600, None), (None, 20_000), (600, 20_000)])
async def test_a_run_against_a_provider_enforcing_limits_gets_almost_no_429s(
    monkeypatch: pytest.MonkeyPatch, rpm: float | None, tpm: float | None
) -> None:
    """200 requests, 32 in flight, against buckets of one second: the limiter learns the
    limits from the first answer's headers and keeps the pace they allow."""
    clock = VirtualClock()
    monkeypatch.setattr("extractor.model.openai_call._sleep", clock.sleep)
    limits = Limits(rpm=rpm, tpm=tpm, prompt_tokens=250, completion_tokens=50, clock=clock)
    limiter = RateLimiter(concurrency=32, clock=clock, sleep=clock.sleep)
    n = 200
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as api:
        api.get("/models").mock(return_value=models_list())
        api.post("/chat/completions").mock(side_effect=_provider(limits))
        call = OpenAICall(
            ModelConfig(model="test-model", base_url=BASE_URL, api_key="sk-test"),
            http_client=RateLimitedClient(limiter),
        )
        slots = asyncio.Semaphore(32)

        async def one(i: int) -> Any:
            async with slots:
                paper = f"<paper>\nTitle: Net{i}: a paper\nAbstract: We propose Net{i}.\n</paper>"
                return await call([{"role": "user", "content": paper}])

        start = clock()
        replies = await asyncio.gather(*(one(i) for i in range(n)))
    assert [r.extraction["models"][0]["name"] for r in replies] == [f"Net{i}" for i in range(n)]
    assert limits.throttled <= n // 100  # at most 1% answered 429
    # Paced at the limits, not below them: the run takes what the limits allow, within 5%.
    per_second = min(
        (rpm or 1e9) / 60, (tpm or 1e9) / 60 / (limits.prompt_tokens + limits.completion_tokens)
    )
    allowed = (n - per_second) / per_second  # the first second's burst is free
    assert clock() - start <= allowed / 0.95
    assert limiter.stats.throttled == limits.throttled
