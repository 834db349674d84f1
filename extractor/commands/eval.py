"""`extractor eval` (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.command("eval")
def eval_command() -> None:
    """Not built yet."""
    raise click.UsageError("'extractor eval' is not built yet")
