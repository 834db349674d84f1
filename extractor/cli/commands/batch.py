"""`extractor batch status|cancel OUT.jsonl`: the batches of a `run --batch`, from the state
it keeps beside its output (OUT.jsonl.batch/state.json)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import click


def _client(base_url: str | None) -> Any:
    from extractor.pipeline.compose import batch_client

    key = os.environ.get("OPENAI_API_KEY")
    if not key and not base_url:
        raise click.UsageError("the Batch API needs OPENAI_API_KEY (or --base-url)")
    return batch_client(key, base_url)


def _load(output: str) -> Any:
    from extractor.pipeline.batch import load_state

    # A BatchError (no state, another version's) ends the command in the `extractor` group:
    # its one line, exit 2 (extractor.errors).
    return load_state(output)


_base_url = click.option(
    "--base-url", envvar="OPENAI_BASE_URL", help="The endpoint the batches were sent to."
)


@click.group("batch")
def batch_group() -> None:
    """Batches of `extractor run --batch`: show or stop them."""


@batch_group.command("status")
@click.argument("output", metavar="OUT.jsonl")
@_base_url
@click.option("--offline", is_flag=True, help="Show the saved state; ask the API nothing.")
def status_command(output: str, base_url: str | None, offline: bool) -> None:
    """Each batch of the run that writes OUT.jsonl: file, id, status, requests done."""
    from extractor.pipeline.batch import TERMINAL

    state = _load(output)
    client = None if offline else _client(base_url)

    async def show() -> None:
        for entry in state.entries:
            status, counts = entry.status, entry.counts
            if client is not None and entry.id and status not in TERMINAL:
                batch = await client.batches.retrieve(entry.id)
                status = batch.status
                if batch.request_counts is not None:
                    rc = batch.request_counts
                    counts = {"total": rc.total, "completed": rc.completed, "failed": rc.failed}
            retry = f" retry {entry.round} of {entry.parent}" if entry.round else ""
            done = f"{counts.get('completed', 0)}/{entry.count} completed" if counts else ""
            failed = f", {counts['failed']} failed" if counts.get("failed") else ""
            written = ", answers collected" if entry.processed else ""
            click.echo(
                f"{entry.file}  {entry.id or '(not submitted)'}  {status}  {done}{failed}"
                f"{written}{retry}"
            )

    asyncio.run(show())


@batch_group.command("cancel")
@click.argument("output", metavar="OUT.jsonl")
@_base_url
def cancel_command(output: str, base_url: str | None) -> None:
    """Cancel every batch of OUT.jsonl's run that has not ended. Their unanswered records
    fail (`batch_cancelled`) when the run is resumed; what they answered is kept."""
    from extractor.pipeline.batch import TERMINAL

    state = _load(output)
    client = _client(base_url)

    async def cancel() -> int:
        n = 0
        for entry in state.entries:
            if entry.id and entry.status not in TERMINAL:
                batch = await client.batches.cancel(entry.id)
                click.echo(f"{entry.file}  {entry.id}  {batch.status}")
                n += 1
        return n

    n = asyncio.run(cancel())
    click.echo(f"{n} batches cancelled" if n else "no batch is running")
