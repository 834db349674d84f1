"""`extractor report`: one self-contained HTML page to review a records file in a browser."""

from __future__ import annotations

from pathlib import Path

import click

from extractor.cli.exit import RecordsCommand
from extractor.pipeline.records_io import load_records_for_cli


@click.command("report", cls=RecordsCommand)
@click.argument("records", metavar="OUT.jsonl", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    show_default=True,
    help="The HTML file to write ('-' for stdout).",
)
@click.option("--title", help="Page title [default: 'Extraction review: OUT.jsonl'].")
def report_command(records: str, output: str, title: str | None) -> None:
    """Write OUT.jsonl as one HTML page: every paper with its grounded items highlighted,
    its extracted fields and warnings, search and filters, and per-benchmark leaderboards.

    The page is self-contained (no network, no external files) and opens from disk.
    """
    from extractor.pipeline.files import prepare, refuse_same, write_text
    from extractor.report import render_report  # the page assets load only for this command

    if output != "-":  # before the work: the page goes nowhere it must not
        refuse_same([("report", output)], [records])
        prepare(output)
    name = "stdin" if records == "-" else Path(records).name
    page = render_report(
        load_records_for_cli(records),
        title=title or f"Extraction review: {name}",
        source=name,
    )
    if output == "-":
        click.echo(page, nl=False)
    else:
        write_text(output, page)  # the previous page stays whole until this one is
        click.echo(f"wrote {output} ({len(page.encode()) / 1e6:.1f} MB)", err=True)
