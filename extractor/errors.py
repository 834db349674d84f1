"""Every failure a user of extractor must tell apart, under one root, and the exit status of
each in one table (`EXIT_TABLE`), which the CLI maps errors through (`extractor.cli.exit`)
and the docs render (docs/usage/run.md, checked by tests/test_errors.py).

The hierarchy (a class is caught by `except` of any class above it):

    ExtractorError                       2  anything below; never raised itself
    ├── ConfigError (ValueError)         2  settings that cannot work
    │   └── PriceError                   2  a price, prices file or --max-cost that cannot work
    ├── InputError                       2  an input that cannot be used
    │   ├── OutputError                  2  a path that cannot or must not be written
    │   └── EvalInputError (ValueError)  2  a record or gold item too malformed to score
    ├── FatalError                       2  every record would fail the same way: the run stops
    │   ├── EndpointError                2  key rejected, endpoint unreachable, model not served
    │   ├── ModeUnsupportedError         2  the endpoint cannot do the mode, none left to try
    │   └── CacheError (also BatchError) 2  the response cache cannot be used at all
    ├── BatchError                       2  batch mode cannot go on
    ├── LocalModelError                  2  the embedded model (extractor.model.local.errors)
    └── RecordError                      3  one record failed; the others go on
        ├── CallError                       the model call of one record (errors file)
        └── ExtractionError                 one paper of the library API

    KeyboardInterrupt                  130  Ctrl-C; a built-in, not an ExtractorError, so that
                                            `except Exception` never swallows it

The classes keep the names and modules they were first imported from (`extractor.model.call.
FatalError`, `extractor.core.jsonl.InputError`, ...): those modules re-export them.

This module imports nothing from extractor and sits in the lowest import layer, so that
`extractor.core` (pure) can raise its errors.
"""

from __future__ import annotations

import enum
from typing import Any


class ExitStatus(enum.IntEnum):
    """The statuses extractor's commands exit with (CONTRACT.md)."""

    OK = 0  # every record extracted; a command that did its job
    UNUSABLE = 1  # `check`: `run` would not work against this endpoint
    USAGE = 2  # usage or configuration error: nothing sent or nothing written
    PARTIAL = 3  # `run`: some records failed (each in the errors file, the rest written)
    INTERRUPTED = 130  # Ctrl-C: what finished is written and resumable


class ExtractorError(Exception):
    """The root of extractor's errors; its message is one line a command can print as is."""

    @property
    def exit_status(self) -> ExitStatus:
        """This error's status in `EXIT_TABLE`: the CLI's exit status when it ends a command."""
        return exit_status(self)


class ConfigError(ExtractorError, ValueError):
    """Settings that cannot work (a remote model without key or URL, an unknown option)."""


class PriceError(ConfigError):
    """A price that cannot be used: a prices file that cannot be read, an invalid rate,
    --max-cost without a price for the model."""


class InputError(ExtractorError):
    """An input that cannot be used (missing, unreadable, malformed where that matters): the
    command stops with one line on stderr and exit status 2, before anything is written."""


class OutputError(InputError):
    """A path the command cannot or must not write. An `InputError` because it is handled as
    one everywhere: the command line names something that cannot work, one line on stderr
    and exit status 2."""


class EvalInputError(InputError, ValueError):
    """A record or item too malformed to score; the message names it (exit status 2)."""


class FatalError(ExtractorError):
    """Every record would fail the same way (bad key, no server): stop the run, exit 2."""


class EndpointError(FatalError):
    """The endpoint refuses the run: the key is rejected or may not use it, it cannot be
    reached, it does not serve the model, the account has no quota left."""


class ModeUnsupportedError(FatalError):
    """The run's mode is unsupported and no fallback is allowed (or left): exit 2."""

    def __init__(self, message: str, mode: str, reason: str):
        super().__init__(message)
        self.mode = mode
        self.reason = reason


class BatchError(ExtractorError):
    """Batch mode cannot go on (a usage error, a state of another run): exit 2."""


class CacheError(FatalError, BatchError):
    """The cache directory cannot be used at all: every record would fail the same way, so
    the run stops (exit 2) with what is wrong and how to recover in one line. `damaged`: the
    database itself is broken (`cache clear` removes it), not busy or out of reach.

    Both of the other stop-with-exit-2 errors: a live run stops on a `FatalError`, the
    paths that only prepare requests (--dry-run, --batch-file) on a `BatchError`."""

    def __init__(self, message: str, *, damaged: bool = False):
        super().__init__(message)
        self.damaged = damaged


class LocalModelError(ExtractorError):
    """The embedded model cannot be found, fetched, verified or started (the kinds are in
    `extractor.model.local.errors`)."""


class RecordError(ExtractorError):
    """One record failed; the others go on, and the run exits 3."""


class CallError(RecordError):
    """This record failed; the others go on. Goes to the errors file."""

    def __init__(
        self, type_: str, message: str, attempts: int = 0, usage: tuple[int, int] = (0, 0)
    ):
        super().__init__(message)
        self.type = type_
        self.message = message
        self.attempts = attempts
        self.usage = usage


class ExtractionError(RecordError):
    """One paper failed; `record` is its errors-file record (CONTRACT.md)."""

    def __init__(self, record: dict[str, Any]):
        error = record["error"]
        super().__init__(f"{record['id']}: {error['type']}: {error['message']}")
        self.record = record


# The one table: each class, its exit status, and when users meet it. A class not listed has
# the status of the nearest listed class it derives from (the kinds of LocalModelError).
EXIT_TABLE: tuple[tuple[type[BaseException], ExitStatus, str], ...] = (
    (ExtractorError, ExitStatus.USAGE, "any error of extractor's own"),
    (ConfigError, ExitStatus.USAGE, "options or settings that cannot work together"),
    (PriceError, ExitStatus.USAGE, "a prices file or rate that cannot be used; `--max-cost` without a price"),
    (InputError, ExitStatus.USAGE, "an input file that is missing, unreadable or malformed"),
    (OutputError, ExitStatus.USAGE, "an output path that cannot or must not be written"),
    (EvalInputError, ExitStatus.USAGE, "`eval`: a record or gold item too malformed to score"),
    (FatalError, ExitStatus.USAGE, "every record would fail the same way: the run stops"),
    (EndpointError, ExitStatus.USAGE, "API key rejected, endpoint unreachable, model not served, no quota"),
    (ModeUnsupportedError, ExitStatus.USAGE, "the endpoint cannot do `--mode`, and no mode is left to try"),
    (BatchError, ExitStatus.USAGE, "batch mode cannot go on (its state, a results file)"),
    (CacheError, ExitStatus.USAGE, "the response cache cannot be used (damaged, busy, not a folder)"),
    (LocalModelError, ExitStatus.USAGE, "the embedded model cannot be found, fetched, verified or started"),
    (RecordError, ExitStatus.PARTIAL, "one record failed, the others go on (`run` exits 3 at the end)"),
    (CallError, ExitStatus.PARTIAL, "one record's model call failed: its line in the errors file"),
    (ExtractionError, ExitStatus.PARTIAL, "the library API: one paper failed (`on_error=\"raise\"`)"),
    (KeyboardInterrupt, ExitStatus.INTERRUPTED, "Ctrl-C: what finished is written; run again to resume"),
)  # fmt: skip

_STATUS = {cls: status for cls, status, _ in EXIT_TABLE}


def exit_status(error: BaseException) -> ExitStatus:
    """The status of `error` in `EXIT_TABLE` (of its nearest listed class). An exception
    the table does not cover is a bug, never a status: LookupError."""
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    raise LookupError(f"no exit status for {type(error).__name__}")


def markdown_table() -> str:
    """`EXIT_TABLE` as the Markdown table docs/usage/run.md shows (a test keeps them equal)."""
    lines = ["| Error | Derives from | Exit status | When |", "|---|---|---|---|"]
    for cls, status, when in EXIT_TABLE:
        bases = ", ".join(f"`{base.__name__}`" for base in cls.__bases__)
        lines.append(f"| `{cls.__name__}` | {bases} | {int(status)} | {when} |")
    return "\n".join(lines)
