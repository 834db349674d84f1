"""The event loop a command runs on: uvloop's where it is installed, asyncio's otherwise.

At hundreds of requests a second the loop and its sockets are a good part of the client's
CPU; uvloop (libuv, compiled) does the same work for less (`bench/overhead_bench.py`).
It changes nothing else: `asyncio.Runner` handles Ctrl-C and cancellation the same way.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # not on Windows, or not installed: asyncio's own loop
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on the fastest loop available (Python 3.11+: `asyncio.Runner`)."""
    runner_class = getattr(asyncio, "Runner", None)
    if runner_class is None:  # Python 3.10: asyncio's own loop
        return asyncio.run(coro)
    with runner_class(loop_factory=loop_factory()) as runner:
        return runner.run(coro)  # type: ignore[no-any-return]


_tuned = False


def tune_gc() -> None:
    """For a command that runs many records: a run allocates millions of short-lived objects
    (JSON, pydantic models, HTTP headers), and with the default first-generation threshold
    (700) the collector walks the young heap thousands of times a second. What is alive
    when the run starts (modules, classes) is frozen out of its reach, and collections come
    ~30x less often; measured, 12-15% of the client's CPU a request and a third of its start-up
    (`bench/overhead_bench.py`). Not for the library API: the host process owns its GC."""
    global _tuned
    if _tuned:  # once a process: what a first run left alive is not frozen again
        return
    _tuned = True
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
