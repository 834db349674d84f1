"""A byte-count progress bar on stderr, drawn only for a person watching a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    def __init__(self, total: int, label: str, stream: IO[str] | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        # Logs and CI captures get no carriage-return noise.
        self.enabled = bool(getattr(self._stream, "isatty", lambda: False)())
        self._start = time.monotonic()
        self._last_draw = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last_draw >= 0.2 or self.done >= self.total):
            self._last_draw = now
            self._draw(now)

    def set_label(self, label: str) -> None:
        self.label = label

    def _draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = self.done / max(now - self._start, 1e-6) / 2**20
        self._stream.write(
            f"\r{self.label} [{bar}] {frac:6.1%} "
            f"{self.done / 2**20:,.0f}/{self.total / 2**20:,.0f} MiB {rate:5.1f} MiB/s\x1b[K"
        )
        self._stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()
