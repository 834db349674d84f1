"""From a `--model local:...` spec to a GGUF file on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

from extractor.model.local.errors import LocalModelError, ModelCorruptError, ModelNotFoundError
from extractor.model.local.fetch import Fetcher, fetch_model, find_model
from extractor.model.local.registry import DEFAULT_MODEL, REGISTRY, get_entry

LOCAL_PREFIX = "local:"
GGUF_MAGIC = b"GGUF"


def is_local_spec(model: str | None) -> bool:
    return bool(model) and str(model).startswith(LOCAL_PREFIX)


def spec_name(spec: str) -> str:
    """What follows `local:`: a registry name or a path."""
    return spec[len(LOCAL_PREFIX) :] if spec.startswith(LOCAL_PREFIX) else spec


def resolve(
    spec: str,
    *,
    source_file: Path | None = None,
    fetch: bool = True,
    fetcher: Fetcher | None = None,
) -> Path:
    """The verified model file for `local:NAME` (registry) or `local:/path/to/file.gguf`.

    A registry model missing from this machine is fetched (with a progress bar on a terminal)
    unless `fetch` is false; `source_file` is a copy the user already has, tried first.
    """
    name = spec_name(spec).strip()
    if not name:
        raise ModelNotFoundError(f"empty local model spec {spec!r} (e.g. local:{DEFAULT_MODEL})")
    if name in REGISTRY:
        entry = get_entry(name)
        if source_file is None and (found := find_model(entry)):
            return found
        if not fetch:
            raise ModelNotFoundError(
                f"local model {name} is not on this machine yet "
                f"(run: extractor models --fetch {name})"
            )
        return fetch_model(entry, source_file=source_file, fetcher=fetcher)
    if _looks_like_path(name):
        return check_gguf(Path(name).expanduser())
    get_entry(name)  # raises the "unknown model" error, with the known names
    raise LocalModelError(f"unknown local model {name!r}")  # pragma: no cover


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith(("~", ".")) or name.endswith(".gguf")


def check_gguf(path: Path) -> Path:
    """A file llama.cpp can at least start to read; its own error on a bad file says nothing."""
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelNotFoundError(f"model path is not a file: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelNotFoundError(f"cannot read model file {path}: {e.strerror or e}") from e
    if magic != GGUF_MAGIC:
        raise ModelCorruptError(f"{path} is not a GGUF model file (llama.cpp needs .gguf)")
    return path


def model_identity(spec: str) -> str:
    """What the response cache keys a local model's answers on: the file's content, as far as
    it is known without reading the file.

    A registry model is accepted only when its sha256 matches the registry, so that hash is
    its identity. Any other file is identified by its real path, size and modification time
    (hashing gigabytes on every run would cost more than most runs): replacing or editing the
    file makes every cached answer of the old one a miss.
    """
    name = spec_name(spec).strip()
    if name in REGISTRY:
        return f"sha256:{get_entry(name).sha256}"
    if not _looks_like_path(name):
        get_entry(name)  # raises the "unknown model" error, with the known names
    path = Path(name).expanduser()
    try:
        st = path.stat()
    except OSError as e:
        raise ModelNotFoundError(f"model file not found: {path} ({e.strerror or e})") from e
    stamp = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
    return "file:" + hashlib.sha256(stamp.encode("utf-8", "surrogatepass")).hexdigest()[:32]
