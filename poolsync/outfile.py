"""Where an output file (``--out``, ``--metrics-file``) may be written (no I/O but a stat).

An output replaces its target by renaming a temporary file over it. Renamed over a
device, that turns ``/dev/null`` into a regular file (as root); over a symlink, it
replaces the link, or, followed blindly, writes wherever someone else pointed it. So a
target must be a regular file or not exist; a symlink only with ``--follow-symlinks``,
and then its final target must be a regular file or missing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from poolsync.errors import PoolsyncError, UserError

__all__ = ["checked_target"]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def checked_target(path: Path, *, follow_symlinks: bool = False,
                   error: type[PoolsyncError] = UserError) -> Path:
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
            raise error(f"{path} is a symbolic link (to {path.readlink()}); poolsync "
                        "replaces only regular files: give the target itself, or add "
                        "--follow-symlinks")
        target = path.resolve()
        try:
            st = target.stat()
        except FileNotFoundError:
            return target
        path = target
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path} is {_kind(st.st_mode)}, not a regular file; poolsync writes "
                    "output only to regular files (use - for standard output)")
    return path
