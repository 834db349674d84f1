"""The run: papers in, in order; requests in flight concurrently; records out, in input order.

A bounded window of tasks sits between the reader and the writer. The reader adds a task
per paper and waits when the window is full (back-pressure: memory stays flat however long
the input); the writer takes tasks from the window's head, so each record is written, and
flushed, as soon as it and every record before it are done. Everything that finished is on
disk and in the cache, so an interrupted run resumes by running it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, Union, runtime_checkable

from extractor.config import RunConfig
from extractor.core.paper import Paper
from extractor.model.call import PREFILLED, CallError, FatalError, ModelCall
from extractor.pipeline.cache import ResponseCache
from extractor.pipeline.pricing import Budget, Price, estimate_tokens
from extractor.pipeline.progress import Counters, Progress
from extractor.pipeline.prompt import Prompt
from extractor.pipeline.stages import Outcome, Prepared, Stages, error_record


class Sink(Protocol):
    """Where records (or error records) go: a `JsonlWriter`, or the library API's queue."""

    def write(self, obj: dict[str, Any]) -> None: ...


@runtime_checkable
class LineSink(Sink, Protocol):
    """A sink that also takes a record as its JSON line (a `JsonlWriter`): a record copied
    out of the cache goes out as it is, never decoded and encoded again."""

    def write_line(self, line: str) -> None: ...

    def flush(self) -> None: ...


# A window slot: a finished outcome (served from the cache) or a request still in flight.
Slot = Union[Outcome, "asyncio.Task[Outcome]"]


@dataclass
class Summary:
    counters: Counters
    written: int = 0
    failed: int = 0
    spent_input_tokens: int = 0
    spent_output_tokens: int = 0
    spent_cost: float | None = None  # dollars; None when the model's price is unknown
    not_sent: int = 0  # records held back by --max-cost


class Answers(Protocol):
    """Answers obtained before the run's own requests (the Batch API, a results file)."""

    def answer(self, key: str) -> bytes | None:
        """The raw chat completion answering this cache key, if one came back."""

    def failure(self, key: str) -> tuple[str, str, int] | None:
        """(type, message, attempts) when this key's answer failed for good."""


class Pipeline:
    def __init__(
        self,
        config: RunConfig,
        call: ModelCall,
        prompt: Prompt,
        cache: ResponseCache | None,
        *,
        endpoint: str | None = None,
        slots: asyncio.Semaphore | None = None,
        price: Price | None = None,
        answers: Answers | None = None,
    ):
        """`endpoint` identifies who answers, for the cache key: by default the normalized
        base URL; the embedded model's is its file's identity (`local.model_identity`).
        `price` gives records their cost (`meta.cost_usd`) and makes `--max-cost` possible;
        `answers` are answers already obtained (batch mode): a record that has one is
        validated and grounded from it, exactly as from a live answer."""
        self.config = config
        self.call = call
        self.prompt = prompt
        self.cache = cache
        if endpoint is None and cache is not None and config.model.model.startswith("local:"):
            raise ValueError("a local model's cache key needs the identity of its model file")
        self.stages = Stages.from_config(config, endpoint)
        if prompt is not self.stages.prompt:  # a caller's own prompt (tests, benchmarks)
            self.stages = dataclasses.replace(self.stages, prompt=prompt)
        if price is not None:
            self.stages = dataclasses.replace(self.stages, price=price)
        self.endpoint = self.stages.endpoint
        self.price = price = self.stages.price
        self.answers = answers
        max_cost = config.scale.max_cost
        if max_cost is not None and price is None:
            raise ValueError("--max-cost needs the model's price (--price-in/--price-out)")
        self.budget = Budget(max_cost, price) if max_cost is not None and price else None
        # Shared by several runs of one client (the library API): requests in flight, all told.
        self._slots = slots or asyncio.Semaphore(config.concurrency)
        self._fatal: FatalError | None = None
        self._write_line: Callable[[str], None] | None = None
        self._flush: Callable[[], None] | None = None
        self._queued = 0  # slots in the window or at its head, not yet written
        self.summary: Summary | None = None

    async def run(
        self,
        papers: Iterable[Paper],
        out: Sink,
        errors: Sink,
        progress: Progress,
        *,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> Summary:
        """`ready`, when given, is awaited after each record is written: a reader slower than
        the endpoint (the library API's consumer) holds the run back instead of piling up."""
        # readable while the run goes on
        summary = self.summary = Summary(
            progress.c, spent_cost=0.0 if self.price is not None else None
        )
        # Wide enough that a slow record at the head does not idle the other slots,
        # narrow enough that finished records never pile up in memory.
        window: asyncio.Queue[Slot | None] = asyncio.Queue(
            maxsize=max(16, self.config.concurrency * 4)
        )
        self._write_line = out.write_line if isinstance(out, LineSink) else None
        self._flush = out.flush if isinstance(out, LineSink) else None

        def deliver(outcome: Outcome) -> None:
            self._account(outcome, summary, out, errors)
            progress.update()

        self._queued = 0
        producer = asyncio.create_task(self._produce(papers, window, deliver, ready))
        head: Slot | None = None
        try:
            while (head := await window.get()) is not None:
                if isinstance(head, asyncio.Task) and not head.done() and self._flush:
                    self._flush()  # records copied out before it go to disk while it waits
                outcome = head if isinstance(head, Outcome) else await head
                head = None
                if self._fatal is not None:
                    raise self._fatal
                deliver(outcome)
                self._queued -= 1
                if ready is not None:
                    await ready()
            await producer  # re-raises a reader error
        finally:
            # Interrupted or failed: what already finished is still written, in order, up to
            # the first record that is not done; the rest is cancelled (and in the cache if
            # it got that far).
            rest: list[Slot | None] = [head] if head is not None else []
            while not window.empty():
                rest.append(window.get_nowait())
            for slot in rest:
                if isinstance(slot, Outcome):
                    self._account(slot, summary, out, errors)
                elif slot is None or not slot.done() or slot.cancelled() or slot.exception():
                    break
                else:
                    self._account(slot.result(), summary, out, errors)
            for slot in rest:
                if isinstance(slot, asyncio.Task):
                    slot.cancel()
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer
            if self.cache is not None:
                with contextlib.suppress(Exception):  # records kept are only a shortcut
                    self.cache.flush()
        return summary

    async def _produce(
        self,
        papers: Iterable[Paper],
        window: asyncio.Queue[Slot | None],
        deliver: Callable[[Outcome], None],
        ready: Callable[[], Awaitable[None]] | None,
    ) -> None:
        try:
            for n, paper in enumerate(papers):
                if self.config.limit is not None and n >= self.config.limit:
                    break
                if self._fatal is not None:
                    break
                prepared = self.stages.prepare(paper)
                # A cached answer is finished on the spot: no task, no scheduling, which is
                # most of what a record costs when a rerun is served from the cache.
                slot: Slot | None = _rejected(paper) or self._lookup(prepared)
                if slot is not None:
                    pass
                elif self.config.cache_only:
                    message = "not in the response cache (--cache-only sends no request)"
                    slot = Outcome(error=error_record(paper, "not_cached", message, 0))
                elif (
                    self.budget is not None
                    and self.budget.exhausted
                    and (self.answers is None or self.answers.answer(prepared.key) is None)
                ):
                    slot = self._not_sent(paper)
                elif self.answers is not None and (failed := self.answers.failure(prepared.key)):
                    slot = Outcome(error=error_record(paper, *failed))
                else:
                    slot = asyncio.create_task(self._request(prepared))
                if isinstance(slot, Outcome) and self._queued == 0:
                    # Finished, and nothing before it is still waiting: written at once,
                    # without the window's round trip (a rerun from the cache is all this).
                    deliver(slot)
                    if ready is not None:
                        await ready()
                    elif n % 64 == 0:
                        await asyncio.sleep(0)  # the loop still sees Ctrl-C and the rest
                    continue
                self._queued += 1
                await window.put(slot)
        finally:
            await window.put(None)

    def _account(self, outcome: Outcome, summary: Summary, out: Sink, errors: Sink) -> None:
        c = summary.counters
        c.done += 1
        c.input_tokens += outcome.input_tokens
        c.output_tokens += outcome.output_tokens
        if outcome.cached:
            c.cached += 1
        else:
            summary.spent_input_tokens += outcome.input_tokens
            summary.spent_output_tokens += outcome.output_tokens
            if summary.spent_cost is not None:
                summary.spent_cost += outcome.cost
        summary.not_sent += outcome.not_sent
        if outcome.line is not None and self._write_line is not None:
            self._write_line(outcome.line)  # copied out of the cache, already encoded
            summary.written += 1
        elif (record := outcome.as_record()) is not None:
            out.write(record)
            summary.written += 1
        if outcome.error is not None:
            errors.write(outcome.error)
            summary.failed += 1
            c.failed += 1

    def _not_sent(self, paper: Paper) -> Outcome:
        limit = self.config.scale.max_cost
        message = (
            f"not sent: the run reached --max-cost {limit:g}; run the same command again "
            "(with a higher --max-cost) to go on"
        )
        return Outcome(error=error_record(paper, "max_cost", message, 0), not_sent=True)

    def _lookup(self, prepared: Prepared) -> Outcome | None:
        """The paper finished from the cache, under the first mode that has its answer
        (`auto` tries them in its fallback order): copied out of its finished record when
        one of this version is kept, else grounded from the answer (and kept)."""
        cache = self.cache
        if cache is None:
            return None
        version = self.stages.record_version
        for mode in prepared.modes:
            key = prepared.key_of(mode)
            if prepared.whole and (done := cache.get_finished(key, version)) is not None:
                try:
                    return self.stages.from_finished(prepared.paper, done, mode)
                except Exception:  # a paper built oddly (library API): grounded instead
                    pass
            hit = cache.get_reply(key)
            if hit is not None:
                reply = dataclasses.replace(hit, mode=mode)
                outcome = self.stages.finish(prepared, reply, cached=True)
                if (finished := self.stages.finished(prepared, outcome, reply)) is not None:
                    cache.set_finished(key, finished)
                return outcome
        return None

    async def _request(self, prepared: Prepared) -> Outcome:
        async with self._slots:
            if self._fatal is not None:
                return Outcome()
            messages = prepared.messages()
            answer = self.answers.answer(prepared.key) if self.answers is not None else None
            if answer is not None:
                PREFILLED.set([answer])  # this task's first chat completion is the batch's
            reserved = 0.0
            # A batch's answer was reserved for when its request line was written.
            if self.budget is not None and answer is None:
                reserved = self.budget.reserve(
                    estimate_tokens(messages),
                    self.config.model.max_tokens,
                    reasks=self.config.model.max_reasks,
                )
                if reserved < 0:
                    return self._not_sent(prepared.paper)
            try:
                reply = await self.call(messages)
            except FatalError as e:
                self._fatal = self._fatal or e
                return Outcome()
            except CallError as e:
                cost = self.stages.cost(*e.usage, batch=answer is not None) or 0.0
                if self.budget is not None:
                    self.budget.settle(reserved, cost)
                return Outcome(
                    error=error_record(prepared.paper, e.type, e.message, e.attempts),
                    input_tokens=e.usage[0],
                    output_tokens=e.usage[1],
                    cost=cost,
                )
            finally:
                PREFILLED.set(None)
            if answer is not None:
                reply.batch = True
            if self.budget is not None:
                spent = self.stages.reply_cost(reply)
                self.budget.settle(reserved, spent or 0.0)
        key = prepared.key_for(reply)  # under the mode that answered, for that mode and auto
        if self.cache is not None:
            self.cache.set_reply(key, reply)  # paid for: kept before anything can cancel us
        # The freed slot's next request goes out before this one is grounded: answers come
        # back in bursts, and a burst's last request would otherwise wait for every record
        # before it to be finished.
        await asyncio.sleep(0)
        outcome = self.stages.finish(prepared, reply, cached=False)
        finished = self.stages.finished(prepared, outcome, reply)
        if self.cache is not None and finished is not None:
            self.cache.set_finished(key, finished)
        return outcome


def _rejected(paper: Paper) -> Outcome | None:
    """The error record of a paper its reader found unusable (an id that names another paper
    already): it goes to the errors file, and nothing is sent for it."""
    if paper.problem is None:
        return None
    return Outcome(error=error_record(paper, "input_error", paper.problem, 0))
