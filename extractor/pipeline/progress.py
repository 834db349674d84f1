"""Progress on stderr: a one-line bar while running, a summary at the end."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Counters:
    done: int = 0
    cached: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _human(n: float) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Redraws at most ten times a second; silent unless stderr is a terminal."""

    def __init__(
        self, counters: Counters, *, total: int | None, enabled: bool, stream: TextIO = sys.stderr
    ):
        self.c = counters
        self.total = total
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self._last = 0.0

    def update(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()

    def line(self) -> str:
        c = self.c
        rate = c.done / c.elapsed if c.elapsed > 0 else 0.0
        if self.total:
            frac = min(1.0, c.done / self.total)
            bar = "#" * int(frac * 20)
            head = f"[{bar:<20}] {c.done}/{self.total}"
            eta = f" ETA {_duration((self.total - c.done) / rate)}" if rate > 0 else ""
        else:
            head, eta = f"{c.done} done", ""
        return (
            f"{head} | cached {c.cached} | failed {c.failed} | "
            f"tokens {_human(c.input_tokens)} in / {_human(c.output_tokens)} out | "
            f"{rate:.1f}/s{eta}"
        )

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
