"""The `extractor` command line: the click app (`app.py`), one module per command
(`commands/`), and the options and exit handling the commands share.

`extractor.cli:main` is the console script; `extractor.cli.cli` is the click group (the docs'
CLI reference is generated from it)."""

from extractor.cli.app import cli, main

__all__ = ["cli", "main"]
