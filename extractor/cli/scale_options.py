"""`extractor run`'s options for price, pace and the Batch API (issue 10)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from extractor.config import ScaleOptions

F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloat(click.FloatRange):
    """`click.FloatRange` without nan and infinity: nan passes every bound (each comparison
    is false), and a price of nan or inf made costs NaN (not JSON) and --max-cost never stop."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


_OPTIONS = [
    click.option(
        "--rpm",
        type=FiniteFloat(min=0, min_open=True),
        envvar="EXTRACTOR_RPM",
        help="Requests per minute at most (the provider's x-ratelimit headers are obeyed too).",
    ),
    click.option(
        "--tpm",
        type=FiniteFloat(min=0, min_open=True),
        envvar="EXTRACTOR_TPM",
        help="Tokens per minute at most.",
    ),
    click.option(
        "--price-in",
        type=FiniteFloat(min=0),
        help="Dollars per million input tokens (default: the price table).",
    ),
    click.option(
        "--price-out",
        type=FiniteFloat(min=0),
        help="Dollars per million output tokens (default: the price table).",
    ),
    click.option(
        "--prices",
        "prices_file",
        type=click.Path(dir_okay=False, exists=True),
        envvar="EXTRACTOR_PRICES",
        help='A TOML price table: [models."NAME"] input, cached_input, output, batch_discount.',
    ),
    click.option(
        "--max-cost",
        type=FiniteFloat(min=0),
        help="Dollars: stop cleanly (exit 3, resumable) before spending more.",
    ),
    click.option(
        "--dry-run",
        is_flag=True,
        help="Count the prompt tokens of what is not cached and estimate the cost; send nothing.",
    ),
    click.option(
        "--batch",
        is_flag=True,
        help="Send what is not cached through the Batch API (half price, within 24 h); "
        "state in OUT.batch/, so a killed run resumes its batches.",
    ),
    click.option(
        "--batch-file",
        type=click.Path(dir_okay=False),
        help="Only write the request lines of what is not cached to this file "
        "(OpenAI Batch API / vllm run-batch format).",
    ),
    click.option(
        "--batch-results",
        type=click.Path(dir_okay=False, exists=True),
        help="Take the answers from this results file (OpenAI Batch API / vllm run-batch output).",
    ),
    click.option(
        "--batch-fallback",
        type=click.Choice(["retry", "live"]),
        default="retry",
        show_default=True,
        help="Lines a batch rejected or left unfinished: a retry batch, or live requests.",
    ),
    click.option(
        "--batch-retries",
        type=click.IntRange(0, 10),
        default=1,
        show_default=True,
        help="Retry batches before such a line fails.",
    ),
    click.option(
        "--poll-interval",
        type=FiniteFloat(min=0),
        default=30.0,
        show_default=True,
        help="Seconds between looks at running batches.",
    ),
]


def scale_options(f: F) -> F:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def scale_config(values: dict[str, Any]) -> ScaleOptions:
    """The options as parsed by click, checked against each other."""
    opts = ScaleOptions(**values)
    chosen = [n for n, v in (("--batch", opts.batch), ("--batch-file", opts.batch_file),
                             ("--batch-results", opts.batch_results), ("--dry-run", opts.dry_run)) if v]  # fmt: skip
    if len(chosen) > 1 and chosen != ["--batch", "--dry-run"]:
        raise click.UsageError(f"{' and '.join(chosen)} exclude each other")
    return opts
