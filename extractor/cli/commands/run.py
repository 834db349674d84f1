"""`extractor run`: abstracts in, grounded and cached JSONL out."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import click

from extractor.cli.encoding_option import encoding_option

# The run itself (files in, OUT and errors file out) is the library's: `extractor.run`.
from extractor.cli.exit import say
from extractor.cli.scale_options import FiniteFloat, scale_config, scale_options
from extractor.config import LOCAL_SLOTS, LOCAL_TIMEOUT, MODES, ModelConfig, RunConfig
from extractor.core.labels import LabelPolicy
from extractor.core.schema import RESULT_MODES
from extractor.logs import configure as configure_logging
from extractor.pipeline.prompt import VARIANTS
from extractor.pipeline.runner import EXIT_USAGE, batch_problem, claim_outputs, execute

__all__ = ["execute", "run_command"]


# One line on stderr, URLs redacted (commands/exit.py).
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
    from extractor.cli.resolve import resolve_settings

    # the library's own settings, so `extractor run`, `check` and `Extractor(...)` agree
    config = resolve_settings(
        inputs=inputs, output=output, errors=errors, input_format=input_format, model=model,
        base_url=base_url, api_key=api_key, concurrency=concurrency, cache_dir=cache_dir,
        no_cache=no_cache, cache_only=cache_only, limit=limit, mode=mode,
        prompt=prompt_variant, results=results_mode, labels=labels,
        temperature=temperature, max_tokens=max_tokens, timeout=timeout, retries=retries,
        reasks=reasks, keep_ungrounded=keep_ungrounded, quiet=quiet, notices=not quiet,
    )  # fmt: skip
    config = dataclasses.replace(config, scale=scale_config(scale), encoding=encoding)
    problem = batch_problem(config, engine=engine)
    if problem is not None:
        raise click.UsageError(problem)
    if engine == "ray":
        from extractor.cli.ray_engine import execute_ray
        from extractor.pipeline.files import Locks

        with Locks() as locks:
            if not claim_outputs(config, locks, _err):
                sys.exit(EXIT_USAGE)
            sys.exit(execute_ray(config, actors=actors, batch_size=max(16, 8 * concurrency)))
    sys.exit(execute(config, _err))
