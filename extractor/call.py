"""Call stage: the one seam between the pipeline and a language model.

`ModelCall` is an async function from chat messages to a `Reply`. The real one
(`extractor.openai_call.OpenAICall`) speaks the OpenAI chat API through instructor; tests plug
in at the HTTP layer (respx) or replace the seam itself. This module imports no SDK, so a
run served from the cache never pays for importing one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Messages = list[dict[str, str]]


@dataclass
class Reply:
    extraction: dict[str, Any]
    attempts: int
    input_tokens: int
    output_tokens: int
    mode: str | None = None  # how the schema was imposed: json_schema, tools or json
    batch: bool = False  # answered through the Batch API, billed at its discount
    # the part of input_tokens the provider served from its prompt cache (billed less)
    cached_input_tokens: int = 0


# An answer that came before its request was made (a line of a Batch API results file): the
# HTTP layer (`http_client.RateLimitedClient`) serves the record's next chat completion from it
# instead of sending it, so it is validated exactly as a live answer; re-asks go out live.
PREFILLED: contextvars.ContextVar[list[bytes] | None] = contextvars.ContextVar(
    "extractor_prefilled", default=None
)


class ModelCall(Protocol):
    async def __call__(self, messages: Messages) -> Reply: ...


class CallError(Exception):
    """This record failed; the others go on. Goes to the errors file."""

    def __init__(
        self, type_: str, message: str, attempts: int = 0, usage: tuple[int, int] = (0, 0)
    ):
        super().__init__(message)
        self.type = type_
        self.message = message
        self.attempts = attempts
        self.usage = usage


class FatalError(Exception):
    """Every record would fail the same way (bad key, no server): stop the run, exit 2."""


class BatchError(Exception):
    """Batch mode cannot go on (a usage error, a state of another run): exit 2. Here rather
    than in `batch`, so a run that is not a batch run never imports that module."""


class LazyCall:
    """Builds the real call on first use: a run answered from the cache starts no client."""

    def __init__(self, factory: Callable[[], ModelCall]):
        self._factory = factory
        self._call: ModelCall | None = None

    async def __call__(self, messages: Messages) -> Reply:
        if self._call is None:
            self._call = self._factory()
        return await self._call(messages)
