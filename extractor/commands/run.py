"""`extractor run`: abstracts in, grounded and cached JSONL out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from extractor.call import ModelCall
from extractor.commands.encoding_option import encoding_option
from extractor.commands.exit import fail, say
from extractor.commands.scale_options import FiniteFloat, scale_config, scale_options
from extractor.config import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_SLOTS,
    LOCAL_TIMEOUT,
    MODES,
    ModelConfig,
    RunConfig,
)
from extractor.core.labels import LabelPolicy
from extractor.core.schema import RESULT_MODES
from extractor.errors import ExitStatus
from extractor.logs import configure as configure_logging
from extractor.progress import Progress
from extractor.prompt import VARIANTS

if TYPE_CHECKING:
    from extractor.pipeline import Summary
    from extractor.ratelimit import RateLimiter

# One line on stderr, URLs redacted; an error's status is fail(error), from extractor.errors.
_err = say


@click.command("run")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", metavar="OUT.jsonl", help="Write records here (default: stdout).")
@click.option(
    "-e", "--errors", metavar="ERR.jsonl", help="Failed records (default: OUT.errors.jsonl)."
)
@click.option(
    "-m",
    "--model",
    envvar="EXTRACTOR_MODEL",
    help="Model name, or local:NAME / local:/path.gguf for the embedded model.  [env: EXTRACTOR_MODEL]",
)
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    help="Any OpenAI-compatible endpoint.  [env: OPENAI_BASE_URL]",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=RunConfig.concurrency,
    show_default=True,
    envvar="EXTRACTOR_CONCURRENCY",
    help=f"Requests in flight (at most {LOCAL_SLOTS} for local models: the embedded server's slots).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="EXTRACTOR_CACHE_DIR",
    help="Response cache directory.  [env: EXTRACTOR_CACHE_DIR]",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option(
    "--cache-only",
    is_flag=True,
    help="Send no request: records come from the cache alone (e.g. to re-ground after an "
    "upgrade or with other --labels); papers not cached go to the errors file.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this process; ray: a Ray Data pipeline (pip install 'extractor[ray]'), "
    "sharded in OUT.ray/, resumable by record id.",
)
@click.option(
    "--actors",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Ray actors (--engine ray).",
)
@click.option("-n", "--limit", type=click.IntRange(0), help="Stop after N distinct papers.")
@click.option(
    "-f",
    "--format",
    "input_format",
    type=click.Choice(["papers", "jsonl", "csv"]),
    help="Input format (default: detected).",
)
@encoding_option
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=ModelConfig.mode,
    show_default=True,
    envvar="EXTRACTOR_MODE",
    help="How the schema is imposed on the model; auto: the first of json_schema, tools, json "
    "that the endpoint supports.",
)
@click.option(
    "--prompt",
    "prompt_variant",
    type=click.Choice(VARIANTS),
    help="Prompt variant (default: full; compact for local models).",
)
@click.option(
    "--results",
    "results_mode",
    type=click.Choice(RESULT_MODES),
    envvar="EXTRACTOR_RESULTS",
    help="anchored: numbers are found by code and the model cites them by id; rule: code "
    "finds and labels them, the model is not asked; free: the model writes values and "
    "evidence.  [default: anchored; rule for local models]  [env: EXTRACTOR_RESULTS]",
)
@click.option(
    "--labels",
    default=RunConfig.labels,
    show_default=True,
    envvar="EXTRACTOR_LABELS",
    help="Who labels mined numbers: rule, model, or select=rule|model|both|either,"
    "delta=rule|model,attrs=rule|model.  [env: EXTRACTOR_LABELS]",
)
@click.option(
    "--temperature", type=FiniteFloat(), default=ModelConfig.temperature, show_default=True
)
@click.option(
    "--max-tokens",
    type=click.IntRange(64),
    default=ModelConfig.max_tokens,
    show_default=True,
    help="Max output tokens per answer.",
)
@click.option(
    "--timeout",
    type=FiniteFloat(1),
    help=f"Seconds per request.  [default: {ModelConfig.timeout:g}; {LOCAL_TIMEOUT:g} for local models]",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=ModelConfig.max_retries,
    show_default=True,
    help="Retries of transport failures (429, 5xx, timeouts).",
)
@click.option(
    "--reasks",
    type=click.IntRange(0, 5),
    default=ModelConfig.max_reasks,
    show_default=True,
    help="Re-asks after invalid output.",
)
@click.option(
    "--keep-ungrounded", is_flag=True, help="Keep items not found in the text, flagged in warnings."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    envvar="EXTRACTOR_VERBOSE",
    help="Show the libraries' own log (instructor, openai, httpx), key redacted.",
)
@scale_options
def run_command(
    inputs: tuple[str, ...], output: str | None, errors: str | None, model: str | None,
    base_url: str | None, concurrency: int, cache_dir: Path | None, no_cache: bool,
    limit: int | None, input_format: str | None, mode: str, prompt_variant: str | None,
    results_mode: str | None, labels: str,
    temperature: float, max_tokens: int, timeout: float | None, retries: int, reasks: int,
    keep_ungrounded: bool, quiet: bool, cache_only: bool, verbose: bool,
    engine: str = "local", actors: int = 2, encoding: str = "utf-8", **scale: Any,
) -> None:  # fmt: skip
    """Extract from INPUT files (papers pages, JSONL or CSV; - for stdin).

    With no OPENAI_API_KEY and no --base-url, the embedded local model is used.
    Exit status: 0 all extracted, 3 some failed (see the errors file), 2 usage or
    configuration error, 130 interrupted (re-run to resume from the cache).
    """
    if inputs.count("-") > 1:
        raise click.UsageError("stdin (-) can be given only once")
    if cache_only and no_cache:
        raise click.UsageError("--cache-only and --no-cache exclude each other")
    try:
        LabelPolicy.parse(labels)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--labels") from None
    api_key = os.environ.get("OPENAI_API_KEY") or None
    configure_logging(verbose=verbose, secret=api_key)
    if model is None and api_key is None and base_url is None:
        model = DEFAULT_LOCAL_MODEL
        if not quiet:
            _err(f"no OPENAI_API_KEY and no --base-url: using the embedded local model ({model})")
    model = model or "gpt-4o-mini"
    local = model.startswith("local:")
    if not local and api_key is None and base_url is None:
        raise click.UsageError(
            f"model {model!r} needs OPENAI_API_KEY or --base-url (or use --model local:NAME)"
        )
    scaling = scale_config(scale)
    if scaling.batch or scaling.batch_results or scaling.batch_file:
        if local:
            raise click.UsageError("batch mode needs an OpenAI-compatible endpoint, not local:")
        if "-" in inputs:
            raise click.UsageError("batch mode reads its input twice: stdin (-) cannot be used")
        if cache_only or no_cache:
            raise click.UsageError(
                "batch mode keeps its answers in the cache: drop --cache-only/--no-cache"
            )
        if engine != "local":
            raise click.UsageError("batch mode runs with --engine local")
    if scaling.batch and (output is None or output == "-"):
        raise click.UsageError("--batch keeps its state beside the output: give -o OUT.jsonl")
    from extractor.api import ConfigError, build_config

    try:  # the library's own settings, so `extractor run` and `Extractor(...)` agree
        config = build_config(
            inputs, output=output, errors=errors, input_format=input_format, model=model,
            base_url=base_url, api_key=api_key, concurrency=concurrency, cache_dir=cache_dir,
            no_cache=no_cache, cache_only=cache_only, limit=limit, mode=mode,
            prompt=prompt_variant, results=results_mode, labels=labels,
            temperature=temperature, max_tokens=max_tokens, timeout=timeout, retries=retries,
            reasks=reasks, keep_ungrounded=keep_ungrounded, quiet=quiet,
        )  # fmt: skip
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    config = dataclasses.replace(config, scale=scaling, encoding=encoding)
    if engine == "ray":
        from extractor.commands.ray_engine import execute_ray
        from extractor.files import Locks

        with Locks() as locks:
            if (refused := _claim_outputs(config, locks)) is not None:
                sys.exit(refused)
            sys.exit(execute_ray(config, actors=actors, batch_size=max(16, 8 * concurrency)))
    sys.exit(execute(config))


def _claim_outputs(config: RunConfig, locks: Any) -> ExitStatus | None:
    """Before anything is sent: no file is named for two roles (an input as the output, the
    output as the errors file, the response cache as either), every file to be written can
    be (its folder exists and takes a new file), and no other run writes it (a lock beside
    it, held until the run ends). When one cannot be, the reason said and the exit status."""
    from extractor.files import OutputError, prepare, refuse_same

    scale = config.scale
    if scale.dry_run:
        return None  # writes nothing
    inputs = [*config.inputs, *(p for p in (scale.prices_file, scale.batch_results) if p)]
    if scale.batch_file:
        writes: list[tuple[str, str | None]] = [("--batch-file", str(scale.batch_file))]
    else:
        writes = [("output", config.output), ("errors file", config.errors_path)]
    cache = [("cache directory", str(config.cache_dir))] if config.use_cache else []
    try:
        refuse_same([*writes, *cache], inputs)
    except OutputError as e:
        return fail(e)
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
            return fail(e, f"{e}{hint}")
    return None


def _refuse_inside_cache(path: str, role: str, cache_dir: Path) -> None:
    """The cache's own files (its database, the files of large values in its subfolders)."""
    from extractor.files import OutputError

    real, cache = Path(os.path.realpath(path)), Path(os.path.realpath(cache_dir))
    if (real.parent == cache and real.name.startswith("cache.db")) or cache in real.parents[1:]:
        raise OutputError(f"{path}: the {role} would overwrite the response cache in {cache_dir}")


def _make_call(
    config: RunConfig, stack: contextlib.ExitStack, limiter: RateLimiter | None = None
) -> Callable[[], ModelCall]:
    """The library's call factory (`extractor.api.make_call`), with notices on stderr; a
    remote endpoint's requests go through the rate limiter and aiohttp's connection pool, and
    its client serves answers a batch already obtained."""
    from extractor.api import make_call

    notice = None if config.quiet else (lambda m: _err(f"warning: {m}"))
    if config.model.model.startswith("local:"):
        return make_call(config, stack, notice=notice)

    def factory() -> ModelCall:
        from extractor.http_client import remote_client
        from extractor.openai_call import OpenAICall

        # offline results (--batch-results) need no server
        stub = config.scale.batch_results is not None
        client = remote_client(config.concurrency, limiter, stub_models=stub)
        return OpenAICall(config.model, http_client=client, notice=notice)

    return factory


def execute(config: RunConfig) -> int:
    from extractor.files import Locks

    with Locks() as locks:  # released, and their files removed, however the run ends
        return _execute(config, locks)


def _execute(config: RunConfig, locks: Any) -> int:
    from extractor import aio

    aio.tune_gc()
    from extractor.cache import ResponseCache
    from extractor.call import FatalError, LazyCall
    from extractor.files import OutputError
    from extractor.pipeline import Pipeline
    from extractor.progress import Counters
    from extractor.prompt import load_prompt
    from extractor.read import InputError, ReadStats, read_inputs
    from extractor.write import JsonlWriter

    local = config.model.model.startswith("local:")
    # Only a local model's run imports the embedded model's package (its fetcher's HTTP
    # client alone is a tenth of a second of start-up).
    local_errors: tuple[type[Exception], ...] = ()
    if local:
        from extractor.local.errors import LocalModelError

        local_errors = (LocalModelError,)
    if local and config.concurrency > LOCAL_SLOTS:
        # The embedded server answers LOCAL_SLOTS requests at a time; more in flight would
        # only queue inside it, with their timeouts running, and retry when those expire.
        config = dataclasses.replace(config, concurrency=LOCAL_SLOTS)
    warn = (lambda _m: None) if config.quiet else (lambda m: _err(f"warning: {m}"))
    stats = ReadStats()
    try:
        # Opening checks every input, so bad paths fail before a server starts or a request is paid.
        papers = read_inputs(
            config.inputs, config.input_format, warn, stats, encoding=config.encoding
        )
        first = next(papers, None)
    except InputError as e:
        return fail(e)
    if first is None:
        return fail(InputError("no papers found in the input"))
    if (refused := _claim_outputs(config, locks)) is not None:
        return refused

    endpoint = None  # who answers, for the cache key: the base URL, or the local model file
    if local and config.use_cache:
        from extractor.local import model_identity

        try:
            endpoint = model_identity(config.model.model)
        except local_errors as e:
            return fail(e)

    from extractor.pricing import PriceError, resolve_price

    scale = config.scale
    try:
        price = resolve_price(
            config.model.model,
            price_in=scale.price_in,
            price_out=scale.price_out,
            prices_file=scale.prices_file,
        )
    except PriceError as e:
        return fail(e)
    if scale.max_cost is not None and price is None:
        return fail(
            PriceError(
                f"--max-cost needs a price for {config.model.model!r}: give --price-in and "
                "--price-out, or --prices FILE"
            )
        )
    if scale.dry_run or scale.batch_file:
        return _prepare_only(config, itertools.chain([first], papers), endpoint, price)

    counters = Counters()
    progress = Progress(counters, total=config.limit, enabled=not config.quiet)
    if progress.enabled and "-" not in config.inputs:
        _count_in_background(config, progress)
    cache = ResponseCache(config.cache_dir) if config.use_cache else None
    # The outputs are written to temporary files beside them (see `extractor.files`) and
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
    status = ExitStatus.OK
    limiter = None
    if not local:
        from extractor.ratelimit import RateLimiter

        limiter = RateLimiter(rpm=scale.rpm, tpm=scale.tpm, concurrency=config.concurrency)
    from extractor.call import BatchError

    stops: tuple[type[Exception], ...] = (FatalError, InputError, BatchError, *local_errors)
    try:
        with contextlib.ExitStack() as stack:
            call = LazyCall(_make_call(config, stack, limiter))
            prompt = load_prompt(config.model.prompt_variant, config.model.results)
            pipeline = Pipeline(config, call, prompt, cache, endpoint=endpoint, price=price)
            if scale.batch or scale.batch_results:
                summary = aio.run(_batch_run(config, pipeline, out, errors, progress, stats, warn))
            else:
                summary = aio.run(
                    pipeline.run(itertools.chain([first], papers), out, errors, progress)
                )
    except stops as e:
        progress.finish()
        out.discard()
        errors.discard()
        status = fail(e, _stopped(e, config))
    except KeyboardInterrupt as e:
        progress.finish()
        status = fail(e, _interrupted(out, errors, config))
    except BaseException:
        # A crash (a bug): OUT stays as it was, what was written in the temporary files.
        for kept in (out.abandon(), errors.abandon()):
            if kept is not None:
                _err(f"crashed: what was written before is in {kept}")
        raise
    finally:
        if cache is not None:
            cache.close()
    if summary is None:
        return status
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
        return fail(e, _stopped(e, config))
    if not errors.count:  # an errors file from an earlier run no longer describes anything
        _remove_stale_errors(config, warn)
    if not config.quiet:
        line = _summary_line(summary, stats.duplicates, stats.skipped, config, errors.count)
        _err(line + _scale_summary(summary, limiter))
    if summary.not_sent:
        _err(
            f"stopped at --max-cost {scale.max_cost:g}: {summary.not_sent} records not sent "
            "(in the errors file); run the same command again, with a higher --max-cost, to go on"
        )
    return ExitStatus.PARTIAL if summary.failed else ExitStatus.OK


def _stopped(error: Exception, config: RunConfig) -> str:
    """A stop's one line; a file that could not be written says what was kept."""
    from extractor.files import OutputError

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
    from extractor.files import OutputError
    from extractor.write import remove_stale

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
    from extractor.pricing import dollars

    parts = []
    if summary.spent_cost is not None:
        parts.append(f"cost {dollars(summary.spent_cost)}")
    if limiter is not None and limiter.stats.throttled:
        parts.append(f"{limiter.stats.throttled} requests answered 429")
    return "".join(f"; {p}" for p in parts)


def _prepare_only(config: RunConfig, papers: Any, endpoint: str | None, price: Any) -> int:
    """--dry-run and --batch-file: read, key and price every record; send nothing."""
    from extractor.batch import BatchError, RequestBodies, dry_run, write_requests
    from extractor.cache import ResponseCache
    from extractor.call import LazyCall
    from extractor.files import OutputError, replacing
    from extractor.pipeline import Pipeline
    from extractor.prompt import load_prompt

    cache = ResponseCache(config.cache_dir) if config.use_cache else None
    try:
        prompt = load_prompt(config.model.prompt_variant, config.model.results)
        call = LazyCall(lambda: None)  # type: ignore[arg-type,return-value]  # never called
        pipeline = Pipeline(config, call, prompt, cache, endpoint=endpoint, price=price)
        if config.scale.dry_run:
            _err(dry_run(pipeline, papers, price, batch=config.scale.batch))
            return ExitStatus.OK
        path = str(config.scale.batch_file)
        with replacing(path, binary=True) as fh:
            bodies = RequestBodies(config.model)
            pending = asyncio.run(write_requests(pipeline, papers, bodies, fh.write))
        _err(
            f"{pending.new} request lines written to {path} ({pending.cached} cached, "
            f"{pending.over_budget} left out by --max-cost, "
            f"~{pending.prompt_tokens:,} prompt tokens); run them (OpenAI Batch API, "
            "vllm run-batch), then `extractor run ... --batch-results RESULTS.jsonl`"
        )
        return ExitStatus.OK
    except (BatchError, OutputError) as e:
        return fail(e)
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
) -> Any:
    """Batch mode: obtain the answers (Batch API or a results file), then the ordinary run
    over the input again, which validates, grounds and writes them in input order."""
    from extractor.batch import (
        AnswerStore,
        BatchRunner,
        State,
        load_results_file,
        settings_of,
        state_dir,
    )
    from extractor.read import ReadStats, read_inputs

    scale = config.scale
    notify = (lambda _m: None) if config.quiet else _err
    live = scale.batch_fallback == "live"
    if scale.batch_results:
        import tempfile

        directory = Path(tempfile.mkdtemp(prefix="extractor-results-"))
        strict = None if live else f"no answer in {scale.batch_results}"
        store = AnswerStore(directory / "answers.sqlite", strict=strict)
        answered, failed = load_results_file(scale.batch_results, store, live_fallback=live)
        notify(f"batch: {answered} answers and {failed} failed lines in {scale.batch_results}")
    else:
        import openai

        directory = state_dir(str(config.output))
        state = State.open(directory, settings_of(pipeline))
        strict = None if live else "no answer from the Batch API"
        store = AnswerStore(directory / "answers.sqlite", strict=strict)
        client = openai.AsyncOpenAI(
            api_key=config.model.api_key or "sk-no-key-required",
            base_url=config.model.base_url,
            max_retries=2,
        )
        papers = read_inputs(
            config.inputs,
            config.input_format,
            lambda _m: None,
            ReadStats(),
            encoding=config.encoding,
        )
        await BatchRunner(config, client, state, store, notify).run(pipeline, papers)
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
    from extractor.read import ReadStats, read_inputs

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
