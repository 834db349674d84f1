"""The settings of a command that talks to a model (`run`, `check`), from its options: the
library's own resolution (`extractor.api.build_config`), so that every command and
`Extractor(...)` agree on the defaults; a setting that cannot work is a usage error."""

from __future__ import annotations

from typing import Any

import click

from extractor.config import RunConfig
from extractor.logs import redact_urls


def resolve_settings(*, notices: bool = True, **options: Any) -> RunConfig:
    """`options` are `build_config`'s; `notices`: say on stderr which default stood in."""
    from extractor.api import ConfigError, build_config

    def notice(message: str) -> None:
        click.echo(f"extractor: {redact_urls(message)}", err=True)

    try:
        return build_config(notice=notice if notices else None, **options)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
