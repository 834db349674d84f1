"""Cache stage: answers on disk, keyed on everything that changes them.

The key covers the model name, the endpoint that answers (its normalized base URL, or for
the embedded model the identity of the GGUF file), the mode, the sampling parameters, the
prompt version (a hash of the prompt files), the schema version and the paper's text. The API
key is in neither key nor value: two keys for one endpoint get the same answers.

The value is the model's validated answer before grounding, with its token usage, so
improving the grounding never costs a request. It carries a format version ("v"); a value of
another version, or one that cannot be read back as a reply (not JSON, a field too many or
missing, a wrong type), is a miss: the paper is asked again and the entry replaced.

Values are stored as JSON (`JsonDisk`), never as pickles: a cache directory is just files,
and a pickle planted in one would run code on the next `run` or even `cache stats`. Caches
written before held pickles of plain data; those are still read, by an unpickler that refuses
every class and function, so an upgrade does not pay for every answer again.

A cache that cannot be opened (not a database, the wrong tables, a read-only or missing
directory) is a `CacheError`, with the way out in its message: the run stops before it sends
anything rather than pay for answers it could not keep.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import diskcache
import orjson
from diskcache.core import MODE_BINARY, MODE_PICKLE, MODE_RAW, MODE_TEXT, UNKNOWN

from extractor.config import ModelConfig
from extractor.errors import CacheError
from extractor.model.call import Reply

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
    file (`extractor.model.local.model_identity`): the same model name on another server, or a
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
        # a list as JSON gives it back; a tuple from a cache written before (a pickle)
        if type(value) not in (list, tuple) or len(value) != 9 or value[0] != RECORD_FORMAT:
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


class UnreadableEntry(Exception):
    """One value that cannot be read back safely: a miss, never a crash or a code path."""


class _PlainData(pickle.Unpickler):
    """Old entries are pickles of dicts, tuples, strings and numbers, none of which needs a
    global; a pickle that names a class or function is not ours, and loading it could run
    anything, so every global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def plain_unpickle(data: bytes) -> Any:
    """A pickle's plain data, or UnreadableEntry: it never imports or calls anything."""
    try:
        return _PlainData(io.BytesIO(data)).load()
    except Exception as e:  # malformed, truncated, a refused global, too deep
        raise UnreadableEntry(f"not a plain-data pickle ({type(e).__name__})") from None


# The value files diskcache writes: two levels of two hex digits, then 28 hex digits.
_VALUE_FILE = re.compile(r"[0-9a-f]{2}[/\\][0-9a-f]{2}[/\\][0-9a-f]{28}\.val")
_HEX2 = re.compile(r"[0-9a-f]{2}")
# What diskcache itself keeps in a cache directory besides those files.
DB_FILES = ("cache.db", "cache.db-wal", "cache.db-shm", "cache.db-journal")


class JsonDisk(diskcache.Disk):
    """diskcache's serialization, with JSON for values and nothing unpickled unsafely.

    Keys stay diskcache's raw strings, exactly as before, so old entries keep their keys.
    Values are written as UTF-8 JSON bytes; on reading, bytes are JSON and a pickle (an entry
    from before) goes through `plain_unpickle`. A row naming a value file outside the cache's
    own layout (a planted `../../somewhere`) is neither read nor deleted."""

    def __init__(self, directory: str, min_file_size: Any = 2**15, **_settings: Any):
        # the settings come from the database's own table, which is data like the rest
        size = min_file_size if type(min_file_size) is int and min_file_size >= 0 else 2**15
        super().__init__(directory, min_file_size=size, pickle_protocol=0)

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError("response cache keys are strings")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if raw:
            return bytes(key) if isinstance(key, bytes) else key
        try:  # a pickled key: written by another program (ours are raw strings)
            return plain_unpickle(bytes(key))
        except (UnreadableEntry, TypeError):
            return None

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> Any:
        if read:
            raise TypeError("the response cache stores JSON values, not files")
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return super().store(data, False, key=key)

    def _file(self, filename: Any) -> str:
        if not isinstance(filename, str) or not _VALUE_FILE.fullmatch(filename):
            raise UnreadableEntry("a value file outside the cache's layout")
        return os.path.join(self._directory, filename)

    def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
        if value is None:  # kept in a value file of its own (a big one)
            with open(self._file(filename), "rb") as fh:
                data = fh.read()
        elif isinstance(value, bytes):
            data = bytes(value)
        else:
            return value  # a raw string or number: never a reply, `decode_reply` says so
        if mode == MODE_PICKLE:
            return plain_unpickle(data)
        if mode not in (MODE_RAW, MODE_BINARY, MODE_TEXT):
            raise UnreadableEntry(f"unknown storage mode {mode!r}")
        try:
            # orjson: 4 us a finished record where json takes 22 (a cached rerun reads one a
            # record); json after it only for what orjson refuses (NaN, as json writes it)
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise UnreadableEntry("not JSON") from None

    def remove(self, file_path: Any) -> None:
        if isinstance(file_path, str) and _VALUE_FILE.fullmatch(file_path):
            super().remove(file_path)
        # anything else a row names is not the cache's to delete


def _problem(directory: Path, error: BaseException) -> CacheError:
    """What is wrong with the cache directory, and the way out, in one line."""
    text = str(error)
    flag = f"--cache-dir {directory}"
    if isinstance(error, sqlite3.OperationalError) and "locked" in text:
        return CacheError(
            f"the response cache in {directory} is busy (another run is writing it); wait for "
            "it, or give another --cache-dir"
        )
    if isinstance(error, diskcache.Timeout):
        return CacheError(f"the response cache in {directory} is busy (another run holds it)")
    if isinstance(error, (OSError, sqlite3.OperationalError)) and (
        isinstance(error, OSError) or "readonly" in text or "unable to open" in text
    ):
        reason = getattr(error, "strerror", None) or text
        return CacheError(
            f"cannot use the response cache in {directory} ({reason}): give a writable "
            "--cache-dir, or --no-cache"
        )
    return CacheError(
        f"the response cache in {directory} is damaged ({text or type(error).__name__}): "
        f"`extractor cache clear {flag}` starts it afresh (its answers are lost), or run "
        "with --no-cache or another --cache-dir",
        damaged=True,
    )


# Every column diskcache reads: a table of another shape is not a cache of ours.
_COLUMNS = (
    "SELECT rowid, key, raw, store_time, expire_time, access_time, access_count, tag, size,"
    " mode, filename, value FROM Cache LIMIT 1"
)


def _warn_stderr(message: str) -> None:
    print(f"extractor: warning: {message}", file=sys.stderr)


class ResponseCache:
    """The answers on disk.

    Opening never raises (the run opens it before it reads its papers); a cache that cannot
    be used raises its `CacheError` on first use, so the run stops there with that line
    and exit 2, before any request. `notice` hears, once, that some entry could not be read
    safely (it is then a miss)."""

    def __init__(self, directory: Path, notice: Callable[[str], None] | None = None):
        self.directory = directory
        self._notice = notice or _warn_stderr
        self._noticed = False
        self._pending: dict[str, Any] = {}  # finished records not yet written
        self._error: CacheError | None = None
        self._store: diskcache.Cache | None = None
        try:
            if directory.exists() and not directory.is_dir():
                raise NotADirectoryError(20, "not a directory", str(directory))
            # Many concurrent writers, one process: SQLite's WAL and a long timeout keep a
            # busy run from failing on "database is locked".
            self._store = diskcache.Cache(
                str(directory), timeout=60, size_limit=2**40, disk=JsonDisk
            )
            self._store._sql(_COLUMNS).fetchall()
        except (sqlite3.Error, OSError, diskcache.Timeout, ValueError, KeyError) as e:
            # (diskcache raises ValueError and KeyError on settings it does not know)
            self._error = _problem(directory, e)
            if self._store is not None:
                self._store.close()
                self._store = None

    @property
    def error(self) -> CacheError | None:
        """Why this cache cannot be used; None when it can."""
        return self._error

    @property
    def _cache(self) -> diskcache.Cache:
        if self._store is None:
            assert self._error is not None
            raise self._error
        return self._store

    def _failed(self, error: Exception) -> CacheError:
        return error if isinstance(error, CacheError) else _problem(self.directory, error)

    def _read(self, key: str) -> Any:
        cache = self._cache
        try:
            return cache.get(key)
        except (sqlite3.Error, diskcache.Timeout) as e:
            raise self._failed(e) from None
        except Exception as e:  # unreadable value (or its file): a miss, never a crash
            if not self._noticed:
                self._noticed = True
                self._notice(
                    f"an entry of the response cache in {self.directory} could not be read "
                    f"safely ({e}): treated as not cached, its paper is asked again (later "
                    "ones are not reported)"
                )
            return None

    def get_reply(self, key: str) -> Reply | None:
        return decode_reply(self._read(key))

    def set_reply(self, key: str, reply: Reply, finished: Finished | None = None) -> None:
        """The answer, and the record made from it if given; in one transaction, so a
        record never outlives the answer it was made from."""
        record = key + _RECORD
        self._pending.pop(record, None)  # made from the answer this one replaces
        cache = self._cache
        try:
            with cache.transact():
                cache.set(key, encode_reply(reply))
                if finished is not None:
                    cache.set(record, finished.encode())
                else:
                    cache.delete(record)
        except (sqlite3.Error, diskcache.Timeout) as e:
            raise self._failed(e) from None

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
        if pending and self._store is not None:
            try:
                with self._store.transact():
                    for record, value in pending.items():
                        self._store.set(record, value)
            except Exception:
                pass

    def stats(self) -> dict[str, Any]:
        entries = records = 0
        tokens_in = tokens_out = unreadable = 0
        cache = self._cache
        try:
            for key in cache.iterkeys():
                if isinstance(key, str) and key.endswith(_RECORD):
                    records += 1  # derived from an answer, counted apart
                    continue
                entries += 1
                reply = decode_reply(self._read(key)) if isinstance(key, str) else None
                if reply is None:
                    unreadable += 1
                    continue
                tokens_in += reply.input_tokens
                tokens_out += reply.output_tokens
            size = cache.volume()
        except (sqlite3.Error, diskcache.Timeout) as e:
            raise self._failed(e) from None
        return {
            "directory": str(self.directory),
            "entries": entries,
            "records": records,
            "unreadable": unreadable,
            "size_bytes": size,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
        }

    def clear(self) -> int:
        """Delete everything; the number of answers deleted (records made from them go too)."""
        self._pending.clear()
        cache = self._cache
        try:
            answers = sum(1 for key in cache.iterkeys() if not str(key).endswith(_RECORD))
            cache.clear()
        except (sqlite3.Error, diskcache.Timeout) as e:
            raise self._failed(e) from None
        return answers

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._store is not None:
                self._store.close()


def remove_cache_files(directory: Path) -> list[Path]:
    """Delete a cache that cannot be opened: the database and its journals, and the value
    files in diskcache's own layout (`ab/cd/<28 hex>.val`), with the folders they leave
    empty. Nothing else in the directory is touched: it may be a folder the user shares
    with other files. The paths removed."""
    removed: list[Path] = []
    for name in DB_FILES:
        path = directory / name
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    for top in sorted(directory.iterdir()) if directory.is_dir() else ():
        if not (_HEX2.fullmatch(top.name) and top.is_dir() and not top.is_symlink()):
            continue
        for sub in sorted(top.iterdir()):
            if not (_HEX2.fullmatch(sub.name) and sub.is_dir() and not sub.is_symlink()):
                continue
            for value in sorted(sub.iterdir()):
                relative = f"{top.name}/{sub.name}/{value.name}"
                if _VALUE_FILE.fullmatch(relative) and value.is_file() and not value.is_symlink():
                    value.unlink()
                    removed.append(value)
            _rmdir_if_empty(sub)
        _rmdir_if_empty(top)
    return removed


def _rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # something of the user's is in it: it stays
        path.rmdir()
