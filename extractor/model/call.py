"""Call stage: the one seam between the pipeline and a language model.

`ModelCall` is an async function from chat messages to a `Reply`. The real one
(`extractor.model.openai_call.OpenAICall`) speaks the OpenAI chat API through instructor; tests plug
in at the HTTP layer (respx) or replace the seam itself. This module imports no SDK, so a
run served from the cache never pays for importing one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# Defined in extractor.errors with every other error; imported from here since before it.
from extractor.errors import BatchError as BatchError
from extractor.errors import CallError as CallError
from extractor.errors import FatalError as FatalError

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


class LazyCall:
    """Builds the real call on first use: a run answered from the cache starts no client."""

    def __init__(self, factory: Callable[[], ModelCall]):
        self._factory = factory
        self._call: ModelCall | None = None

    async def __call__(self, messages: Messages) -> Reply:
        if self._call is None:
            self._call = self._factory()
        return await self._call(messages)
