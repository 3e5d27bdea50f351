"""Whose files poolsync trusts: the running user's and root's, and nobody else's.

A config names the commands poolsync runs (a ``{command:}`` secret) and the servers it
sends the password to; a profile and a what-if scenario decide what it reads and
reports; the store holds every subscriber's DN. So poolsync reads those files only when
no other user can have written them: owned by the running user or root, and writable
by nobody but their owner. The check is made on the file actually opened (``fstat`` of
the open descriptor), so nothing can swap the file between the check and the read.

The store's directory, and every directory above it, must be owned by the running user
or root and writable by nobody else unless sticky (like ``/tmp``, where others cannot
rename or remove what is not theirs): whoever can write a directory can plant a link
or rename the store's files there. OpenSSH checks its ``authorized_keys`` the same way.

Entry points: :func:`read_trusted` (a config, profile or what-if file, as bytes),
:func:`untrusted_directory` (the first directory on a path another user controls),
:func:`looseness` (what is wrong with one file's owner and mode, and the fix),
:func:`make_directories` (missing directories with an exact mode, whatever the umask).
"""

from __future__ import annotations

import os
import pwd
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from poolsync.errors import UserError

__all__ = [
    "Looseness",
    "looseness",
    "make_directories",
    "read_trusted",
    "trusted_uid",
    "untrusted_directory",
    "user_name",
]

#: Why each kind of file must be trusted, for the refusal's message.
_WHY = {
    "config": "a config names the commands poolsync runs and the servers it sends the password to",
    "profile": "a profile decides what poolsync reads from the directory and how it counts",
    "what-if scenario": "a what-if scenario changes what the capacity report recommends",
}


def trusted_uid(uid: int) -> bool:
    """The running user or root: the only owners poolsync takes files from."""
    return uid in (os.geteuid(), 0)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _me() -> str:
    return user_name(os.geteuid())


def _expected() -> str:
    me = _me()
    return f"you ({me}) or root" if me != "root" else "root"


def _writers(mode: int) -> str:
    who = [name for bit, name in ((stat.S_IWGRP, "group"), (stat.S_IWOTH, "others")) if mode & bit]
    return " and ".join(who)


@dataclass(frozen=True, slots=True)
class Looseness:
    """What lets another user change a file or directory, and the commands that fix it."""

    found: str  # e.g. "owned by nobody (uid 65534), mode 0666"
    fixes: tuple[str, ...]  # e.g. ("chown root FILE", "chmod go-w FILE")

    @property
    def fix(self) -> str:
        return " && ".join(self.fixes)


def looseness(path: Path, st: os.stat_result, *, sticky_ok: bool = False) -> Looseness | None:
    """None when only the running user or root can change ``path`` (whose stat is
    ``st``); else what was found and the fix. ``sticky_ok``: a directory writable by
    others is fine when sticky (they cannot rename or remove entries not theirs)."""
    mode = stat.S_IMODE(st.st_mode)
    foreign = not trusted_uid(st.st_uid)
    writable = bool(mode & 0o022) and not (sticky_ok and mode & stat.S_ISVTX)
    if not foreign and not writable:
        return None
    found, fixes = [], []
    quoted = shlex.quote(str(path))
    if foreign:
        found.append(f"owned by {user_name(st.st_uid)} (uid {st.st_uid})")
        # Giving a file to oneself takes root.
        sudo = "" if os.geteuid() == 0 else "sudo "
        fixes.append(f"{sudo}chown {shlex.quote(_me())} {quoted}")
    found.append(f"mode {mode:04o}" + (f", writable by {_writers(mode)}" if writable else ""))
    if writable:
        fixes.append(f"chmod go-w {quoted}")
    return Looseness(", ".join(found), tuple(fixes))


def read_trusted(path: Path, *, error: type[UserError], kind: str) -> bytes:
    """The bytes of ``path`` (a ``kind`` of file: config, profile, what-if scenario),
    refused with ``error`` when another user owns it or may write it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # an embedded NUL byte
        raise error(f"{path}: cannot read: {exc}") from exc
    try:
        # fstat the descriptor, not stat the name: what is checked is what is read,
        # even when a link or a rename swaps the name meanwhile.
        loose = looseness(path, os.fstat(fd))
        if loose is not None:
            raise error(
                f"{path}: refused: {loose.found}; expected a file owned by {_expected()} "
                f"that no one else can write, since {_WHY.get(kind, f'a {kind} is trusted')}. "
                f"Check what it says, then: {loose.fix}"
            )
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def untrusted_directory(directory: Path) -> tuple[Path, Looseness] | None:
    """The first directory from ``directory`` (resolved) up to ``/`` that another user
    could write to (or owns), with what was found; None when there is none."""
    real = Path(os.path.realpath(directory))
    for each in (real, *real.parents):
        loose = looseness(each, each.stat(), sticky_ok=True)
        if loose is not None:
            return each, loose
    return None


def make_directories(directory: Path, *, mode: int) -> None:
    """Create ``directory`` and its missing parents with ``mode`` exactly.

    ``mkdir(parents=True)`` gives the parents it creates 0777 less the umask (under
    umask 000, directories everyone can write, which poolsync then refuses), and an odd
    umask such as 0277 would make even the last one unusable.
    """
    missing: list[Path] = []
    while not os.path.lexists(directory):
        missing.insert(0, directory)
        directory = directory.parent
    for each in missing:
        try:
            each.mkdir(mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: the caller checks whose it is
        each.chmod(mode)
