"""`--encoding`: the inputs' text encoding, checked when the command line is read."""

from __future__ import annotations

from typing import Any

import click

from extractor.pipeline.read import DEFAULT_ENCODING, check_encoding


def _checked(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_encoding(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def encoding_option(command: Any) -> Any:
    return click.option(
        "--encoding",
        default=DEFAULT_ENCODING,
        show_default=True,
        callback=_checked,
        help="Text encoding of the inputs (a byte-order mark overrides it).",
    )(command)
