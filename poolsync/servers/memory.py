"""An in-memory :class:`~poolsync.servers.source.LicenseSource`: servers as data.

For tests and for code that must not do I/O: each server's name maps to the
:class:`~poolsync.attachment.LicenseData` it would answer, or to the
:class:`~poolsync.servers.errors.ServerError` it would fail with. A server it does not
know is unreachable, as a host that does not answer. Names match case-insensitively,
as Location names do.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from poolsync.attachment import LicenseData
from poolsync.servers.endpoints import ServerEndpoints
from poolsync.servers.errors import ServerError, ServerUnavailable
from poolsync.servers.model import Source

__all__ = ["MemorySource"]

Answer = LicenseData | ServerError


class MemorySource:
    """Answers from a mapping of server name to license (or error)."""

    def __init__(self, source: Source, servers: Mapping[str, Answer] | None = None) -> None:
        self._source: Source = source
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        #: The names asked, in order (a probe asks from several threads).
        self.calls: list[str] = []
        for name, answer in (servers or {}).items():
            self.set(name, answer)

    @property
    def source(self) -> Source:
        return self._source

    def set(self, name: str, answer: Answer) -> None:
        """From now on ``name`` answers ``answer``."""
        with self._lock:
            self._answers[name.casefold()] = answer

    def fetch(self, server: ServerEndpoints) -> LicenseData:
        endpoint = server.http if self._source == "http" else server.snmp
        if endpoint is None:
            raise ValueError(f"{server.name} has no {self._source} endpoint")
        with self._lock:
            self.calls.append(server.name)
            answer = self._answers.get(server.name.casefold())
        if answer is None:
            raise ServerUnavailable(f"{server.name}: no answer (not in memory)")
        if isinstance(answer, ServerError):
            # A fresh exception each time: one raised twice would grow its traceback.
            raise type(answer)(str(answer))
        return answer
