"""`extractor table` (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.command("table")
def table_command() -> None:
    """Not built yet."""
    raise click.UsageError("'extractor table' is not built yet")
