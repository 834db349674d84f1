"""`extractor cache`: look at or clear the response cache."""

from __future__ import annotations

import json
from pathlib import Path

import click

from extractor.config import default_cache_dir

_dir_option = click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="EXTRACTOR_CACHE_DIR",
    help="Response cache directory.  [env: EXTRACTOR_CACHE_DIR]",
)  # fmt: skip


@click.group("cache")
def cache_group() -> None:
    """Inspect or clear the response cache."""


@cache_group.command("stats")
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats_command(cache_dir: Path | None, as_json: bool) -> None:
    """Entries, size on disk and the tokens the cached answers cost."""
    from extractor.cache import ResponseCache

    cache = ResponseCache(cache_dir or default_cache_dir())
    try:
        stats = cache.stats()
    finally:
        cache.close()
    if as_json:
        click.echo(json.dumps(stats))
        return
    for key, value in stats.items():
        click.echo(f"{key:>14}: {value}")


@cache_group.command("clear")
@_dir_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
def clear_command(cache_dir: Path | None, yes: bool) -> None:
    """Delete every cached answer (the next run pays for them again)."""
    from extractor.cache import ResponseCache

    directory = cache_dir or default_cache_dir()
    if not yes:
        click.confirm(f"Delete all cached answers in {directory}?", abort=True)
    cache = ResponseCache(directory)
    try:
        removed = cache.clear()
    finally:
        cache.close()
    click.echo(f"removed {removed} entries from {directory}", err=True)
