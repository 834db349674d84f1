"""`extractor run --engine ray`: the run's settings handed to the Ray Data engine, its
outcome turned into the CLI's exit status and summary line."""

from __future__ import annotations

import click

from extractor.config import RunConfig

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 2, 3, 130


def _err(message: str) -> None:
    click.echo(f"extractor: {message}", err=True)


def execute_ray(config: RunConfig, *, actors: int, batch_size: int) -> int:
    try:
        from extractor.engines.ray import run_ray
    except ImportError as e:
        _err(f"--engine ray needs Ray Data, which is not installed ({e.name}): "
             "pip install 'extractor[ray]'")  # fmt: skip
        return EXIT_USAGE
    from extractor.call import FatalError
    from extractor.local.errors import LocalModelError
    from extractor.read import InputError

    notice = None if config.quiet else (lambda m: _err(m))
    try:
        summary = run_ray(config, actors=actors, batch_size=batch_size, notice=notice)
    except (FatalError, InputError, LocalModelError) as e:
        _err(str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted: the finished shards are kept; run the same command again to resume")
        return EXIT_INTERRUPTED
    if not config.quiet:
        parts = [
            f"{summary.written} records ({summary.cached} cached, {summary.failed} failed, "
            f"{summary.resumed} done earlier) in {summary.seconds:.2f}s with {actors} Ray actors",
            f"tokens spent {summary.spent_input_tokens} in / {summary.spent_output_tokens} out",
        ]
        if summary.duplicates:
            parts.append(f"{summary.duplicates} duplicate papers skipped")
        if summary.failed:
            parts.append(f"failures in {config.errors_path}")
        _err("; ".join(parts) + f" -> {config.output} (shards in {summary.work_dir})")
    return EXIT_PARTIAL if summary.failed else EXIT_OK
