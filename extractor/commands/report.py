"""`extractor report` (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.command("report")
def report_command() -> None:
    """Not built yet."""
    raise click.UsageError("'extractor report' is not built yet")
