"""The store's files on disk: where a store may live, and creating its files safely.

SQLite opens the store, its ``-wal`` and ``-shm`` files by name and follows symbolic
links, and creates what is missing with the umask's mode. So before SQLite sees a
path, :func:`prepare` checks that no other user controls the store's directory or any
directory above it (:func:`poolsync.trust.untrusted_directory`), creates missing
directories 0700, and creates the store's files itself with ``O_CREAT | O_EXCL |
O_NOFOLLOW``: a dangling link planted in their place, or one planted while poolsync
looks, makes the creation fail instead of redirecting it. Files that already exist must
be regular files owned by the running user or root, and writable by their owner only.

Entry points: :func:`prepare`, :func:`check_file`, :func:`lock_path`.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from poolsync.errors import StoreError
from poolsync.trust import looseness, make_directories, untrusted_directory, user_name

__all__ = ["check_file", "lock_path", "prepare"]

_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _companions(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def check_file(file: Path) -> bool:
    """Refuse one of the store's files that is a link, not a regular file, or that
    another user owns or can write. A missing file is fine: False."""
    try:
        st = os.lstat(file)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise StoreError(
            f"{file} is a symbolic link (to {file.readlink()}); "
            "poolsync's store and its -wal/-shm files must be regular files: "
            "remove the link"
        )
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(
            f"{file} is not a regular file; poolsync's store and its -wal, "
            "-shm and .lock files must be: remove it"
        )
    loose = looseness(file, st)
    if loose is not None:
        raise StoreError(
            f"{file} is {loose.found}: another user can change the store. If it is yours: "
            f"{loose.fix}; if not, remove it (rm {shlex.quote(str(file))}), and run poolsync "
            "as the user that owns the store"
        )
    return True


def _check_directory(store: Path, directory: Path) -> None:
    found = untrusted_directory(directory)
    if found is None:
        return
    where, loose = found
    raise StoreError(
        f"the store {store} is in a directory another user can change: {where} is "
        f"{loose.found}. poolsync keeps its store only where no one but you "
        f"({user_name(os.geteuid())}) and root can create, rename or remove files (a "
        f"directory others can write must be sticky, like /tmp): {loose.fix}, or set "
        "store: in the config to a directory of your own"
    )


def _create(file: Path, mode: int) -> None:
    """Create ``file`` empty with ``mode`` exactly, never through a link; when
    something is there already (made meanwhile), check it instead."""
    try:
        fd = os.open(file, _NEW, mode)
    except FileExistsError:
        check_file(file)
        return
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def prepare(path: Path, *, create: bool) -> bool:
    """Make ``path`` safe for SQLite to open; True when the store exists (now).

    With ``create``, missing directories (0700) and the store's file (0600) are created.
    In a sticky directory others can write, the ``-wal`` and ``-shm`` files are created
    too, with the store's mode, before SQLite would create them, so that no one can
    plant one first (SQLite removes them when the last connection closes).
    """
    try:
        return _prepare(path, create=create)
    except OSError as exc:
        raise StoreError(f"cannot open the store {path}: {exc.strerror or exc}") from exc


def _prepare(path: Path, *, create: bool) -> bool:
    directory = path.absolute().parent
    missing: list[Path] = []
    while not os.path.lexists(directory):
        missing.insert(0, directory)
        directory = directory.parent
    if missing and not create:
        return False
    _check_directory(path, directory)
    if missing:
        make_directories(missing[-1], mode=0o700)
        directory = missing[-1]
        _check_directory(path, directory)
    wal, shm = _companions(path)
    exists = check_file(path)
    for file in (wal, shm, lock_path(path)):
        check_file(file)
    if not exists:
        if not create:
            return False
        # O_EXCL: a link or file that appeared since the check fails the creation
        # and is checked in turn, never followed.
        _create(path, 0o600)
    if directory.stat().st_mode & 0o022:  # sticky (checked): others can create names
        mode = stat.S_IMODE(os.lstat(path).st_mode) & 0o644
        for companion in (wal, shm):
            _create(companion, mode)
    return True
