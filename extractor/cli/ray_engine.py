"""`extractor run --engine ray`: the run's settings handed to the Ray Data engine, its
outcome turned into the CLI's exit status and summary line."""

from __future__ import annotations

from extractor.cli.exit import fail, say
from extractor.config import RunConfig
from extractor.errors import ConfigError, ExitStatus

_err = say  # one line on stderr, URLs redacted


def execute_ray(config: RunConfig, *, actors: int, batch_size: int) -> int:
    try:
        from extractor.engines.ray import run_ray
    except ImportError as e:
        missing = f"--engine ray needs Ray Data, which is not installed ({e.name})"
        return fail(ConfigError(f"{missing}: pip install 'extractor[ray]'"))
    from extractor.model.call import FatalError
    from extractor.model.local.errors import LocalModelError
    from extractor.pipeline.read import InputError

    notice = None if config.quiet else (lambda m: _err(m))
    try:
        summary = run_ray(config, actors=actors, batch_size=batch_size, notice=notice)
    except (FatalError, InputError, LocalModelError) as e:
        return fail(e)
    except KeyboardInterrupt as e:
        return fail(
            e, "interrupted: the finished shards are kept; run the same command again to resume"
        )
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
    return ExitStatus.PARTIAL if summary.failed else ExitStatus.OK
