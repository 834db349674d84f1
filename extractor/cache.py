"""Cache stage: answers on disk, keyed on everything that changes them.

The key covers the model name, the endpoint that answers (its normalized base URL, or for
the embedded model the identity of the GGUF file), the mode, the sampling parameters, the
prompt version (a hash of the prompt files), the schema version and the paper's text. The API
key is in neither key nor value: two keys for one endpoint get the same answers.

The value is the model's validated answer before grounding, with its token usage, so
improving the grounding never costs a request. It carries a format version ("v"); a value of
another version, or one that cannot be read back as a reply (unpickling fails, a field too
many or missing, a wrong type), is a miss: the paper is asked again and the entry replaced.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import diskcache

from extractor.call import Reply
from extractor.config import ModelConfig

# The format of a cached value; bump it whenever `Reply` or its encoding changes.
CACHE_FORMAT = 1
_FIELDS = {"v", "extraction", "attempts", "input_tokens", "output_tokens"}
_OPTIONAL = {"batch"}  # present only when true: answered through the Batch API

OPENAI_BASE_URL = "https://api.openai.com/v1"  # what the SDK uses when no base URL is given
_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_endpoint(base_url: str | None) -> str:
    """The identity of a remote endpoint: its base URL with case, default port and trailing
    slashes normalized away. User info, query and fragment are dropped: they can carry
    credentials, which never enter the cache, and they do not say which server answers."""
    parts = urlsplit((base_url or "").strip() or OPENAI_BASE_URL)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: keep what was written rather than fail the run
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"url:{scheme}://{netloc}{parts.path.rstrip('/')}"


def cache_key(
    model: ModelConfig,
    endpoint: str,
    prompt_version: str,
    schema_version: str,
    title: str,
    abstract: str,
) -> str:
    """`endpoint` is `url_endpoint(base_url)`, or for the embedded model the identity of its
    file (`extractor.local.model_identity`): the same model name on another server, or a
    local file replaced by another, is another answer."""
    settings = json.dumps(
        [
            model.model,
            endpoint,
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


def encode_reply(reply: Reply) -> dict[str, Any]:
    value = {
        "v": CACHE_FORMAT,
        "extraction": reply.extraction,
        "attempts": reply.attempts,
        "input_tokens": reply.input_tokens,
        "output_tokens": reply.output_tokens,
    }
    if reply.batch:
        value["batch"] = True
    return value


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def decode_reply(value: Any) -> Reply | None:
    """The reply a cached value holds, or None when it is not exactly one of this format."""
    if not isinstance(value, dict) or value.get("v") != CACHE_FORMAT:
        return None
    if not _FIELDS <= set(value) <= _FIELDS | _OPTIONAL or value.get("batch", True) is not True:
        return None
    counts = (value["attempts"], value["input_tokens"], value["output_tokens"])
    if not isinstance(value["extraction"], dict) or not all(_count(n) for n in counts):
        return None
    return Reply(value["extraction"], *counts, batch="batch" in value)


class ResponseCache:
    def __init__(self, directory: Path):
        self.directory = directory
        # Many concurrent writers, one process: SQLite's WAL and a long timeout keep a busy
        # run from failing on "database is locked".
        self._cache = diskcache.Cache(str(directory), timeout=60, size_limit=2**40)

    def _read(self, key: str) -> Any:
        try:
            return self._cache.get(key)
        except Exception:  # unpickling a damaged or foreign value: a miss, never a crash
            return None

    def get_reply(self, key: str) -> Reply | None:
        return decode_reply(self._read(key))

    def set_reply(self, key: str, reply: Reply) -> None:
        self._cache.set(key, encode_reply(reply))

    def stats(self) -> dict[str, Any]:
        entries = len(self._cache)
        tokens_in = tokens_out = unreadable = 0
        for key in self._cache.iterkeys():
            reply = decode_reply(self._read(key))
            if reply is None:
                unreadable += 1
                continue
            tokens_in += reply.input_tokens
            tokens_out += reply.output_tokens
        return {
            "directory": str(self.directory),
            "entries": entries,
            "unreadable": unreadable,
            "size_bytes": self._cache.volume(),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
        }

    def clear(self) -> int:
        return self._cache.clear()

    def close(self) -> None:
        self._cache.close()
