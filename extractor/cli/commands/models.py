"""`extractor models`: the embedded models this tool knows, and whether each is on this machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from extractor.cli.exit import say
from extractor.errors import ExitStatus


@click.command("models")
@click.option(
    "--fetch",
    "fetch_name",
    metavar="NAME",
    help="Fetch and verify this model into the cache now (otherwise the first run does it).",
)
@click.option(
    "--from",
    "source_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --fetch: a copy of the model file you already have; it is verified and cached.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model, not a table.")
def models_command(fetch_name: str | None, source_file: Path | None, as_json: bool) -> None:
    """List the embedded models (use one with --model local:NAME) and where they are cached.

    A registry file is accepted from any source only when its sha256 matches. The cache is
    EXTRACTOR_MODELS_DIR, else the user's cache folder.
    """
    # Imported here so `extractor --help` stays fast.
    from extractor.model.local import REGISTRY, LocalModelError, find_model, models_dir, resolve

    if source_file is not None and fetch_name is None:
        raise click.UsageError("--from needs --fetch NAME")
    try:
        if fetch_name is not None:
            if fetch_name.startswith("local:"):
                fetch_name = fetch_name[len("local:") :]
            if fetch_name not in REGISTRY:
                raise click.UsageError(
                    f"unknown model {fetch_name!r} (known: {', '.join(REGISTRY)})"
                )
            path = resolve(fetch_name, source_file=source_file)
            click.echo(f"{fetch_name}: verified at {path}", err=True)
        rows: list[dict[str, Any]] = []
        for name, entry in REGISTRY.items():
            try:
                found = find_model(entry)
                state = "yes" if found else "no"
            except LocalModelError:
                found, state = None, "corrupt"
            rows.append(
                {
                    "name": name,
                    "spec": f"local:{name}",
                    "size": entry.size,
                    "sha256": entry.sha256,
                    "source": f"{entry.repo}/{entry.file}",
                    "mirrors": entry.sources,
                    "cached": state,
                    "path": str(found) if found else None,
                    "description": entry.description,
                }
            )
    except LocalModelError as e:
        # Not the table's 2: `models` has always said "Error: ..." and exited 1 here (the
        # model cannot be had, as `check` exits 1 when `run` would not work).
        say(str(e), "Error: ")
        sys.exit(ExitStatus.UNUSABLE)

    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = [("NAME", "SIZE", "CACHED", "SOURCE", "PATH")]
    table += [
        (r["name"], _human(r["size"]), r["cached"], r["source"], r["path"] or "-") for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for line in table:
        click.echo(
            "  ".join([*(c.ljust(w) for c, w in zip(line[:4], widths, strict=True)), line[4]])
        )
    click.echo(f"cache: {models_dir()}  (use a model with --model local:NAME)", err=True)


def _human(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
