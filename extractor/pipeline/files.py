"""What a command may do to the paths it writes: one set of rules for `run`, `table`, `report`.

- A regular file, or a path that does not exist yet, is written to a temporary file with a
  unique name beside it (`NAME.XXXXXXXX.partial`) and renamed over it only when the command
  succeeds: a reader sees the old file or the new one, never a mix, and a failure (a full
  disk, Ctrl-C, a crash) never destroys the old one.
- A symlink is followed: the temporary file is made beside its target and renamed over the
  target, so the link stays a link and what it names gets the data.
- Anything else that exists (`/dev/stdout`, a FIFO, a socket, a terminal), and any path to
  one of this process's open files (`/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`, even when
  that is a regular file), is written through in place and appended to: renaming over it
  would replace the node itself, truncating it would cut the shell's `>> log`.
- A directory, a missing parent directory, a folder no file can be created in, or one path
  given for two roles (the input and the output, the output and the errors file) is an
  `OutputError`: one line, exit status 2, found before any work is done where it can be.
- `Locks` holds an advisory lock beside each output while a run writes it, so a second run
  with the same output says it is busy instead of interleaving with the first.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from extractor.errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: runs are not locked against each other
    fcntl = None  # type: ignore[assignment]

PARTIAL_SUFFIX = ".partial"


def write_error(path: str, error: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {error.strerror or error}")


@dataclass(frozen=True)
class Target:
    """Where a path's bytes really land."""

    given: str  # as the user wrote it, for messages
    path: str  # the file renamed over (a symlink's target), or the node written in place
    in_place: bool  # a device, FIFO or socket: written through, never renamed over

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path) or "."


_DESCRIPTORS = ("/proc/", "/dev/fd/")


def _names_a_descriptor(path: str) -> bool:
    """`/dev/stdout`, `/dev/fd/1`, `/proc/self/fd/1`: an open file of this process, whatever
    it is (`>> log` included), which only writing through to it can respect. Their links
    lead through /proc, so the chain of links is walked before `realpath` hides it."""
    for _ in range(40):  # the kernel's own limit on links followed
        path = os.path.abspath(path)
        if path.startswith(_DESCRIPTORS):
            return True
        if not os.path.islink(path):
            return False
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    return False


def resolve(path: str) -> Target:
    """The target of an output path; an OutputError for one that can never be written."""
    if not path:
        raise OutputError("an empty path cannot be written")
    if path.endswith(("/", os.sep)):
        raise OutputError(f"{path}: names a folder, not a file")
    try:
        # The node itself, links followed by the kernel (also /proc's, which realpath cannot).
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"{path}: {e.strerror or e}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path}: is a directory")
    if st is not None and (not stat.S_ISREG(st.st_mode) or _names_a_descriptor(path)):
        return Target(path, path, in_place=True)
    target = Target(path, os.path.realpath(path), in_place=False)
    if not os.path.isdir(target.directory):
        shown = os.path.dirname(path) or "."
        if os.path.isdir(shown):  # a dangling link: its target's folder is the one missing
            shown = target.directory
        raise OutputError(f"{path}: directory {shown} does not exist")
    return target


def probe(target: Target) -> None:
    """Fail now, not after the requests are paid, when no file can be created beside the
    target (a read-only folder, no permission): by creating and removing one."""
    if target.in_place:
        if not os.access(target.path, os.W_OK):
            raise OutputError(f"cannot write {target.given}: permission denied")
        return
    try:
        fd, name = tempfile.mkstemp(prefix=".extractor-probe-", dir=target.directory)
    except OSError as e:
        raise OutputError(
            f"cannot write {target.given}: {e.strerror or e} (in {target.directory})"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def prepare(path: str) -> Target:
    target = resolve(path)
    probe(target)
    return target


# -- one path, one role ------------------------------------------------------------------


def _same(a: str, b: str) -> bool:
    """One file under two names. Only files count: a terminal that is both stdin and stdout
    (`run /dev/stdin -o /dev/stdout`) is read and written without harm."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:  # one does not exist yet: the same only if both names lead to one path
        return os.path.realpath(a) == os.path.realpath(b)
    # hard links, bind mounts, /dev/fd/N and /proc/self/fd/N, symlinks
    return stat.S_ISREG(sa.st_mode) and os.path.samestat(sa, sb)


def refuse_same(outputs: Sequence[tuple[str, str | None]], inputs: Iterable[str] = ()) -> None:
    """An OutputError when one file is named for two roles: `outputs` are (role, path)
    pairs, `inputs` files read. stdin and stdout (`-`) are no file."""
    named = [(role, p) for role, p in outputs if p and p != "-"]
    named += [("input", p) for p in inputs if p and p != "-"]
    for i, (role_a, a) in enumerate(named):
        for role_b, b in named[i + 1 :]:
            if role_a == role_b == "input":
                continue  # reading a file twice is harmless
            if _same(a, b):
                what = f"{a}" if a == b else f"{a} and {b}"
                raise OutputError(
                    f"{what}: the same file as {role_a} and as {role_b}; give another path"
                )


# -- the temporary file ------------------------------------------------------------------

_umask: int | None = None


def _new_file_mode() -> int:
    global _umask
    if _umask is None:  # os.umask can only be read by setting it
        _umask = os.umask(0o022)
        os.umask(_umask)
    return 0o666 & ~_umask


def open_temp(target: Target, *, binary: bool = False) -> tuple[IO[Any], str]:
    """A new file beside the target, with the target's permissions (mkstemp's are 0600)."""
    name = os.path.basename(target.path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{name}.", suffix=PARTIAL_SUFFIX, dir=target.directory)
    except OSError as e:
        raise write_error(target.given, e) from None
    try:
        try:
            mode = stat.S_IMODE(os.stat(target.path).st_mode)
        except FileNotFoundError:
            mode = _new_file_mode()
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, mode)
        fh = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fh, tmp


def finish_temp(fh: IO[Any], path: str) -> None:
    """Flush, sync and close: a full disk shows here at the latest, before any rename."""
    try:
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
    except OSError as e:
        with contextlib.suppress(OSError):
            fh.close()
        raise write_error(path, e) from None


def rename_over(tmp: str, target: Target) -> None:
    try:
        os.replace(tmp, target.path)
    except OSError as e:
        raise write_error(target.given, e) from None


def drop(fh: IO[Any] | None, tmp: str | None) -> None:
    """Close without complaint (a full disk fails the close's flush again) and remove."""
    if fh is not None:
        with contextlib.suppress(OSError):
            fh.close()
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def replacing(path: str, *, binary: bool = False) -> Iterator[IO[Any]]:
    """A file to write `path` through: it replaces `path` when the block ends normally and
    is dropped when it raises (an OSError becomes an OutputError naming `path`)."""
    target = resolve(path)
    if target.in_place:
        try:
            # Appended to, never truncated: a descriptor may be the shell's `>> log`.
            with open(target.path, "ab" if binary else "a", encoding=None if binary else "utf-8") as fh:  # fmt: skip
                yield fh
        except OSError as e:
            raise write_error(path, e) from None
        return
    fh, tmp = open_temp(target, binary=binary)
    try:
        try:
            yield fh
        except OSError as e:
            raise write_error(path, e) from None
        finish_temp(fh, path)
        rename_over(tmp, target)
    except BaseException:
        drop(fh, tmp)
        raise


def write_text(path: str, text: str) -> None:
    """`path` replaced by `text` (UTF-8, line endings as given), or left as it was."""
    with replacing(path) as fh:
        fh.write(text)


# -- one writer at a time ----------------------------------------------------------------


class Locks:
    """Advisory locks (flock) on `.NAME.lock` beside each target, held until `release`.

    The lock file is removed on release, so a finished run leaves nothing behind; a run that
    opened it just before would then hold a lock on a removed file, so after locking, the
    name must still be the file that was locked (else it tries again)."""

    def __init__(self) -> None:
        self._held: list[tuple[str, int]] = []

    def acquire(self, target: Target) -> None:
        if fcntl is None or target.in_place:
            return
        lock = os.path.join(target.directory, f".{os.path.basename(target.path)}.lock")
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise write_error(target.given, e) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise OutputError(
                    f"{target.given} is busy: another run is writing it (lock {lock}); "
                    "wait for it to finish, or write elsewhere"
                ) from None
            try:
                current = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                current = False
            if current:
                self._held.append((lock, fd))
                return
            os.close(fd)

    def release(self) -> None:
        while self._held:
            lock, fd = self._held.pop()
            with contextlib.suppress(OSError):
                os.unlink(lock)  # while still locked: see the class doc
            os.close(fd)

    def __enter__(self) -> Locks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
