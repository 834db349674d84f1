"""Cache stage: answers on disk, keyed on everything that changes them.

The key covers the model, the endpoint's identity for local files, the prompt version (a hash
of the prompt files), the schema version, the sampling parameters and the paper's text; the
value is the model's validated answer before grounding, with its token usage, so improving
the grounding never costs a request. The API key is in neither.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import diskcache

from extractor.config import ModelConfig


def cache_key(
    model: ModelConfig, prompt_version: str, schema_version: str, title: str, abstract: str
) -> str:
    settings = json.dumps(
        [
            model.model,
            model.mode,
            model.temperature,
            model.max_tokens,
            prompt_version,
            schema_version,
        ]
    )
    digest = hashlib.sha256(settings.encode())
    # Lengths first, so no title/abstract split of the same characters collides.
    digest.update(f"\0{len(title)}\0{len(abstract)}\0".encode())
    digest.update(title.encode("utf-8", "surrogatepass"))
    digest.update(abstract.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class ResponseCache:
    def __init__(self, directory: Path):
        self.directory = directory
        # Many concurrent writers, one process: SQLite's WAL and a long timeout keep a busy
        # run from failing on "database is locked".
        self._cache = diskcache.Cache(str(directory), timeout=60, size_limit=2**40)

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._cache.get(key)
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        self._cache.set(key, value)

    def stats(self) -> dict[str, Any]:
        entries = len(self._cache)
        tokens_in = tokens_out = 0
        for key in self._cache.iterkeys():
            value = self._cache.get(key)
            if isinstance(value, dict):
                tokens_in += int(value.get("input_tokens", 0))
                tokens_out += int(value.get("output_tokens", 0))
        return {
            "directory": str(self.directory),
            "entries": entries,
            "size_bytes": self._cache.volume(),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
        }

    def clear(self) -> int:
        return self._cache.clear()

    def close(self) -> None:
        self._cache.close()
