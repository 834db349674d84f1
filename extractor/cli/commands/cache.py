"""`extractor cache`: look at or clear the response cache.

A cache that cannot be used is a `CacheError`, which ends the command in the `extractor`
group: one line on stderr, exit 2 (extractor.errors)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from extractor.config import default_cache_dir
from extractor.errors import CacheError

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
    from extractor.pipeline.cache import ResponseCache

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
    """Delete every cached answer (the next run pays for them again).

    A cache too damaged to open is removed file by file: its database and the value files
    it wrote, nothing else in the directory."""
    from extractor.pipeline.cache import ResponseCache, remove_cache_files

    directory = cache_dir or default_cache_dir()
    if directory.exists() and not directory.is_dir():
        raise CacheError(f"{directory} is a file, not a cache directory: nothing removed")
    if not yes:
        click.confirm(f"Delete all cached answers in {directory}?", abort=True)
    cache = ResponseCache(directory)
    try:
        removed = cache.clear()
    except CacheError as e:
        if not e.damaged:  # busy, read-only: the cache itself is fine, or not ours to wipe
            raise
        cache.close()
        try:
            files = remove_cache_files(directory)
        except OSError as oe:
            why = f"{oe.strerror}: {oe.filename}"
            raise CacheError(f"cannot remove the damaged cache in {directory} ({why})") from None
        count = f"{len(files)} file{'' if len(files) == 1 else 's'}"
        click.echo(f"removed the damaged cache in {directory} ({count})", err=True)
        return
    finally:
        cache.close()
    click.echo(f"removed {removed} entries from {directory}", err=True)
