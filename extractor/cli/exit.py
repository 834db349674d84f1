"""The one place the command line turns an error into its line on stderr and its exit status.

The status of each error is in `extractor.errors.EXIT_TABLE`; nothing here or in a command
names a number. A command either lets an `ExtractorError` (or Ctrl-C) propagate, and the
`extractor` group (`Group`, in cli.py) ends it with the error's one line and status, or it
catches one to say more (what a stopped run kept) and returns `fail(error, line)`.
"""

from __future__ import annotations

from typing import Any, NoReturn

import click

from extractor.errors import ExitStatus, ExtractorError, exit_status
from extractor.logs import redact_urls

PREFIX = "extractor: "


def say(message: str, prefix: str = PREFIX) -> None:
    """One line on stderr. A base URL's user info or query token is never shown, whichever
    message carries it."""
    click.echo(f"{prefix}{redact_urls(message)}", err=True)


def fail(error: BaseException, message: str | None = None) -> ExitStatus:
    """Say `error` (or `message`, its wording with what the command adds) and return the
    exit status `EXIT_TABLE` gives it."""
    say(str(error) if message is None else message)
    return exit_status(error)


def _end(ctx: click.Context, error: BaseException, prefix: str) -> NoReturn:
    if isinstance(error, KeyboardInterrupt):
        say("interrupted", prefix)
    else:
        say(str(error), prefix)
    ctx.exit(exit_status(error))


class Group(click.Group):
    """The `extractor` group: an `ExtractorError` that ends any command below it is one line
    on stderr and the error's exit status, Ctrl-C is 130, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ExtractorError, KeyboardInterrupt) as e:
            _end(ctx, e, PREFIX)


class RecordsCommand(click.Command):
    """`eval`, `table` and `report`: the same ending, with click's own "Error: " prefix,
    which these commands have printed since they were written (scripts may match it). Also
    when the command is invoked on its own, without the group."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ExtractorError, KeyboardInterrupt) as e:
            _end(ctx, e, "Error: ")
