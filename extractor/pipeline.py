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
from dataclasses import dataclass, replace
from typing import Any, Union

from extractor.cache import ResponseCache, cache_key, url_endpoint
from extractor.call import CallError, FatalError, ModelCall, Reply
from extractor.config import FALLBACK_ORDER, RunConfig
from extractor.core.facts import PaperFacts, analyze
from extractor.core.ground import ground
from extractor.core.labels import LabelPolicy
from extractor.core.paper import Paper
from extractor.core.schema import reply_model, schema_version
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
        *,
        endpoint: str | None = None,
    ):
        """`endpoint` identifies who answers, for the cache key: by default the normalized
        base URL; the embedded model's is its file's identity (`local.model_identity`)."""
        self.config = config
        self.call = call
        self.prompt = prompt
        self.cache = cache
        if endpoint is None and cache is not None and config.model.model.startswith("local:"):
            raise ValueError("a local model's cache key needs the identity of its model file")
        self.endpoint = endpoint if endpoint is not None else url_endpoint(config.model.base_url)
        self._slots = asyncio.Semaphore(config.concurrency)
        self._fatal: FatalError | None = None
        self._reply_model = reply_model(config.model.results)
        # The cache key names the mode that answered: `auto` looks an answer up under each
        # mode it may use, so switching between auto and an explicit mode re-pays nothing.
        modes = FALLBACK_ORDER if config.model.mode == "auto" else (config.model.mode,)
        self._key_models = {m: replace(config.model, mode=m) for m in modes}
        self._schema_version = schema_version(config.model.results)
        self._labels = LabelPolicy.parse(config.labels)

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
                keys = {
                    mode: cache_key(
                        model,
                        self.endpoint,
                        self.prompt.version,
                        self._schema_version,
                        paper.title,
                        abstract,
                    )
                    for mode, model in self._key_models.items()
                }
                hit = self._lookup(keys)
                # What the text says is computed once, for the prompt and the grounding.
                facts = analyze(paper.title, paper.abstract)
                # A cached answer is finished on the spot: no task, no scheduling, which is
                # most of what a record costs when a rerun is served from the cache.
                slot: Slot
                if hit is not None:
                    slot = self._finish_contained(paper, facts, hit, warnings, cached=True)
                elif self.config.cache_only:
                    message = "not in the response cache (--cache-only sends no request)"
                    slot = Outcome(error=self._error_record(paper, "not_cached", message, 0))
                else:
                    slot = asyncio.create_task(
                        self._request(paper, facts, abstract, warnings, keys)
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

    def _lookup(self, keys: dict[str, str]) -> Reply | None:
        """The cached answer under the first mode that has one (`auto` tries them in its
        fallback order), with that mode."""
        if self.cache is None:
            return None
        for mode, key in keys.items():
            hit = self.cache.get_reply(key)
            if hit is not None:
                return replace(hit, mode=mode)
        return None

    async def _request(
        self,
        paper: Paper,
        facts: PaperFacts,
        abstract: str,
        warnings: list[str],
        keys: dict[str, str],
    ) -> Outcome:
        async with self._slots:
            if self._fatal is not None:
                return Outcome()
            # A number past the prompt's cut is not shown, so it cannot be cited.
            shown = [n for n in facts.numbers if n.field == "title" or n.end <= len(abstract)]
            try:
                reply = await self.call(self.prompt.messages(paper.title, abstract, shown))
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
            # under the mode that answered, so a later run in that mode or in auto finds it
            key = keys.get(reply.mode or "") or next(iter(keys.values()))
            self.cache.set_reply(key, reply)
        return self._finish_contained(paper, facts, reply, warnings, cached=False)

    def _finish_contained(
        self, paper: Paper, facts: PaperFacts, reply: Reply, warnings: list[str], *, cached: bool
    ) -> Outcome:
        """`_finish`, with whatever it raises contained to this one record.

        Validation and grounding run on answers nobody vetted (a model's, an old cache
        entry's); a bug or an odd answer there must cost this record, as an `internal_error`
        in the errors file, not the run. The answer stays cached: fixing the bug and running
        the same command again finishes it without a request.
        """
        try:
            return self._finish(paper, facts, reply, warnings, cached=cached)
        except Exception as e:  # KeyboardInterrupt and cancellation still stop the run
            return Outcome(
                error=self._error_record(paper, "internal_error", _one_line(e), reply.attempts),
                cached=cached,
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
            )

    def _finish(
        self, paper: Paper, facts: PaperFacts, reply: Reply, warnings: list[str], *, cached: bool
    ) -> Outcome:
        grounded = ground(
            self._reply_model.model_validate(reply.extraction),
            facts,
            keep_ungrounded=self.config.keep_ungrounded,
            policy=self._labels,
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
                "schema_version": self._schema_version,
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


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """`Type: message` on one line, cut short: pydantic's errors run to many lines."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
