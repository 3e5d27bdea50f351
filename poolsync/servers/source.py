"""The seam: a :class:`LicenseSource` fetches one server's license over one protocol.

Three implementations: :class:`~poolsync.servers.http.HttpSource` (the
effective-license page), :class:`~poolsync.servers.snmp.SnmpSource` (CISCO-UNITY-MIB)
and :class:`~poolsync.servers.memory.MemorySource` (tests, and code that must not do
I/O); one contract test class (tests/support/servers_contract.py) runs against all three.

``fetch`` raises a :class:`~poolsync.servers.errors.ServerError` (or a
:class:`~poolsync.errors.SecretError` when a credential cannot be resolved);
:func:`read_server` retries the transient ones and turns the outcome into a
:class:`~poolsync.servers.model.ServerReading`, which never raises for a server that
cannot be read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final, Protocol

from tenacity import Retrying

from poolsync.attachment import LicenseData
from poolsync.config import RetryPolicy
from poolsync.errors import SecretError
from poolsync.retry import backoff
from poolsync.servers.endpoints import ServerEndpoints
from poolsync.servers.errors import ServerError, ServerNotFound, ServerUnavailable, one_line
from poolsync.servers.model import ServerReading, Source, failed_reading, reading_from_license

__all__ = ["NO_RETRIES", "SERVER_RETRIES", "LicenseSource", "read_server", "retrying"]

log = logging.getLogger(__name__)

#: The probe's default: one retry, soon. A server is asked once per probe, and a dead
#: one must not hold the others' report for long (each attempt has its own timeout).
SERVER_RETRIES: Final = RetryPolicy(attempts=2, initial_wait=0.5, max_wait=2.0)
NO_RETRIES: Final = RetryPolicy(attempts=1, initial_wait=0.0, max_wait=0.0)


class LicenseSource(Protocol):
    """Reads a server's effective license over one protocol."""

    @property
    def source(self) -> Source:
        """``"http"`` or ``"snmp"``: the reading's ``source``."""
        ...

    def fetch(self, server: ServerEndpoints) -> LicenseData:
        """``server``'s license, read now over this source's endpoint.

        Raises :class:`~poolsync.servers.errors.ServerError` (one-line message, no
        secret) or :class:`~poolsync.errors.SecretError`; ValueError when ``server``
        has no endpoint for this source (a caller's mistake).
        """
        ...


def retrying(
    policy: RetryPolicy, *, what: str, sleep: Callable[[float], None] = time.sleep
) -> Retrying:
    """Retries of a server read, as the directory's (``directory.connection.retrying``):
    transient errors only (:class:`ServerUnavailable` but not :class:`ServerNotFound`),
    backing off exponentially; everything else is final at once."""

    def transient(exc: BaseException) -> bool:
        return isinstance(exc, ServerUnavailable) and not isinstance(exc, ServerNotFound)

    return backoff(policy, what=what, transient=transient, log=log, sleep=sleep)


def read_server(
    source: LicenseSource,
    server: ServerEndpoints,
    *,
    now: Callable[[], datetime],
    retries: RetryPolicy = NO_RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> ServerReading:
    """Read ``server`` over ``source`` (retrying transient errors): a reading with the
    license, or with the one-line reason it could not be read. ``now`` is called when
    the read ends and gives ``read_at``."""
    try:
        data = retrying(retries, what=f"{server.name} ({source.source})", sleep=sleep)(
            source.fetch, server
        )
    except ServerError as exc:
        return failed_reading(
            server.name, source.source, one_line(str(exc)), reachable=exc.reachable, read_at=now()
        )
    except SecretError as exc:
        # Not asked at all: a credential of this server's config is unusable.
        return failed_reading(
            server.name, source.source, one_line(str(exc)), reachable=False, read_at=now()
        )
    return reading_from_license(server.name, source.source, data, read_at=now())
