"""The run lock: one sync run at a time per store.

An flock on a file beside the store (``<store>.lock``), holding the holder's pid for the
message another run prints. The kernel releases it when the process dies, so a killed
run never leaves the store locked; the run that takes the lock next closes the killed
run's history record (:func:`poolsync.store.runs.abandon_stale`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from poolsync.errors import StoreError, StoreLockedError
from poolsync.store.files import check_file, lock_path
from poolsync.trust import trusted_uid

__all__ = ["RunLock"]


class RunLock:
    """The run lock of the store at ``store``; :meth:`take` holds it until :meth:`release`."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self) -> None:
        """Hold the store for one sync run (again: a no-op). Raises StoreLockedError
        when another process holds it."""
        if self._fd is not None:
            return
        lock_file = lock_path(self.store)
        try:
            # O_NOFOLLOW: a link planted in its place must not be truncated.
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the run lock {lock_file}: {exc.strerror}") from exc
        if not trusted_uid(os.fstat(fd).st_uid):  # planted in a shared sticky directory
            os.close(fd)
            check_file(lock_file)
            raise StoreError(f"the run lock {lock_file} belongs to another user: remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"another poolsync run holds {self.store} (pid {holder}); try again later"
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
