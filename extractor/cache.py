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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import diskcache

from extractor.call import Reply
from extractor.config import ModelConfig

# The format of a cached value; bump it whenever `Reply` or its encoding changes.
CACHE_FORMAT = 1
_FIELDS = {"v", "extraction", "attempts", "input_tokens", "output_tokens"}
# present only when set: answered through the Batch API; input tokens served from the
# provider's prompt cache (absent: none, as in every entry written before it was counted)
_OPTIONAL = {"batch", "cached_input"}

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
    return KeyMaker(model, endpoint, prompt_version, schema_version).key(title, abstract)


class KeyMaker:
    """`cache_key` for one run's settings: they are hashed once, each paper's text after them."""

    def __init__(self, model: ModelConfig, endpoint: str, prompt_version: str, schema_version: str):
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
        self._state = settings.encode()
        self._settings = hashlib.sha256(self._state)

    def __getstate__(self) -> bytes:  # a hash object does not pickle (Ray ships Stages)
        return self._state

    def __setstate__(self, state: bytes) -> None:
        self._state = state
        self._settings = hashlib.sha256(state)

    def key(self, title: str, abstract: str) -> str:
        digest = self._settings.copy()
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
    if reply.cached_input_tokens:
        value["cached_input"] = reply.cached_input_tokens
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
    cached = value.get("cached_input", 0)
    if not isinstance(value["extraction"], dict) or not all(_count(n) for n in (*counts, cached)):
        return None
    return Reply(value["extraction"], *counts, batch="batch" in value, cached_input_tokens=cached)


# A finished record is kept beside its answer, under the answer's key and this suffix:
# the part of the output record that depends on the answer and the text alone (extraction,
# spans, grounding warnings), encoded as the writer writes it, so a rerun served from the
# cache copies it out instead of mining, grounding and encoding the paper again.
RECORD_FORMAT = 2
_RECORD = ".record"
_BATCH = 512


@dataclass(frozen=True)
class Finished:
    """The answer-dependent part of one output record, as the cache keeps it.

    `version` names everything besides the answer that the record was made with (the
    grounding code, the label policy: `Stages.record_version`); a record of another version
    is not served."""

    version: str
    body: str  # '"extraction":{...},"spans":{...}', exactly as the writer encodes them
    warnings: tuple[str, ...]  # the grounding's warnings
    attempts: int
    input_tokens: int
    output_tokens: int
    batch: bool = False
    cached_input_tokens: int = 0

    def encode(self) -> tuple[Any, ...]:
        return (RECORD_FORMAT, self.version, self.body, list(self.warnings), self.attempts,
                self.input_tokens, self.output_tokens, self.batch, self.cached_input_tokens)  # fmt: skip

    @classmethod
    def decode(cls, value: Any, version: str) -> Finished | None:
        """None unless `value` is exactly a finished record of this format and version."""
        if type(value) is not tuple or len(value) != 9 or value[0] != RECORD_FORMAT:
            return None
        _, got, body, warnings, attempts, tokens_in, tokens_out, batch, cached = value
        if got != version or type(body) is not str or type(batch) is not bool:
            return None
        if type(warnings) is not list or (warnings and not all(type(w) is str for w in warnings)):
            return None
        # run once a record on a rerun: exact types, no bools for counts, checked inline
        if not (type(attempts) is type(tokens_in) is type(tokens_out) is type(cached) is int):
            return None
        if attempts < 0 or tokens_in < 0 or tokens_out < 0 or cached < 0:
            return None
        return cls(version, body, tuple(warnings), attempts, tokens_in, tokens_out, batch, cached)


class ResponseCache:
    def __init__(self, directory: Path):
        self.directory = directory
        # Many concurrent writers, one process: SQLite's WAL and a long timeout keep a busy
        # run from failing on "database is locked".
        self._cache = diskcache.Cache(str(directory), timeout=60, size_limit=2**40)
        self._pending: dict[str, tuple[Any, ...]] = {}  # finished records not yet written

    def _read(self, key: str) -> Any:
        try:
            return self._cache.get(key)
        except Exception:  # unpickling a damaged or foreign value: a miss, never a crash
            return None

    def get_reply(self, key: str) -> Reply | None:
        return decode_reply(self._read(key))

    def set_reply(self, key: str, reply: Reply, finished: Finished | None = None) -> None:
        """The answer, and the record made from it if given; in one transaction, so a
        record never outlives the answer it was made from."""
        record = key + _RECORD
        self._pending.pop(record, None)  # made from the answer this one replaces
        with self._cache.transact():
            self._cache.set(key, encode_reply(reply))
            if finished is not None:
                self._cache.set(record, finished.encode())
            else:
                self._cache.delete(record)

    def get_finished(self, key: str, version: str) -> Finished | None:
        """The finished record of the answer under `key`, if one of `version` is kept."""
        return Finished.decode(self._read(key + _RECORD), version)

    def set_finished(self, key: str, finished: Finished) -> None:
        """Keep a record made from the cached answer under `key`. Written in batches (a
        transaction each cost 0.2-0.5 ms here, as much as grounding the record again): a record
        is only ever a shortcut, so one lost to a crash is just made again."""
        self._pending[key + _RECORD] = finished.encode()
        if len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the records `set_finished` holds. Never raises: a record is a shortcut, and
        one that cannot be written (a locked database, a full disk) is made again next time;
        the answers themselves are written by `set_reply`, which does raise."""
        pending, self._pending = self._pending, {}
        if pending:
            try:
                with self._cache.transact():
                    for record, value in pending.items():
                        self._cache.set(record, value)
            except Exception:
                pass

    def stats(self) -> dict[str, Any]:
        entries = records = 0
        tokens_in = tokens_out = unreadable = 0
        for key in self._cache.iterkeys():
            if isinstance(key, str) and key.endswith(_RECORD):
                records += 1  # derived from an answer, counted apart
                continue
            entries += 1
            reply = decode_reply(self._read(key))
            if reply is None:
                unreadable += 1
                continue
            tokens_in += reply.input_tokens
            tokens_out += reply.output_tokens
        return {
            "directory": str(self.directory),
            "entries": entries,
            "records": records,
            "unreadable": unreadable,
            "size_bytes": self._cache.volume(),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
        }

    def clear(self) -> int:
        """Delete everything; the number of answers deleted (records made from them go too)."""
        self._pending.clear()
        answers = sum(1 for key in self._cache.iterkeys() if not str(key).endswith(_RECORD))
        self._cache.clear()
        return answers

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._cache.close()
