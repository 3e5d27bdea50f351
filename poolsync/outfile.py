"""Output files (``--out``, ``--metrics-file``, the lab's configs): where one may be
written (:func:`checked_target`) and the one way it is written (:func:`write_atomic`).

An output replaces its target by renaming a temporary file over it. Renamed over a
device, that turns ``/dev/null`` into a regular file (as root); over a symlink, it
replaces the link, or, followed blindly, writes wherever someone else pointed it. So a
target must be a regular file or not exist; a symlink only with ``--follow-symlinks``,
and then its final target must be a regular file or missing.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from poolsync.errors import PoolsyncError, UserError

__all__ = ["PRIVATE", "checked_target", "write_atomic"]

PRIVATE = 0o600  # reports and exports hold the directory's data

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def checked_target(
    path: Path, *, follow_symlinks: bool = False, error: type[PoolsyncError] = UserError
) -> Path:
    """The file to replace for ``path``: itself, or (``follow_symlinks``) what its link
    resolves to. Raises ``error`` for a symlink without ``follow_symlinks`` and for
    anything but a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise error(f"{path}: cannot check it: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(st.st_mode):
        if not follow_symlinks:
            raise error(
                f"{path} is a symbolic link (to {path.readlink()}); poolsync "
                "replaces only regular files: give the target itself, or add "
                "--follow-symlinks"
            )
        target = path.resolve()
        try:
            st = target.stat()
        except FileNotFoundError:
            return target
        path = target
    if not stat.S_ISREG(st.st_mode):
        raise error(
            f"{path} is {_kind(st.st_mode)}, not a regular file; poolsync writes "
            "output only to regular files (use - for standard output)"
        )
    return path


def write_atomic(
    path: Path,
    text: str | bytes | Iterable[str],
    *,
    mode: int = PRIVATE,
    follow_symlinks: bool = False,
    error: type[PoolsyncError] = UserError,
    what: str = "",
) -> None:
    """Replace ``path`` with ``text`` (a string, bytes, or pieces written as they come)
    so that a reader sees the old file or the new one, never half of either.

    The text goes to a temporary file beside the target, created exclusively under a
    random name (``.<name>.<random>.tmp``: never through a link planted there, and not
    ``*.prom`` for node_exporter's textfile collector), made ``mode`` exactly whatever
    the umask or the mode of a file it replaces, flushed to disk and renamed over the
    target (:func:`checked_target` first: a regular file or nothing, a symlink only with
    ``follow_symlinks``). On any failure, Ctrl-C included, the target is left as it was
    and the temporary file removed; an OSError becomes ``error``: "cannot write
    {what}{path}: {reason}", one line.
    """
    path = checked_target(path, follow_symlinks=follow_symlinks, error=error)
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            pieces = [text] if isinstance(text, str | bytes) else text
            for piece in pieces:
                handle.write(piece if isinstance(piece, bytes) else piece.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException as exc:  # Ctrl-C included: never leave the temporary file
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            reason = (exc.strerror or str(exc) or type(exc).__name__).replace("\n", " ")
            raise error(f"cannot write {what}{path}: {reason}") from exc
        raise
