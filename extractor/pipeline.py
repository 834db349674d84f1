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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Union

from extractor.cache import ResponseCache, cache_key
from extractor.call import CallError, FatalError, ModelCall, Reply
from extractor.config import RunConfig
from extractor.core.ground import ground
from extractor.core.paper import Paper
from extractor.core.schema import SCHEMA_VERSION, Extraction
from extractor.progress import Counters, Progress
from extractor.prompt import Prompt
from extractor.write import JsonlWriter


@dataclass
class Outcome:
    record: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cached: bool = False
    input_tokens: int = 0
    output_tokens: int = 0


# A window slot: a finished outcome (served from the cache) or a request still in flight.
Slot = Union[Outcome, "asyncio.Task[Outcome]"]


@dataclass
class Summary:
    counters: Counters
    written: int = 0
    failed: int = 0
    spent_input_tokens: int = 0
    spent_output_tokens: int = 0


class Pipeline:
    def __init__(
        self,
        config: RunConfig,
        call: ModelCall,
        prompt: Prompt,
        cache: ResponseCache | None,
    ):
        self.config = config
        self.call = call
        self.prompt = prompt
        self.cache = cache
        self._slots = asyncio.Semaphore(config.concurrency)
        self._fatal: FatalError | None = None

    async def run(
        self, papers: Iterable[Paper], out: JsonlWriter, errors: JsonlWriter, progress: Progress
    ) -> Summary:
        summary = Summary(progress.c)
        # Wide enough that a slow record at the head does not idle the other slots,
        # narrow enough that finished records never pile up in memory.
        window: asyncio.Queue[Slot | None] = asyncio.Queue(
            maxsize=max(16, self.config.concurrency * 4)
        )
        producer = asyncio.create_task(self._produce(papers, window))
        head: Slot | None = None
        try:
            while (head := await window.get()) is not None:
                outcome = head if isinstance(head, Outcome) else await head
                head = None
                if self._fatal is not None:
                    raise self._fatal
                self._account(outcome, summary, out, errors)
                progress.update()
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
        return summary

    async def _produce(self, papers: Iterable[Paper], window: asyncio.Queue[Slot | None]) -> None:
        try:
            for n, paper in enumerate(papers):
                if self.config.limit is not None and n >= self.config.limit:
                    break
                if self._fatal is not None:
                    break
                abstract, warnings = self._prompt_abstract(paper)
                key = cache_key(
                    self.config.model, self.prompt.version, SCHEMA_VERSION, paper.title, abstract
                )
                hit = self.cache.get(key) if self.cache is not None else None
                # A cached answer is finished on the spot: no task, no scheduling, which is
                # most of what a record costs when a rerun is served from the cache.
                slot: Slot = (
                    self._finish(paper, Reply(**hit), warnings, cached=True)
                    if hit is not None
                    else asyncio.create_task(self._request(paper, abstract, warnings, key))
                )
                await window.put(slot)
        finally:
            await window.put(None)

    def _account(
        self, outcome: Outcome, summary: Summary, out: JsonlWriter, errors: JsonlWriter
    ) -> None:
        c = summary.counters
        c.done += 1
        c.input_tokens += outcome.input_tokens
        c.output_tokens += outcome.output_tokens
        if outcome.cached:
            c.cached += 1
        else:
            summary.spent_input_tokens += outcome.input_tokens
            summary.spent_output_tokens += outcome.output_tokens
        if outcome.record is not None:
            out.write(outcome.record)
            summary.written += 1
        if outcome.error is not None:
            errors.write(outcome.error)
            summary.failed += 1
            c.failed += 1

    def _prompt_abstract(self, paper: Paper) -> tuple[str, list[str]]:
        warnings = list(paper.warnings)
        limit = self.config.max_abstract_chars
        if len(paper.abstract) <= limit:
            return paper.abstract, warnings
        warnings.append(
            f"abstract truncated from {len(paper.abstract)} to {limit} characters for the prompt"
        )
        return paper.abstract[:limit], warnings

    async def _request(self, paper: Paper, abstract: str, warnings: list[str], key: str) -> Outcome:
        async with self._slots:
            if self._fatal is not None:
                return Outcome()
            try:
                reply = await self.call(self.prompt.messages(paper.title, abstract))
            except FatalError as e:
                self._fatal = self._fatal or e
                return Outcome()
            except CallError as e:
                return Outcome(
                    error=self._error_record(paper, e.type, e.message, e.attempts),
                    input_tokens=e.usage[0],
                    output_tokens=e.usage[1],
                )
        if self.cache is not None:
            self.cache.set(key, reply.__dict__)
        return self._finish(paper, reply, warnings, cached=False)

    def _finish(self, paper: Paper, reply: Reply, warnings: list[str], *, cached: bool) -> Outcome:
        grounded = ground(
            Extraction.model_validate(reply.extraction),
            paper.title,
            paper.abstract,
            keep_ungrounded=self.config.keep_ungrounded,
        )
        source: dict[str, Any] = {"path": paper.path, "line": paper.line}
        if paper.url:
            source["url"] = paper.url
        record = {
            "id": paper.id,
            "title": paper.title,
            "abstract": paper.abstract,
            "source": source,
            "extraction": grounded.extraction.model_dump(warnings=False),  # JSON-native types only
            "spans": grounded.spans,
            "meta": {
                "model": self.config.model.model,
                "prompt_version": self.prompt.version,
                "schema_version": SCHEMA_VERSION,
                "cached": cached,
                "attempts": reply.attempts,
                "input_tokens": reply.input_tokens,
                "output_tokens": reply.output_tokens,
                "mode": reply.mode,
            },
            "warnings": warnings + list(grounded.warnings),
        }
        return Outcome(
            record=record,
            cached=cached,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
        )

    @staticmethod
    def _error_record(paper: Paper, type_: str, message: str, attempts: int) -> dict[str, Any]:
        return {
            "id": paper.id,
            "title": paper.title,
            "source": {"path": paper.path, "line": paper.line},
            "error": {"type": type_, "message": message, "attempts": attempts},
        }
