"""A run over files, for the CLI's `extractor run` and the library's `extractor.run`: inputs
in, OUT (JSONL) and its errors file out, both committed atomically when the run ends.

    import extractor
    settings = extractor.build_config(["papers.jsonl"], output="out.jsonl")
    result = extractor.run(settings)        # result.status: 0, 3 some failed, 2, 130

One code path for both: `extractor run` resolves its options into a `RunConfig` and calls
`execute`; messages (warnings, the summary, why a run stopped) go to `say`, which the CLI
and, by default, `extractor.run` write to stderr. The parts (call, cache, endpoint identity,
price, rate limiter, pipeline) come from the composition root, `extractor.pipeline.compose`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractor.config import RunConfig
from extractor.errors import ExitStatus
from extractor.logs import redact_urls
from extractor.pipeline import compose
from extractor.pipeline.progress import Progress

if TYPE_CHECKING:
    from extractor.model.ratelimit import RateLimiter
    from extractor.pipeline.window import Summary

# The exit status of a run: all extracted; usage or configuration error; some failed (see
# the errors file); interrupted (run again to resume from the cache).
# The statuses a run ends with: the one table's (extractor.errors), by the names runs use.
EXIT_OK, EXIT_USAGE = ExitStatus.OK, ExitStatus.USAGE
EXIT_PARTIAL, EXIT_INTERRUPTED = ExitStatus.PARTIAL, ExitStatus.INTERRUPTED

Say = Callable[[str], None]


def stderr(message: str) -> None:
    """One line on stderr, as `extractor: ...`; a base URL's user info or query token is
    never shown, whichever message carries it."""
    print(f"extractor: {redact_urls(message)}", file=sys.stderr, flush=True)


@dataclass
class RunResult:
    """What `extractor.run` came to: the CLI's exit status, and the run's summary (None when
    it stopped, or only priced or wrote request lines: --dry-run, --batch-file)."""

    status: int
    summary: Summary | None = None

    @property
    def ok(self) -> bool:
        return self.status == EXIT_OK


def run(settings: RunConfig, *, say: Say | None = None) -> RunResult:
    """Run `settings` (inputs, output, errors file, model...: see `build_config`) exactly as
    `extractor run` does: OUT and the errors file replaced only by a run that finished,
    resumable from the cache after an interrupt. `say` receives each message the CLI prints
    (default: stderr); `settings.quiet` leaves only the errors."""
    return _locked(settings, say or stderr)


def execute(config: RunConfig, say: Say = stderr) -> int:
    """`extractor run`'s exit status for `config`."""
    return _locked(config, say).status


def _locked(config: RunConfig, say: Say) -> RunResult:
    from extractor.pipeline.files import Locks

    with Locks() as locks:  # released, and their files removed, however the run ends
        return _execute(config, locks, say)


def batch_problem(config: RunConfig, *, engine: str = "local") -> str | None:
    """Why the batch options (`--batch`, `--batch-file`, `--batch-results`) cannot work with
    these settings; None when they can, or none is given."""
    scale = config.scale
    if not (scale.batch or scale.batch_results or scale.batch_file):
        return None
    if compose.is_local(config):
        return "batch mode needs an OpenAI-compatible endpoint, not local:"
    if "-" in config.inputs:
        return "batch mode reads its input twice: stdin (-) cannot be used"
    if config.cache_only or not config.use_cache:
        return "batch mode keeps its answers in the cache: drop --cache-only/--no-cache"
    if engine != "local":
        return "batch mode runs with --engine local"
    if scale.batch and (config.output is None or config.output == "-"):
        return "--batch keeps its state beside the output: give -o OUT.jsonl"
    return None


def claim_outputs(config: RunConfig, locks: Any, say: Say) -> bool:
    """Before anything is sent: no file is named for two roles (an input as the output, the
    output as the errors file, the response cache as either), every file to be written can
    be (its folder exists and takes a new file), and no other run writes it (a lock beside
    it, held until the run ends). False, with the reason said, when one cannot be."""
    from extractor.pipeline.files import OutputError, prepare, refuse_same

    scale = config.scale
    if scale.dry_run:
        return True  # writes nothing
    inputs = [*config.inputs, *(p for p in (scale.prices_file, scale.batch_results) if p)]
    if scale.batch_file:
        writes: list[tuple[str, str | None]] = [("--batch-file", str(scale.batch_file))]
    else:
        writes = [("output", config.output), ("errors file", config.errors_path)]
    cache = [("cache directory", str(config.cache_dir))] if config.use_cache else []
    try:
        refuse_same([*writes, *cache], inputs)
    except OutputError as e:
        say(str(e))
        return False
    for role, path in writes:
        if path is None or path == "-":
            continue
        try:
            if cache:
                _refuse_inside_cache(path, role, config.cache_dir)
            locks.acquire(prepare(path))
        except OutputError as e:
            # The default errors file is in the working folder, which the user did not name.
            hint = (
                "; give -e ERR.jsonl elsewhere"
                if role == "errors file" and not config.errors
                else ""
            )
            say(f"{e}{hint}")
            return False
    return True


def _refuse_inside_cache(path: str, role: str, cache_dir: Path) -> None:
    """The cache's own files (its database, the files of large values in its subfolders)."""
    from extractor.pipeline.files import OutputError

    real, cache = Path(os.path.realpath(path)), Path(os.path.realpath(cache_dir))
    if (real.parent == cache and real.name.startswith("cache.db")) or cache in real.parents[1:]:
        raise OutputError(f"{path}: the {role} would overwrite the response cache in {cache_dir}")


def _execute(config: RunConfig, locks: Any, say: Say) -> RunResult:
    from extractor.pipeline import aio

    aio.tune_gc()
    from extractor.model.call import FatalError
    from extractor.pipeline.files import OutputError
    from extractor.pipeline.progress import Counters
    from extractor.pipeline.read import InputError, ReadStats, read_inputs
    from extractor.pipeline.write import JsonlWriter

    local = compose.is_local(config)
    # Only a local model's run imports the embedded model's package (its fetcher's HTTP
    # client alone is a tenth of a second of start-up).
    local_errors: tuple[type[Exception], ...] = ()
    if local:
        from extractor.model.local.errors import LocalModelError

        local_errors = (LocalModelError,)
    config = compose.effective(config)
    problem = batch_problem(config)  # checked by the CLI already; not by a library caller
    if problem is not None:
        say(problem)
        return RunResult(EXIT_USAGE)
    warn = (lambda _m: None) if config.quiet else (lambda m: say(f"warning: {m}"))
    stats = ReadStats()
    try:
        # Opening checks every input, so bad paths fail before a server starts or a request is paid.
        papers = read_inputs(
            config.inputs, config.input_format, warn, stats, encoding=config.encoding
        )
        first = next(papers, None)
    except InputError as e:
        say(str(e))
        return RunResult(EXIT_USAGE)
    if first is None:
        say("no papers found in the input")
        return RunResult(EXIT_USAGE)
    if not claim_outputs(config, locks, say):
        return RunResult(EXIT_USAGE)

    try:  # who answers, for the cache key: the base URL (None), or the local model file
        endpoint = compose.endpoint_identity(config)
    except local_errors as e:
        say(str(e))
        return RunResult(EXIT_USAGE)

    from extractor.pipeline.pricing import PriceError

    scale = config.scale
    try:
        price = compose.price(config)
    except PriceError as e:
        say(str(e))
        return RunResult(EXIT_USAGE)
    if scale.max_cost is not None and price is None:
        say(
            f"--max-cost needs a price for {config.model.model!r}: give --price-in and "
            "--price-out, or --prices FILE"
        )
        return RunResult(EXIT_USAGE)
    if scale.dry_run or scale.batch_file:
        chained = itertools.chain([first], papers)
        return RunResult(_prepare_only(config, chained, endpoint, price, say))

    counters = Counters()
    progress = Progress(counters, total=config.limit, enabled=not config.quiet)
    if progress.enabled and "-" not in config.inputs:
        _count_in_background(config, progress)
    cache = compose.open_cache(config)
    # The outputs are written to temporary files beside them (see `extractor.pipeline.files`) and
    # renamed over them at the end, never opened with "w" up front. Truncating OUT when the
    # first record arrives would destroy it whenever the run then dies (a quota error after
    # ten records, a full disk, Ctrl-C), and the old file may hold records nothing else has
    # (an earlier --no-cache run, another cache directory). So OUT is replaced only by a run
    # that finished (0 or 3: it is then exactly this run's records); an interrupted one (130)
    # replaces it only where nothing is lost (no OUT yet) and otherwise leaves its records
    # beside it; a usage or configuration error (2) leaves OUT byte for byte as it was.
    out = JsonlWriter(config.output, atomic=True)
    errors = JsonlWriter(config.errors_path, atomic=True)
    summary = None
    status = EXIT_OK
    limiter = compose.limiter(config)
    notice = None if config.quiet else (lambda m: say(f"warning: {m}"))
    from extractor.model.call import BatchError

    stops: tuple[type[Exception], ...] = (FatalError, InputError, BatchError, *local_errors)
    try:
        with contextlib.ExitStack() as stack:
            call = compose.lazy_call(config, stack, pace=limiter, notice=notice)
            pipeline = compose.pipeline(config, call, cache, endpoint=endpoint, pay=price)
            if scale.batch or scale.batch_results:
                batch = _batch_run(config, pipeline, out, errors, progress, stats, warn, say)
                summary = aio.run(batch)
            else:
                summary = aio.run(
                    pipeline.run(itertools.chain([first], papers), out, errors, progress)
                )
    except stops as e:
        progress.finish()
        out.discard()
        errors.discard()
        say(_stopped(e, config))
        status = EXIT_USAGE
    except KeyboardInterrupt:
        progress.finish()
        say(_interrupted(out, errors, config))
        status = EXIT_INTERRUPTED
    except BaseException:
        # A crash (a bug): OUT stays as it was, what was written in the temporary files.
        for kept in (out.abandon(), errors.abandon()):
            if kept is not None:
                say(f"crashed: what was written before is in {kept}")
        raise
    finally:
        if cache is not None:
            cache.close()
    if summary is None:
        return RunResult(status)
    progress.finish()
    try:
        if not errors.count:
            errors.discard()
        # Both flushed first (a full disk shows there), then both renamed.
        out.close()
        errors.close()
        out.commit(empty=True)
        if errors.count:
            errors.commit()
    except OutputError as e:
        out.discard()
        errors.discard()
        say(_stopped(e, config))
        return RunResult(EXIT_USAGE)
    if not errors.count:  # an errors file from an earlier run no longer describes anything
        _remove_stale_errors(config, warn)
    if not config.quiet:
        line = _summary_line(summary, stats.duplicates, stats.skipped, config, errors.count)
        say(line + _scale_summary(summary, limiter))
    if summary.not_sent:
        say(
            f"stopped at --max-cost {scale.max_cost:g}: {summary.not_sent} records not sent "
            "(in the errors file); run the same command again, with a higher --max-cost, to go on"
        )
    return RunResult(EXIT_PARTIAL if summary.failed else EXIT_OK, summary)


def _stopped(error: Exception, config: RunConfig) -> str:
    """A stop's one line; a file that could not be written says what was kept."""
    from extractor.pipeline.files import OutputError

    if not isinstance(error, OutputError):
        return str(error)
    written = [p for p in (config.output, config.errors_path) if p and p != "-"]
    kept = f"{' and '.join(written)} as they were" if written else "nothing written"
    if config.use_cache:
        return (
            f"{error} ({kept}); the answers obtained are cached: run again once it can be written"
        )
    return f"{error} ({kept}; --no-cache: the answers obtained are lost)"


def _interrupted(out: Any, errors: Any, config: RunConfig) -> str:
    records = out.count
    where = out.keep()
    failed = errors.keep()
    line = f"interrupted: {records} records written"
    if where is not None and where != config.output and config.output not in (None, "-"):
        line += f" to {where} ({config.output}, the previous output, is as it was)"
    elif where is not None and config.output not in (None, "-"):
        line += f" to {where}"
    if failed is not None:
        line += f"; {errors.count} failures in {failed}"
    return line + "; run the same command again to resume"


def _remove_stale_errors(config: RunConfig, warn: Callable[[str], None]) -> None:
    from extractor.pipeline.files import OutputError
    from extractor.pipeline.write import remove_stale

    path = config.errors_path
    try:
        if remove_stale(path):
            return
    except (OSError, OutputError):
        pass  # a stale file the run cannot remove is no reason to fail a finished run
    with contextlib.suppress(OSError):
        if os.path.getsize(path):
            warn(f"{path} left as it was: no failures, and it is not an errors file of extractor")


def _scale_summary(summary: Summary, limiter: RateLimiter | None) -> str:
    from extractor.pipeline.pricing import dollars

    parts = []
    if summary.spent_cost is not None:
        parts.append(f"cost {dollars(summary.spent_cost)}")
    if limiter is not None and limiter.stats.throttled:
        parts.append(f"{limiter.stats.throttled} requests answered 429")
    return "".join(f"; {p}" for p in parts)


def _prepare_only(
    config: RunConfig, papers: Any, endpoint: str | None, price: Any, say: Say
) -> int:
    """--dry-run and --batch-file: read, key and price every record; send nothing."""
    from extractor.model.call import LazyCall
    from extractor.pipeline.batch import BatchError, dry_run, write_requests
    from extractor.pipeline.files import OutputError, replacing

    cache = compose.open_cache(config)
    try:
        call = LazyCall(lambda: None)  # type: ignore[arg-type,return-value]  # never called
        pipeline = compose.pipeline(config, call, cache, endpoint=endpoint, pay=price)
        if config.scale.dry_run:
            say(dry_run(pipeline, papers, price, batch=config.scale.batch))
            return EXIT_OK
        path = str(config.scale.batch_file)
        with replacing(path, binary=True) as fh:
            bodies = compose.request_bodies(config.model)
            pending = asyncio.run(write_requests(pipeline, papers, bodies, fh.write))
        say(
            f"{pending.new} request lines written to {path} ({pending.cached} cached, "
            f"{pending.over_budget} left out by --max-cost, "
            f"~{pending.prompt_tokens:,} prompt tokens); run them (OpenAI Batch API, "
            "vllm run-batch), then `extractor run ... --batch-results RESULTS.jsonl`"
        )
        return EXIT_OK
    except (BatchError, OutputError) as e:
        say(str(e))
        return EXIT_USAGE
    finally:
        if cache is not None:
            cache.close()


async def _batch_run(
    config: RunConfig,
    pipeline: Any,
    out: Any,
    errors: Any,
    progress: Any,
    stats: Any,
    warn: Callable[[str], None],
    say: Say,
) -> Any:
    """Batch mode: obtain the answers (Batch API or a results file), then the ordinary run
    over the input again, which validates, grounds and writes them in input order."""
    from extractor.pipeline.batch import (
        AnswerStore,
        BatchRunner,
        State,
        load_results_file,
        settings_of,
        state_dir,
    )
    from extractor.pipeline.read import ReadStats, read_inputs

    scale = config.scale
    notify = (lambda _m: None) if config.quiet else say
    live = scale.batch_fallback == "live"
    if scale.batch_results:
        import tempfile

        directory = Path(tempfile.mkdtemp(prefix="extractor-results-"))
        strict = None if live else f"no answer in {scale.batch_results}"
        store = AnswerStore(directory / "answers.sqlite", strict=strict)
        answered, failed = load_results_file(scale.batch_results, store, live_fallback=live)
        notify(f"batch: {answered} answers and {failed} failed lines in {scale.batch_results}")
    else:
        directory = state_dir(str(config.output))
        state = State.open(directory, settings_of(pipeline))
        strict = None if live else "no answer from the Batch API"
        store = AnswerStore(directory / "answers.sqlite", strict=strict)
        client = compose.batch_client(config.model.api_key, config.model.base_url)
        papers = read_inputs(
            config.inputs,
            config.input_format,
            lambda _m: None,
            ReadStats(),
            encoding=config.encoding,
        )
        bodies = compose.request_bodies(config.model)
        await BatchRunner(config, client, state, store, notify, bodies).run(pipeline, papers)
    pipeline.answers = store
    try:
        # The final pass counts and warns, as a live run's only pass does.
        stats.__dict__.update(ReadStats().__dict__)
        papers = read_inputs(
            config.inputs, config.input_format, warn, stats, encoding=config.encoding
        )
        return await pipeline.run(papers, out, errors, progress)
    finally:
        store.close()


def _count_in_background(config: RunConfig, progress: Progress) -> None:
    """The bar's total (for the ETA) comes from a second, cheap pass over the inputs in a
    thread, so the first requests go out at once instead of after a count of a huge file."""
    from extractor.pipeline.read import ReadStats, read_inputs

    def count() -> None:
        stats = ReadStats()
        try:
            for _ in read_inputs(
                config.inputs, config.input_format, lambda _m: None, stats, encoding=config.encoding
            ):
                pass
        except Exception:  # the run itself reports bad input; the bar just goes without a total
            return
        total = stats.read
        progress.total = min(total, config.limit) if config.limit is not None else total

    threading.Thread(target=count, name="extractor-count", daemon=True).start()


def _summary_line(
    summary: Summary, duplicates: int, skipped: int, config: RunConfig, failed: int
) -> str:
    c = summary.counters
    parts = [
        f"{summary.written} records ({c.cached} cached, {failed} failed) in {c.elapsed:.2f}s",
        f"tokens spent {summary.spent_input_tokens} in / {summary.spent_output_tokens} out",
    ]
    if duplicates:
        parts.append(f"{duplicates} duplicate papers skipped")
    if skipped:
        parts.append(f"{skipped} unreadable input records skipped (see the warnings above)")
    dest = config.output or "stdout"
    if failed:
        parts.append(f"failures in {config.errors_path}")
    return "; ".join(parts) + f" -> {dest}"
