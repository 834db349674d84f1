"""Batch mode: the records that are not cached go through the OpenAI Batch API (or an offline
results file) instead of live requests, at the Batch API's price.

The flow, for `extractor run ... --batch -o OUT`:

1. **Write** one request line per record not cached (`custom_id` = its cache key, `body` =
   exactly what a live request posts: it is captured from the live client itself, below the
   SDK) into `OUT.batch/requests-NNNN.jsonl`, at most 50,000 lines / 200 MB a file.
2. **Submit** each file (`purpose="batch"`) and create its batch. Every step is recorded in
   `OUT.batch/state.json` before the next, so a killed run picks its batches up where they
   are: a file is uploaded once, and a batch is created once per file (a run killed between
   "create" and recording the id finds it again by its input file).
3. **Poll** until each batch ends, with progress on stderr; download what came back into
   `OUT.batch/answers.sqlite`. A line rejected in its response body (4xx), and every line of
   an expired or failed batch, goes to a retry batch (`--batch-retries`, then it fails), or
   is sent live in step 4 with `--batch-fallback live`.
4. **Write the records**: the ordinary pipeline runs over the input again; a record with an
   answer is validated (re-asked live if invalid), grounded, cached and written in input
   order exactly as from a live answer (the answer is served to the live client code in
   place of its first request). So a batch run writes the same records as a live run of the
   same answers.

`--batch-file FILE` stops after step 1 with every line in FILE (for `vllm run-batch`, same
format); `--batch-results FILE` skips to step 4 with FILE's answers. Nothing is ever paid
twice for one record: a cached record is never written to a batch, a record held by a batch
of the state is never written to another, and a retry holds only lines that did not succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from extractor.config import RunConfig
from extractor.core.paper import Paper
from extractor.model.call import BatchError, ModelCall
from extractor.pipeline.pricing import Price, dollars, estimate_tokens
from extractor.pipeline.stages import Prepared
from extractor.pipeline.window import Pipeline

MAX_REQUESTS = 50_000  # OpenAI's limits for one batch
MAX_BYTES = 200 * 1024 * 1024 - 1024 * 1024  # 200 MB, less a margin
ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "expired", "failed", "cancelled")
_RETRIED = ("expired", "failed")  # a batch's unfinished lines are retried; cancelled ones not
STATE_VERSION = 1


def state_dir(output: str) -> Path:
    return Path(f"{output}.batch")


# -- state ------------------------------------------------------------------------------


@dataclass
class Entry:
    """One requests file and the batch made of it."""

    file: str  # name inside the state directory
    count: int
    round: int = 0  # 0: first submission; n: the n-th retry
    parent: str | None = None  # the file whose failed lines this retry holds
    input_file_id: str | None = None
    create_started: bool = False  # batches.create was called: look before calling again
    id: str | None = None
    status: str = "local"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    processed: bool = False  # its answers and failures are in the store


class State:
    def __init__(self, directory: Path, settings: dict[str, Any]):
        self.directory = directory
        self.settings = settings
        self.entries: list[Entry] = []

    @property
    def path(self) -> Path:
        return self.directory / "state.json"

    @classmethod
    def open(cls, directory: Path, settings: dict[str, Any]) -> State:
        state = cls(directory, settings)
        if state.path.exists():
            data = json.loads(state.path.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                raise BatchError(f"{state.path}: unknown state version {data.get('version')!r}")
            if data.get("settings") != settings:
                raise BatchError(
                    f"{state.path} holds batches of other settings (model, endpoint, prompt); "
                    "use another -o, or remove that directory once `extractor batch status` "
                    "shows nothing running"
                )
            state.entries = [Entry(**e) for e in data["entries"]]
        return state

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {
            "version": STATE_VERSION,
            "settings": self.settings,
            "entries": [dataclasses.asdict(e) for e in self.entries],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def next_file(self) -> str:
        return f"requests-{len(self.entries) + 1:04d}.jsonl"

    def keys(self, entry: Entry) -> Iterator[str]:
        with open(self.directory / entry.file, "rb") as fh:
            for line in fh:
                yield _custom_id(line)


def load_state(output: str) -> State:
    """The state of `extractor batch status|cancel`, whatever its settings."""
    directory = state_dir(output)
    path = directory / "state.json"
    if not path.exists():
        raise BatchError(f"no batches for {output} (no {path})")
    data = json.loads(path.read_text(encoding="utf-8"))
    state = State(directory, data.get("settings", {}))
    state.entries = [Entry(**e) for e in data["entries"]]
    return state


def _custom_id(line: bytes) -> str:
    # Our own lines start with the custom_id; anyone else's are parsed.
    prefix = b'{"custom_id":"'
    if line.startswith(prefix):
        end = line.index(b'"', len(prefix))
        return line[len(prefix) : end].decode()
    return str(json.loads(line)["custom_id"])


# -- answers ----------------------------------------------------------------------------


class AnswerStore:
    """Answers and final failures by cache key, on disk beside the state (SQLite): what was
    downloaded survives a kill, and a rerun validates it without asking again."""

    def __init__(self, path: Path, *, strict: str | None = None):
        """`strict`: the failure message of a record with neither answer nor failure (in
        batch mode every uncached record has one or the other, so it must not go live)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.strict = strict
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, body BLOB)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, type TEXT, message TEXT)"
        )

    def put_answers(self, rows: Iterable[tuple[str, bytes]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?)", rows)

    def put_failures(self, rows: Iterable[tuple[str, str, str]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO failures VALUES (?, ?, ?)", rows)

    def answered(self, key: str) -> bool:
        return (
            self._db.execute("SELECT 1 FROM answers WHERE key = ?", (key,)).fetchone() is not None
        )

    def answer(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT body FROM answers WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def failure(self, key: str) -> tuple[str, str, int] | None:
        row = self._db.execute(
            "SELECT type, message FROM failures WHERE key = ?", (key,)
        ).fetchone()
        if row:
            return str(row[0]), str(row[1]), 1
        if self.strict is not None and not self.answered(key):
            return "batch_missing", self.strict, 0
        return None

    def counts(self) -> tuple[int, int]:
        answers = self._db.execute("SELECT count(*) FROM answers").fetchone()[0]
        failures = self._db.execute("SELECT count(*) FROM failures").fetchone()[0]
        return int(answers), int(failures)

    def close(self) -> None:
        self._db.close()


def read_results(lines: Iterable[bytes]) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(custom_id, chat completion body, None) for an answered line, (custom_id, None, why)
    for a line rejected in its response or in `error`. OpenAI's and vLLM's format."""
    for raw in lines:
        if not raw.strip():
            continue
        line = json.loads(raw)
        custom_id = str(line.get("custom_id"))
        response = line.get("response") or {}
        status = response.get("status_code")
        error = line.get("error")
        if status == 200 and not error and isinstance(response.get("body"), dict):
            body = response["body"]
            yield custom_id, json.dumps(body, ensure_ascii=False).encode(), None
            continue
        why = ""
        if isinstance(error, dict):
            why = f"{error.get('code') or ''} {error.get('message') or ''}".strip()
        elif error:
            why = str(error)
        body = response.get("body") if isinstance(response, dict) else None
        if not why and isinstance(body, dict):
            inner = body.get("error")
            why = inner.get("message", "") if isinstance(inner, dict) else str(inner or "")
        yield custom_id, None, f"HTTP {status}: {why}" if status else why or "rejected"


# -- request bodies ---------------------------------------------------------------------


class _Captured(BaseException):
    """Stops the live client right where it would send. A BaseException, so that neither
    the SDK nor the transport retries take it for a connection error and retry it."""


class _CaptureClient(httpx.AsyncClient):
    """Sends nothing: keeps the body of the chat completion the live client would post."""

    def __init__(self) -> None:
        super().__init__()
        self.captured: bytes | None = None

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        if request.method == "POST" and request.url.path.endswith("/chat/completions"):
            self.captured = request.content
            raise _Captured
        return httpx.Response(200, json={"object": "list", "data": []}, request=request)


_PLACEHOLDER = "\ue000extractor-paper\ue000"


class RequestBodies:
    """The body of each record's request, as the live client builds it.

    The live client (instructor, the SDK, the mode's schema, strict or not) is run up to the
    moment it would send; what it would send is kept. That costs milliseconds a record, so
    it is done once with a placeholder for the paper, and each record's body is that
    template with its paper put in; the first record is checked against a full capture, and
    any difference makes every record a full capture."""

    def __init__(self, make_call: Callable[[httpx.AsyncClient], ModelCall]):
        """`make_call`: the run's own call over the given HTTP client (`compose.request_bodies`)."""
        self._client = _CaptureClient()
        self._call = make_call(self._client)
        self._template: dict[str, Any] | None = None
        self._slot: int | None = None
        self._checked = False

    async def capture(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        self._client.captured = None
        with contextlib.suppress(_Captured, Exception):
            await self._call(messages)
        if self._client.captured is None:
            raise BatchError("could not build a request body for the Batch API")
        body: dict[str, Any] = json.loads(self._client.captured)
        return body

    async def body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        if self._checked and self._template is None:
            return await self.capture(messages)
        if self._template is None:
            placeholder = [*messages[:-1], {**messages[-1], "content": _PLACEHOLDER}]
            template = await self.capture(placeholder)
            slots = [
                i for i, m in enumerate(template["messages"]) if m.get("content") == _PLACEHOLDER
            ]
            self._template = template if len(slots) == 1 else None
            self._slot = slots[0] if len(slots) == 1 else None
        templated = self._fill(messages[-1]["content"]) if self._template is not None else None
        if not self._checked:
            self._checked = True
            full = await self.capture(messages)
            if templated != full:
                self._template = None
            return full
        assert templated is not None
        return templated

    def _fill(self, content: str) -> dict[str, Any]:
        assert self._template is not None and self._slot is not None
        msgs = list(self._template["messages"])
        msgs[self._slot] = {**msgs[self._slot], "content": content}
        return {**self._template, "messages": msgs}


def request_line(key: str, body: dict[str, Any]) -> bytes:
    head = json.dumps(key)
    rest = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return (f'{{"custom_id":{head},"method":"POST","url":"{ENDPOINT}","body":{rest}}}\n').encode()


@dataclass
class Pending:
    """What the input holds that the cache does not."""

    records: int = 0  # distinct papers read
    cached: int = 0
    held: int = 0  # already in a batch of the state, or answered
    new: int = 0  # written to request lines now
    prompt_tokens: int = 0  # estimated, of the new ones
    over_budget: int = 0  # left out by --max-cost


async def write_requests(
    pipeline: Pipeline,
    papers: Iterable[Paper],
    bodies: RequestBodies,
    sink: Callable[[bytes], Any],
    held: Callable[[str], bool] = lambda _k: False,
) -> Pending:
    """Write a request line for each record neither cached nor `held`, in input order; with
    `--max-cost`, only as many as its budget covers at their worst case (the run's final
    pass then reports the others as `max_cost`)."""
    pending = Pending()
    budget = pipeline.budget
    max_tokens = pipeline.config.model.max_tokens
    for prepared in _to_ask(pipeline, papers, pending, held):
        key = prepared.key
        messages = prepared.messages()
        tokens = estimate_tokens(messages)
        if budget is not None and budget.reserve(tokens, max_tokens, batch=True) < 0:
            pending.over_budget += 1
            continue
        pending.prompt_tokens += tokens
        sink(request_line(key, await bodies.body(messages)))
        pending.new += 1
    if budget is not None:
        budget.reserved = 0.0  # the answers are charged as the final pass validates them
    return pending


def _to_ask(
    pipeline: Pipeline,
    papers: Iterable[Paper],
    pending: Pending,
    held: Callable[[str], bool] = lambda _key: False,
) -> Iterator[Prepared]:
    """The records a run would ask, in input order: each answer's key once, neither cached
    nor `held`; the others are counted in `pending`."""
    seen: set[str] = set()
    limit = pipeline.config.limit
    for n, paper in enumerate(papers):
        if limit is not None and n >= limit:
            break
        pending.records += 1
        prepared = pipeline.stages.prepare(paper)
        if _cached(pipeline, prepared):
            pending.cached += 1
        elif prepared.key in seen or held(prepared.key):
            pending.held += 1
        else:
            seen.add(prepared.key)
            yield prepared


def _cached(pipeline: Pipeline, prepared: Prepared) -> bool:
    """Whether an answer is cached under any mode the run may be answered in."""
    cache = pipeline.cache
    return cache is not None and any(cache.get_reply(k) is not None for k in prepared.keys.values())


# -- dry run ----------------------------------------------------------------------------


def dry_run(
    pipeline: Pipeline, papers: Iterable[Paper], price: Price | None, *, batch: bool
) -> str:
    """What a run would send and cost, counted without sending anything."""
    pending = Pending()
    for prepared in _to_ask(pipeline, papers, pending):
        pending.prompt_tokens += estimate_tokens(prepared.messages())
        pending.new += 1
    out_mean, out_source = _output_estimate(pipeline)
    out_tokens = int(pending.new * out_mean)
    model = pipeline.config.model.model
    head = (
        f"dry run: {pending.records} records, {pending.cached} cached, {pending.new} to send "
        f"to {model}: ~{pending.prompt_tokens:,} prompt tokens (characters / 4), "
        f"~{out_tokens:,} output tokens ({out_source})"
    )
    if price is None:
        return head + f"; cost unknown: no price for {model!r} (--price-in/--price-out)"
    cost = price.cost(pending.prompt_tokens, out_tokens, batch=batch)
    worst = price.cost(pending.prompt_tokens, pending.new * pipeline.config.model.max_tokens)
    mode = "Batch API price" if batch else "live price"
    return (
        head
        + f"; estimated cost {dollars(cost)} at the {mode} "
        + f"(at most {dollars(worst * (price.batch_discount if batch else 1))} if every "
        + f"answer ran to --max-tokens {pipeline.config.model.max_tokens}); nothing was sent"
    )


_DEFAULT_OUTPUT_TOKENS = 400


def _output_estimate(pipeline: Pipeline) -> tuple[float, str]:
    """Mean output tokens per answer: the cache's, when it holds answers, else a guess."""
    cache = pipeline.cache
    if cache is not None:
        with contextlib.suppress(Exception):
            stats = cache.stats()
            entries = stats["entries"] - stats["unreadable"]
            if entries:
                return stats["output_tokens"] / entries, f"the mean of {entries} cached answers"
    return _DEFAULT_OUTPUT_TOKENS, f"{_DEFAULT_OUTPUT_TOKENS} per answer, assumed"


# -- the Batch API ----------------------------------------------------------------------


class _ChunkWriter:
    """Request lines into files of at most MAX_REQUESTS lines / MAX_BYTES, each registered
    in the state once complete."""

    def __init__(self, state: State, *, round_: int = 0, parent: str | None = None):
        self.state = state
        self.round = round_
        self.parent = parent
        self._fh: Any = None
        self._name = ""
        self._count = 0
        self._bytes = 0
        self.files: list[Entry] = []

    def __call__(self, line: bytes) -> None:
        if self._fh is not None and (
            self._count >= MAX_REQUESTS or self._bytes + len(line) > MAX_BYTES
        ):
            self.close()
        if self._fh is None:
            self.state.directory.mkdir(parents=True, exist_ok=True)
            self._name = self.state.next_file()
            self._fh = open(self.state.directory / self._name, "wb")  # noqa: SIM115
            self._count = self._bytes = 0
        self._fh.write(line)
        self._count += 1
        self._bytes += len(line)

    def close(self) -> None:
        if self._fh is None:
            return
        self._fh.close()
        self._fh = None
        entry = Entry(self._name, self._count, round=self.round, parent=self.parent)
        self.state.entries.append(entry)
        self.state.save()
        self.files.append(entry)


Notify = Callable[[str], None]


class BatchRunner:
    def __init__(
        self,
        config: RunConfig,
        client: Any,  # openai.AsyncOpenAI
        state: State,
        store: AnswerStore,
        notify: Notify,
        bodies: RequestBodies,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ):
        """`bodies`: the request lines the run's own call would send (`compose.request_bodies`)."""
        self.config = config
        self.bodies = bodies
        self.client = client
        self.state = state
        self.store = store
        self.notify = notify
        self.sleep = sleep
        self.live_fallback = config.scale.batch_fallback == "live"

    async def run(self, pipeline: Pipeline, papers: Iterable[Paper]) -> Pending:
        held: set[str] = set()
        for entry in self.state.entries:
            held.update(self.state.keys(entry))
        writer = _ChunkWriter(self.state)
        pending = await write_requests(
            pipeline, papers, self.bodies, writer, lambda k: k in held or self.store.answered(k)
        )
        writer.close()
        if pending.new:
            self.notify(f"batch: {pending.new} requests in {len(writer.files)} new batch files")
        if pending.held:
            self.notify(f"batch: {pending.held} records already in this run's batches")
        if pending.over_budget:
            self.notify(f"batch: {pending.over_budget} records left out by --max-cost")
        while True:
            for entry in self.state.entries:
                if entry.id is None:
                    await self._submit(entry)
            await self._poll()
            if all(e.processed for e in self.state.entries):
                return pending

    async def _submit(self, entry: Entry) -> None:
        path = self.state.directory / entry.file
        if entry.input_file_id is None:
            with open(path, "rb") as fh:  # noqa: ASYNC230 (a local file, streamed by the upload)
                uploaded = await self.client.files.create(
                    file=(entry.file, fh, "application/jsonl"), purpose="batch"
                )
            entry.input_file_id = uploaded.id
            self.state.save()
        batch = None
        if entry.create_started:  # killed between create and saving its id: find it
            batch = await self._find(entry.input_file_id)
        if batch is None:
            entry.create_started = True
            self.state.save()
            batch = await self.client.batches.create(
                input_file_id=entry.input_file_id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"extractor": "issue10", "file": entry.file},
            )
        entry.id = batch.id
        entry.status = batch.status
        self.state.save()
        self.notify(f"batch: submitted {entry.file} ({entry.count} requests) as {batch.id}")

    async def _find(self, input_file_id: str) -> Any:
        page = await self.client.batches.list(limit=100)
        async for batch in page:
            if batch.input_file_id == input_file_id:
                return batch
        return None

    async def _poll(self) -> None:
        last = ""
        while True:
            waiting = False
            for entry in self.state.entries:
                if entry.id is None or entry.processed:
                    continue
                if entry.status not in TERMINAL:
                    batch = await self.client.batches.retrieve(entry.id)
                    entry.status = batch.status
                    entry.output_file_id = batch.output_file_id
                    entry.error_file_id = batch.error_file_id
                    counts = batch.request_counts
                    if counts is not None:
                        entry.counts = {
                            "total": counts.total,
                            "completed": counts.completed,
                            "failed": counts.failed,
                        }
                    self.state.save()
                if entry.status in TERMINAL:
                    await self._collect(entry)
                else:
                    waiting = True
            line = self._progress()
            if line != last:
                self.notify(line)
                last = line
            if not waiting:
                return
            await self.sleep(self.config.scale.poll_interval)

    def _progress(self) -> str:
        live = [e for e in self.state.entries if e.id is not None]
        done = sum(e.status in TERMINAL for e in live)
        total = sum(e.count for e in live)
        completed = sum(e.counts.get("completed", 0) for e in live)
        failed = sum(e.counts.get("failed", 0) for e in live)
        states = ", ".join(f"{e.file}: {e.status}" for e in live if e.status not in TERMINAL)
        return (
            f"batch: {done}/{len(live)} batches ended, {completed}/{total} requests completed, "
            f"{failed} failed" + (f" ({states})" if states else "")
        )

    async def _download(self, file_id: str | None, name: str) -> list[bytes]:
        if not file_id:
            return []
        path = self.state.directory / name
        if not path.exists():
            response = await self.client.files.content(file_id)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(response.content)
            os.replace(tmp, path)
        return path.read_bytes().splitlines()

    async def _collect(self, entry: Entry) -> None:
        stem = entry.file.removeprefix("requests-").removesuffix(".jsonl")
        lines = await self._download(entry.output_file_id, f"output-{stem}.jsonl")
        lines += await self._download(entry.error_file_id, f"errors-{stem}.jsonl")
        answered: list[tuple[str, bytes]] = []
        rejected: dict[str, str] = {}
        for key, body, why in read_results(lines):
            if body is not None:
                answered.append((key, body))
            else:
                rejected[key] = why or "rejected"
        self.store.put_answers(answered)
        done = {k for k, _ in answered}
        unfinished = f"the batch ended {entry.status} before answering it"
        for key in self.state.keys(entry):
            if key not in done and key not in rejected:
                rejected[key] = unfinished
        if entry.status == "cancelled":
            retry: dict[str, str] = {}
            self.store.put_failures((k, "batch_cancelled", why) for k, why in rejected.items())
        elif self.live_fallback:
            retry = {}
            if rejected:
                self.notify(f"batch: {len(rejected)} requests of {entry.file} go live")
        elif entry.round < self.config.scale.batch_retries:
            retry = rejected
        else:
            retry = {}
            self.store.put_failures(
                (k, "batch_failed", f"{why} (after {entry.round + 1} batches)")
                for k, why in rejected.items()
            )
        if retry and not any(e.parent == entry.file for e in self.state.entries):
            self._write_retry(entry, retry)
            self.notify(f"batch: {len(retry)} requests of {entry.file} go to a retry batch")
        entry.processed = True
        self.state.save()

    def _write_retry(self, entry: Entry, retry: dict[str, str]) -> None:
        writer = _ChunkWriter(self.state, round_=entry.round + 1, parent=entry.file)
        with open(self.state.directory / entry.file, "rb") as fh:
            for line in fh:
                if _custom_id(line) in retry:
                    writer(line)
        writer.close()


def settings_of(pipeline: Pipeline) -> dict[str, Any]:
    """What makes a state belong to a run: the keys' ingredients, never the API key."""
    model = pipeline.config.model
    return {
        "model": model.model,
        "endpoint": pipeline.endpoint,
        "mode": model.mode,
        "temperature": model.temperature,
        "max_tokens": model.max_tokens,
        "prompt_version": pipeline.prompt.version,
    }


def load_results_file(path: str, store: AnswerStore, *, live_fallback: bool) -> tuple[int, int]:
    """An offline results file (`vllm run-batch`, OpenAI's output) into the store; its
    rejected lines fail, or with `live_fallback` are left to be sent live."""
    answered: list[tuple[str, bytes]] = []
    failed: list[tuple[str, str, str]] = []
    try:
        with open(path, "rb") as fh:
            for key, body, why in read_results(fh):
                if body is not None:
                    answered.append((key, body))
                elif not live_fallback:
                    failed.append((key, "batch_failed", why or "rejected"))
    except (OSError, ValueError) as e:
        raise BatchError(f"cannot read results file {path}: {e}") from None
    store.put_answers(answered)
    store.put_failures(failed)
    return len(answered), len(failed)
