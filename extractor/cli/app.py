"""The `extractor` command line: a thin layer over the pipeline and the core.

Each command lives in `extractor/cli/commands/`, named for what it does; this module only
assembles them, so `extractor --help` stays fast and each command imports what it needs.
How an error ends a command (its line, its exit status) is `extractor/cli/exit.py`.
"""

from __future__ import annotations

import click

from extractor import __version__
from extractor.cli.commands.batch import batch_group
from extractor.cli.commands.cache import cache_group
from extractor.cli.commands.check import check_command
from extractor.cli.commands.eval import eval_command
from extractor.cli.commands.models import models_command
from extractor.cli.commands.report import report_command
from extractor.cli.commands.run import run_command
from extractor.cli.commands.schema import schema_command
from extractor.cli.commands.table import table_command
from extractor.cli.exit import Group


# Group: an error that ends any command is one line and its status (extractor.errors).
@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="extractor")
def cli() -> None:
    """Extract models, modalities, tasks, benchmarks, results and code links from
    paper abstracts into grounded, validated JSONL."""
    from extractor.logs import configure, verbose_from_env

    # The libraries' loggers are silent unless asked for (EXTRACTOR_VERBOSE, or a command's -v).
    configure(verbose=verbose_from_env())


for command in (
    run_command, check_command, eval_command, table_command, report_command, schema_command,
    models_command, cache_group, batch_group,
):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    cli(prog_name="extractor")
