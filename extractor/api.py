"""The library API: `extractor run` from Python, with the same behaviour and no click inside.

    from extractor import Extractor

    with Extractor(model="gpt-4o-mini") as ex:           # OPENAI_API_KEY from the environment
        record = ex.extract("Title", "Abstract ...")     # one record, as a dict (CONTRACT.md)
        for record in ex.run(papers):                    # dicts, (title, abstract) pairs,
            ...                                          # a DataFrame, a HF dataset: in order

Every call goes through the CLI's own `Pipeline` (same cache, retries, grounding, errors and
accounting). The async work runs on one event loop in a thread the `Extractor` owns, so the
sync methods work in a notebook whose own loop is already running, and one async client (and,
for `local:` models, one embedded server) serves every call until `close()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from extractor.config import (
    DEFAULT_LABELS,
    DEFAULT_LOCAL_MODEL,
    LOCAL_TIMEOUT,
    MODES,
    ModelConfig,
    RunConfig,
    default_cache_dir,
)
from extractor.core.labels import LabelPolicy
from extractor.core.paper import Paper
from extractor.core.schema import RESULT_MODES
from extractor.errors import ConfigError, ExtractionError
from extractor.model.call import FatalError, LazyCall
from extractor.pipeline import compose
from extractor.pipeline.progress import Counters, Progress
from extractor.pipeline.prompt import VARIANTS
from extractor.pipeline.read import ReadStats, distinct, paper_from_fields

if TYPE_CHECKING:
    from extractor.model.ratelimit import RateLimiter

log = logging.getLogger("extractor")

T = TypeVar("T")
OnError = Literal["yield", "skip", "raise"]
PaperLike = Paper | Mapping[str, Any] | tuple[str, str]
API_SOURCE = "<input>"  # `source.path` of papers given as Python objects


@dataclass
class Stats:
    """What an `Extractor` has done so far, all calls together."""

    papers: int = 0  # distinct papers finished (records + failed)
    records: int = 0
    failed: int = 0
    cached: int = 0
    duplicates: int = 0  # papers given again (same id) in one `run`, skipped
    skipped: int = 0  # papers without an abstract, skipped
    input_tokens: int = 0  # what the answers cost when obtained (cached ones included)
    output_tokens: int = 0
    spent_input_tokens: int = 0  # what this process paid for
    spent_output_tokens: int = 0


def build_config(
    inputs: Iterable[str] = (),
    *,
    output: str | None = None,
    errors: str | None = None,
    input_format: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int | None = None,
    cache_dir: str | Path | None = None,
    no_cache: bool = False,
    cache_only: bool = False,
    limit: int | None = None,
    mode: str | None = None,
    prompt: str | None = None,
    results: str | None = None,
    labels: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    reasks: int | None = None,
    keep_ungrounded: bool = False,
    quiet: bool = False,
    env: Mapping[str, str] | None = None,
    notice: Callable[[str], None] | None = None,
) -> RunConfig:
    """A `RunConfig` from arguments named like `extractor run`'s options: the one place
    where the defaults of a run are resolved (the CLI's `run` and `check` call it too).

    What is not given comes from the same environment variables as the CLI's
    (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `EXTRACTOR_MODEL`, `EXTRACTOR_CONCURRENCY`,
    `EXTRACTOR_CACHE_DIR`, `EXTRACTOR_MODE`, `EXTRACTOR_RESULTS`, `EXTRACTOR_LABELS`), then
    the same defaults: with no key and no URL, the embedded local model (`notice` is told),
    whose prompt is `compact`, whose results are `rule` and whose timeout is
    `LOCAL_TIMEOUT`. Raises `ConfigError`.
    """
    env = os.environ if env is None else env
    api_key = api_key or env.get("OPENAI_API_KEY") or None
    base_url = base_url or env.get("OPENAI_BASE_URL") or None
    model = model or env.get("EXTRACTOR_MODEL") or None
    if cache_only and no_cache:
        raise ConfigError("cache_only and no_cache exclude each other")
    labels = labels or env.get("EXTRACTOR_LABELS") or DEFAULT_LABELS
    try:
        LabelPolicy.parse(labels)
    except ValueError as e:
        raise ConfigError(f"labels: {e}") from None
    mode = mode or env.get("EXTRACTOR_MODE") or ModelConfig.mode
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    results = results or env.get("EXTRACTOR_RESULTS") or None
    if results is not None and results not in RESULT_MODES:
        raise ConfigError(
            f"unknown results mode {results!r} (choose from {', '.join(RESULT_MODES)})"
        )
    if prompt is not None and prompt not in VARIANTS:
        raise ConfigError(f"unknown prompt variant {prompt!r} (choose from {', '.join(VARIANTS)})")
    if model is None and api_key is None and base_url is None:
        model = DEFAULT_LOCAL_MODEL
        if notice is not None:
            notice(f"no OPENAI_API_KEY and no --base-url: using the embedded local model ({model})")
    model = model or ModelConfig.model
    local = model.startswith("local:")
    if not local and api_key is None and base_url is None:
        raise ConfigError(
            f"model {model!r} needs OPENAI_API_KEY or --base-url (or use a local:NAME model)"
        )
    if concurrency is None:
        concurrency = int(env.get("EXTRACTOR_CONCURRENCY") or RunConfig.concurrency)
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    if cache_dir is None:
        cache_dir = env.get("EXTRACTOR_CACHE_DIR") or default_cache_dir()
    return RunConfig(
        inputs=list(inputs),
        output=output,
        errors=errors,
        input_format=input_format,
        concurrency=concurrency,
        limit=limit,
        use_cache=not no_cache,
        cache_only=cache_only,
        cache_dir=Path(cache_dir),
        keep_ungrounded=keep_ungrounded,
        quiet=quiet,
        labels=labels,
        model=ModelConfig(
            model=model,
            base_url=None if local else base_url,
            api_key=None if local else api_key,
            mode=mode,
            temperature=ModelConfig.temperature if temperature is None else temperature,
            max_tokens=max_tokens or ModelConfig.max_tokens,
            timeout=timeout or (LOCAL_TIMEOUT if local else ModelConfig.timeout),
            max_retries=ModelConfig.max_retries if retries is None else retries,
            max_reasks=ModelConfig.max_reasks if reasks is None else reasks,
            prompt_variant=prompt or ("compact" if local else "full"),
            results=results or ("rule" if local else "anchored"),
        ),
    )


def as_paper(item: PaperLike, line: int, source: str = API_SOURCE) -> Paper | None:
    """A paper from what Python code holds: a `Paper`, a mapping with `title` and `abstract`
    (optional `id`, `url`), or a `(title, abstract)` pair. None when it has no abstract.
    Ids, whitespace and the rest are exactly what reading the same JSONL line gives."""
    if isinstance(item, Paper):
        return item
    if isinstance(item, tuple):
        title, abstract = item
        item = {"title": title, "abstract": abstract}
    if not isinstance(item, Mapping):
        raise TypeError(
            f"a paper is a mapping with 'title' and 'abstract', a (title, abstract) pair or "
            f"a Paper, not {type(item).__name__}"
        )
    return paper_from_fields(dict(item), source, line, lambda m: log.warning("%s", m))


def _rows(papers: Any) -> Iterable[Any]:
    """Rows of a pandas DataFrame or a pyarrow Table, as dicts; anything else as it is."""
    if hasattr(papers, "columns") and hasattr(papers, "to_dict"):  # pandas
        return (row for row in papers.to_dict("records"))
    if hasattr(papers, "to_batches") and hasattr(papers, "schema"):  # pyarrow
        return (row for batch in papers.to_batches() for row in batch.to_pylist())
    return papers  # type: ignore[no-any-return]


async def _anext(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()  # a coroutine, which run_coroutine_threadsafe requires


class _Loop:
    """An event loop in a daemon thread: the home of every client and task of one Extractor."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="extractor-loop", daemon=True
        )
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


_HIGH_WATER = 256  # records a slow reader may leave waiting before the run holds back


class Extractor:
    """Extract records from papers, as `extractor run` does, from Python.

    Build it from a `RunConfig` (`Extractor(config)`), or from keyword arguments named like
    the options of `extractor run` (see `build_config`): `model`, `base_url`, `api_key`,
    `concurrency`, `cache_dir`, `no_cache`, `cache_only`, `limit`, `mode`, `prompt`,
    `results`, `labels`, `temperature`, `max_tokens`, `timeout`, `retries`, `reasks`,
    `keep_ungrounded`. `progress=True` draws the CLI's bar on a terminal's stderr.

    Its parts come from the composition root (`extractor.pipeline.compose`), as the CLI's do: for a
    remote endpoint its client goes through a rate limiter (`limiter`: `config.scale.rpm` and
    `tpm`, and the limits the endpoint's headers tell), shared by all its calls.

    Use it as a context manager, or call `close()`: that stops its client, its local server
    if any, and closes the response cache.
    """

    def __init__(
        self, config: RunConfig | None = None, /, *, progress: bool = False, **options: Any
    ):
        if config is not None and options:
            raise TypeError("give a RunConfig or keyword options, not both")
        self.config = compose.effective(config or build_config(**options))
        self.stats = Stats()
        self._progress = progress
        self._lock = threading.Lock()
        self._loop: _Loop | None = None
        self._stack = contextlib.ExitStack()
        self._call: LazyCall | None = None
        self._cache: Any = None
        self._endpoint: str | None = None
        self.limiter: RateLimiter | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False
        # Closed with the interpreter if the caller never closes it (a notebook).
        self._finalizer = weakref.finalize(self, Extractor._shutdown, self._stack, [None])

    # -- set-up, on first use ------------------------------------------------------------------

    def _started(self) -> _Loop:
        with self._lock:
            if self._closed:
                raise RuntimeError("this Extractor is closed")
            if self._loop is None:
                # Resolved before anything is sent: a missing local model file is an error here.
                self._endpoint = compose.endpoint_identity(self.config)
                self._cache = compose.open_cache(self.config)
                if self._cache is not None:
                    self._stack.callback(self._cache.close)
                notice = lambda m: log.warning("%s", m)  # noqa: E731
                # One pace for every call of this Extractor (a Ray actor's, too): a remote
                # endpoint's --rpm/--tpm and the limits its headers tell.
                self.limiter = compose.limiter(self.config)
                self._call = compose.lazy_call(
                    self.config, self._stack, pace=self.limiter, notice=notice
                )
                self._loop = _Loop()
                self._finalizer.detach()
                self._finalizer = weakref.finalize(
                    self, Extractor._shutdown, self._stack, [self._loop, self._call]
                )
            return self._loop

    @staticmethod
    def _shutdown(stack: contextlib.ExitStack, parts: list[Any]) -> None:
        loop = parts[0] if parts else None
        call = parts[1] if len(parts) > 1 else None
        if isinstance(loop, _Loop):
            client = getattr(getattr(call, "_call", None), "client", None)
            if client is not None:
                with contextlib.suppress(Exception):
                    loop.submit(client.close()).result(timeout=10)
            loop.stop()
        stack.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._finalizer()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one paper ---------------------------------------------------------------------------

    def extract(
        self,
        title: str,
        abstract: str,
        *,
        id: str | None = None,
        url: str | None = None,
        raise_errors: bool = True,
    ) -> dict[str, Any]:
        """One record (a dict of the output's form). A paper that fails raises
        `ExtractionError` (its error record in `.record`), or with `raise_errors=False` is
        returned as its error record, which has an `error` key and no `extraction`."""
        loop = self._started()
        return loop.submit(self._one(title, abstract, id, url, raise_errors)).result()

    async def aextract(
        self,
        title: str,
        abstract: str,
        *,
        id: str | None = None,
        url: str | None = None,
        raise_errors: bool = True,
    ) -> dict[str, Any]:
        """`extract` for async code: many may be awaited at once (`asyncio.gather`); the
        requests in flight stay within `concurrency`, all calls together."""
        loop = self._started()
        return await asyncio.wrap_future(
            loop.submit(self._one(title, abstract, id, url, raise_errors))
        )

    async def _one(
        self, title: str, abstract: str, id_: str | None, url: str | None, raise_errors: bool
    ) -> dict[str, Any]:
        row: dict[str, Any] = {"title": title, "abstract": abstract, "id": id_, "url": url}
        paper = as_paper(row, 1)
        if paper is None:
            raise ValueError("a paper needs a non-empty abstract")
        result: dict[str, Any] | None = None
        async for outcome in self._records([paper], use_limit=False):
            result = outcome
        if result is None:  # pragma: no cover - the pipeline yields one outcome per paper
            raise RuntimeError("no outcome for the paper")
        if raise_errors and "error" in result:
            raise ExtractionError(result)
        return result

    # -- many papers -------------------------------------------------------------------------

    def run(
        self, papers: Iterable[PaperLike] | Any, *, on_error: OnError = "yield"
    ) -> Iterator[dict[str, Any]]:
        """Records in input order, as they finish (each only when those before it are done).

        `papers`: mappings with `title` and `abstract` (optional `id`, `url`), `(title,
        abstract)` pairs, `Paper`s, a pandas DataFrame, a pyarrow Table or a Hugging Face
        dataset. As with the CLI, a paper given twice (same id) is extracted once, one
        without an abstract is skipped with a logged warning, and `limit` applies.
        `on_error`: `yield` a failed paper's error record in its place (it has an `error`
        key), `skip` it, or `raise` `ExtractionError`. A configuration error that would fail
        every paper (a rejected key, an unreachable endpoint) raises `FatalError`.
        """
        loop = self._started()
        agen = self._filtered(papers, on_error)
        try:
            while True:
                try:
                    yield loop.submit(_anext(agen)).result()
                except StopAsyncIteration:
                    return
        finally:
            if not loop.loop.is_closed():
                loop.submit(agen.aclose()).result()

    async def arun(
        self, papers: Iterable[PaperLike] | Any, *, on_error: OnError = "yield"
    ) -> AsyncIterator[dict[str, Any]]:
        """`run` for async code."""
        loop = self._started()
        agen = self._filtered(papers, on_error)
        try:
            while True:
                try:
                    yield await asyncio.wrap_future(loop.submit(_anext(agen)))
                except StopAsyncIteration:
                    return
        finally:
            if not loop.loop.is_closed():
                await asyncio.wrap_future(loop.submit(agen.aclose()))

    async def _filtered(
        self, papers: Any, on_error: OnError
    ) -> AsyncGenerator[dict[str, Any], None]:
        if on_error not in ("yield", "skip", "raise"):
            raise ValueError("on_error is one of yield, skip, raise")
        async for result in self._records(self._papers(_rows(papers))):
            if "error" in result:
                if on_error == "raise":
                    raise ExtractionError(result)
                if on_error == "skip":
                    continue
            yield result

    def _papers(self, items: Iterable[Any]) -> Iterator[Paper]:
        # A paper given twice is extracted once; another paper under the same id becomes an
        # input error record, as in a run over files (read.distinct).
        stats = ReadStats()
        for n, item in enumerate(items, 1):
            paper = as_paper(item, n)
            if paper is None:
                self.stats.skipped += 1
                continue
            kept = distinct(paper, stats)
            if kept is None:
                self.stats.duplicates += 1
                continue
            yield kept

    # -- the engine: the CLI's pipeline, its writer replaced by a queue ----------------------

    async def _records(
        self, papers: Iterable[Paper], *, use_limit: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """Every outcome (record or error record), in input order, on the Extractor's loop."""
        assert self._call is not None
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.concurrency)
        config = self.config if use_limit else dataclasses.replace(self.config, limit=None)
        pipeline = compose.pipeline(
            config, self._call, self._cache, endpoint=self._endpoint, slots=self._slots
        )
        buffer: deque[dict[str, Any]] = deque()
        more = asyncio.Event()
        room = asyncio.Event()
        room.set()

        class _Queue:
            def write(self, obj: dict[str, Any]) -> None:
                buffer.append(obj)
                more.set()

        async def ready() -> None:
            if len(buffer) >= _HIGH_WATER:
                room.clear()
                await room.wait()

        sink = _Queue()
        counters = Counters()
        progress = Progress(counters, total=None, enabled=self._progress)
        task = asyncio.ensure_future(pipeline.run(papers, sink, sink, progress, ready=ready))
        task.add_done_callback(lambda _t: more.set())
        try:
            while True:
                while buffer:
                    item = buffer.popleft()
                    if len(buffer) < _HIGH_WATER // 2:
                        room.set()
                    yield item
                if task.done():
                    if not buffer:
                        task.result()  # raises FatalError, or a reader's error
                        return
                    continue
                more.clear()
                await more.wait()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            progress.finish()
            self._account(counters, pipeline)

    def _account(self, c: Counters, pipeline: Any) -> None:
        s = self.stats
        s.papers += c.done
        s.failed += c.failed
        s.records += c.done - c.failed
        s.cached += c.cached
        s.input_tokens += c.input_tokens
        s.output_tokens += c.output_tokens
        if pipeline.summary is not None:
            s.spent_input_tokens += pipeline.summary.spent_input_tokens
            s.spent_output_tokens += pipeline.summary.spent_output_tokens


__all__ = [
    "ConfigError",
    "ExtractionError",
    "Extractor",
    "FatalError",
    "Stats",
    "as_paper",
    "build_config",
]
