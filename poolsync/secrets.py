"""Secrets by reference: an environment variable, a file or a command, never inline.

A :class:`SecretRef` names where a secret lives; :meth:`SecretRef.resolve` fetches it
when it is needed (at bind time), not when the config is loaded. A ``SecretRef``'s
``str()`` and ``repr()`` show only the kind and the variable name, path or command,
and no error message ever contains the secret or a command's output.

Entry points: :class:`SecretRef`, :meth:`SecretRef.from_node` (parse
``{env: VAR}`` / ``{file: PATH}`` / ``{command: "..."}`` from a config file).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import stat
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from poolsync.errors import SecretError
from poolsync.hardening import protect_process
from poolsync.yamlfile import Node, describe

SecretKind = Literal["env", "file", "command"]
SECRET_KINDS: tuple[SecretKind, ...] = ("env", "file", "command")
COMMAND_TIMEOUT = 30.0
"""Seconds a secret command may run before it is killed."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _strip_newline(text: str) -> str:
    """Remove one trailing newline (``echo`` and editors add one), nothing else."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives.

    ``value`` is the environment variable's name, the file's path or the command
    line. ``origin`` (e.g. ``"poolsync.yaml: directory.bind.password"``) prefixes
    error messages so a failed lookup points back at the config key.
    """

    kind: SecretKind
    value: str
    origin: str = field(default="", compare=False, kw_only=True)

    def __repr__(self) -> str:
        return f"SecretRef(kind={self.kind!r}, value={self.value!r})"

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def resolve(self, *, timeout: float = COMMAND_TIMEOUT) -> str:
        """The secret itself; raises :class:`SecretError` (which never contains it).

        First the process is protected (:func:`poolsync.hardening.protect_process`):
        from here on it holds a secret, so it must not dump core.
        """
        protect_process()
        if self.kind == "env":
            return self._from_env()
        if self.kind == "file":
            return self._from_file()
        return self._from_command(timeout)

    def _error(self, message: str) -> SecretError:
        return SecretError(f"{self.origin}: {message}" if self.origin else message)

    def _from_env(self) -> str:
        secret = os.environ.get(self.value)
        if secret is None:
            raise self._error(f"environment variable {self.value} is not set")
        if not secret:
            raise self._error(f"environment variable {self.value} is empty")
        return secret

    def _from_file(self) -> str:
        path = self.value
        data = read_private_file(path, what="secret file", error=self._error)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # The codec's message quotes a byte of the secret; say nothing about it.
            raise self._error(f"secret file {path} is not valid UTF-8") from None
        secret = _strip_newline(text)
        if not secret:
            raise self._error(f"secret file {path} is empty")
        return secret

    def _from_command(self, timeout: float) -> str:
        try:
            argv = shlex.split(self.value)
        except ValueError as exc:
            raise self._error(f"secret command {self.value!r}: cannot parse: {exc}") from None
        if not argv:
            raise self._error("secret command is empty")
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            # from None: TimeoutExpired carries the partial output.
            raise self._error(
                f"secret command {self.value!r} did not finish within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise self._error(
                f"secret command {self.value!r}: cannot run {argv[0]}: {exc.strerror or exc}"
            ) from None
        if result.returncode < 0:
            raise self._error(
                f"secret command {self.value!r} was killed by signal "
                f"{_signal_name(-result.returncode)}"
            )
        if result.returncode != 0:
            # Neither stdout nor stderr: a failing command may still print the secret.
            raise self._error(
                f"secret command {self.value!r} failed with exit status {result.returncode}"
            )
        try:
            text = result.stdout.decode("utf-8")
        except UnicodeDecodeError:
            raise self._error(
                f"secret command {self.value!r} printed something that is not valid UTF-8"
            ) from None
        secret = _strip_newline(text)
        if not secret:
            raise self._error(f"secret command {self.value!r} printed nothing")
        return secret

    @classmethod
    def from_node(cls, parent: Node, key: str, *, base_dir: Path) -> SecretRef:
        """Parse ``parent[key]``: exactly one of ``{env: VAR}``, ``{file: PATH}``,
        ``{command: "..."}``. A relative ``file`` is relative to ``base_dir``.

        An inline string is rejected, and the rejection does not echo it.
        """
        value = parent.raw(key)
        if not isinstance(value, Mapping):
            raise parent.error(
                f"an inline {key} is not allowed; refer to it with "
                '{env: VARIABLE}, {file: PATH} or {command: "..."}',
                key=key,
            )
        node = Node.wrap(
            value, file=parent.file, keypath=parent.path_of(key), error_type=parent.error_type
        )
        node.check_keys(SECRET_KINDS)
        given = node.keys()
        if len(given) != 1:
            got = " and ".join(given) if given else "an empty mapping"
            raise node.error(f"expected exactly one of env, file, command, got {got}")
        kind = next(k for k in SECRET_KINDS if k == given[0])
        text = node.required_str(kind)
        origin = f"{parent.file}: {parent.path_of(key)}"
        if kind == "env":
            if not _ENV_NAME.fullmatch(text):
                raise node.expected(
                    "an environment variable name (letters, digits, _)", text, key=kind
                )
            return cls("env", text, origin=origin)
        if kind == "file":
            return cls("file", str(base_dir / text), origin=origin)
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise node.error(
                f"expected a command line, got {describe(text)} ({exc})", key=kind
            ) from exc
        if not argv:
            raise node.expected("a command line", text, key=kind)
        return cls("command", text, origin=origin)


def read_private_file(path: str, *, what: str, error: Callable[[str], SecretError]) -> bytes:
    """The bytes of ``path``, a regular file only its owner may read (a secret file, a
    keytab); ``error`` builds the :class:`SecretError` for what is wrong (which names
    the file and the fix, never a byte of it)."""
    try:
        # O_NONBLOCK: opening a FIFO must not hang; the checks below reject it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"{what} {path}: {exc.strerror or exc}") from None
    except ValueError:  # e.g. an embedded NUL byte in the path
        raise error(f"{what} {path!r}: not a valid path") from None
    try:
        # fstat the open file, not stat the name: nothing can swap it in between.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            wanted = (mode & 0o700) | 0o400
            raise error(
                f"{what} {path} has mode {mode:04o}; make it {wanted:04o} "
                f"(chmod {wanted:o} {shlex.quote(path)}) so only its owner can read it"
            )
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        try:
            return handle.read()
        except OSError as exc:
            raise error(f"{what} {path}: {exc.strerror or exc}") from None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
