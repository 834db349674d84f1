"""`extractor models` (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.command("models")
def models_command() -> None:
    """Not built yet."""
    raise click.UsageError("'extractor models' is not built yet")
