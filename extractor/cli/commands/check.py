"""`extractor check`: what the endpoint can do, in one table, before a run pays for it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys

import click

from extractor.cli.exit import fail
from extractor.cli.scale_options import FiniteFloat
from extractor.config import MODES, ModelConfig
from extractor.core.schema import RESULT_MODES
from extractor.errors import ExitStatus
from extractor.logs import configure as configure_logging
from extractor.logs import redact_urls
from extractor.pipeline.prompt import VARIANTS


@click.command("check")
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    help="Any OpenAI-compatible endpoint.  [env: OPENAI_BASE_URL]",
)
@click.option(
    "-m",
    "--model",
    envvar="EXTRACTOR_MODEL",
    help="Model name, or local:NAME / local:/path.gguf.  [env: EXTRACTOR_MODEL]",
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=ModelConfig.mode,
    show_default=True,
    envvar="EXTRACTOR_MODE",
    help="The mode run would be given (auto: any the endpoint supports).",
)
@click.option(
    "--prompt",
    "prompt_variant",
    type=click.Choice(VARIANTS),
    help="The prompt variant run would be given (default: full; compact for local models).",
)
@click.option(
    "--results",
    "results_mode",
    type=click.Choice(RESULT_MODES),
    envvar="EXTRACTOR_RESULTS",
    help="The results mode run would be given.  [default: anchored; rule for local models]  "
    "[env: EXTRACTOR_RESULTS]",
)
@click.option(
    "--temperature",
    type=FiniteFloat(),
    default=ModelConfig.temperature,
    show_default=True,
    help="The temperature run would be given.",
)
@click.option("--timeout", type=FiniteFloat(1), help="Seconds per request.")
@click.option(
    "--max-tokens",
    type=click.IntRange(16),
    default=256,
    show_default=True,
    help="Output token limit of each probe (a cut-off answer still shows the mode works).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    envvar="EXTRACTOR_VERBOSE",
    help="Show the libraries' own log, key redacted.",
)
def check_command(
    base_url: str | None,
    model: str | None,
    mode: str,
    prompt_variant: str | None,
    results_mode: str | None,
    temperature: float,
    timeout: float | None,
    max_tokens: int,
    verbose: bool,
) -> None:
    """One tiny request per mode against the endpoint, and a table: reachable, key accepted,
    model served, each mode's result and latency, the context size, whether the shared
    prompt prefix is cached, and the mode `run` would use.

    The requests are those `run` would send with the same options (prompt, results mode,
    schema, strictness), for two tiny papers. With no OPENAI_API_KEY and no --base-url,
    checks the embedded local model (as run uses it). Exit status: 0 when `run` would
    work, 1 when it would not, 2 usage error.
    """
    from extractor.cli.resolve import resolve_settings
    from extractor.model.local.errors import LocalModelError
    from extractor.pipeline import compose
    from extractor.pipeline.probe import PAPERS, check_endpoint

    api_key = os.environ.get("OPENAI_API_KEY") or None
    configure_logging(verbose=verbose, secret=api_key)
    # The settings run would resolve from the same options (its defaults are check's).
    settings = resolve_settings(
        notices=False, model=model, base_url=base_url, api_key=api_key, mode=mode,
        prompt=prompt_variant, results=results_mode, temperature=temperature, timeout=timeout,
        no_cache=True,
    )  # fmt: skip
    config = settings.model
    where = ""
    try:
        with contextlib.ExitStack() as stack:
            if compose.is_local(config):
                from extractor.model.local import local_endpoint

                url = stack.enter_context(local_endpoint(config.model, parallel=1))
                config = dataclasses.replace(config, base_url=url)
                where = f" (embedded {config.model})"
            messages = compose.probe_messages(settings, PAPERS)
            make_call = lambda m, client: compose.model_call(m, http_client=client)  # noqa: E731
            report = asyncio.run(check_endpoint(config, messages, make_call, max_tokens=max_tokens))
    except LocalModelError as e:
        sys.exit(fail(e))
    click.echo(render(report, where))
    sys.exit(ExitStatus.OK if report.ok else ExitStatus.UNUSABLE)


def render(report: object, where: str = "") -> str:
    from extractor.pipeline.probe import CheckReport

    assert isinstance(report, CheckReport)
    rows: list[tuple[str, str, str]] = [
        ("endpoint", f"{report.base_url}{where}", ""),
        ("reachable", report.reach_detail, ""),
    ]
    if report.reachable:
        rows.append(("key", report.key, ""))
    if report.reachable and report.key_ok:
        served = {True: "served", False: "NOT served", None: "unknown"}[report.served]
        rows.append(("model", f"{report.model}: {served}; {report.model_detail}", ""))
        rows.append(("context", report.context, ""))
        for m in report.modes:
            rows.append((f"mode {m.mode}", m.detail, f"{m.seconds:.2f} s"))
        rows.append(("prefix cache", report.prefix_cache, ""))
    verdict = f"--mode {report.chosen}" if report.chosen else "none: run would fail (see above)"
    rows.append(("run would use", verdict, ""))
    width = max(len(r[0]) for r in rows)
    detail_width = max(len(r[1]) for r in rows if r[2]) if any(r[2] for r in rows) else 0
    lines = []
    for name, detail, latency in rows:
        line = (
            f"{name:<{width}}  {detail:<{detail_width}}  {latency}"
            if latency
            else f"{name:<{width}}  {detail}"
        )
        lines.append(line.rstrip())
    # The endpoint's URL is in several rows (and in servers' error text): never its password.
    return redact_urls("\n".join(lines))
