"""Read every configured server, over each protocol it has, in parallel.

:func:`probe_servers` asks each server's http and snmp endpoints (where configured)
with at most ``workers`` reads at a time, retries transient failures per read
(:func:`~poolsync.servers.source.retrying`), and returns one
:class:`~poolsync.servers.model.ServerReading` per (server, source) in the order the
servers were given, http before snmp. A read that fails, for any reason, is a reading
with its error: one server's failure never touches another's reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Final

from poolsync.config import RetryPolicy
from poolsync.servers.endpoints import ServerEndpoints
from poolsync.servers.errors import one_line
from poolsync.servers.model import SOURCES, ServerReading, Source, failed_reading
from poolsync.servers.source import SERVER_RETRIES, LicenseSource, read_server

__all__ = ["DEFAULT_WORKERS", "default_sources", "probe_servers", "utc_now"]

log = logging.getLogger(__name__)

#: Reads at a time: enough for a Unity network's servers, few enough for a small host.
DEFAULT_WORKERS: Final = 8


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_sources(kinds: Collection[Source] = SOURCES) -> dict[Source, LicenseSource]:
    """The real sources of ``kinds``; each library is imported only when it is needed
    (pysnmp alone takes some 70 ms to import)."""
    sources: dict[Source, LicenseSource] = {}
    if "http" in kinds:
        from poolsync.servers.http import HttpSource

        sources["http"] = HttpSource()
    if "snmp" in kinds:
        from poolsync.servers.snmp import SnmpSource

        sources["snmp"] = SnmpSource()
    return sources


def _jobs(servers: Sequence[ServerEndpoints]) -> list[tuple[ServerEndpoints, Source]]:
    jobs: list[tuple[ServerEndpoints, Source]] = []
    for server in servers:
        if server.http is not None:
            jobs.append((server, "http"))
        if server.snmp is not None:
            jobs.append((server, "snmp"))
    return jobs


def probe_servers(
    servers: Sequence[ServerEndpoints],
    *,
    sources: Mapping[Source, LicenseSource] | None = None,
    now: Callable[[], datetime] = utc_now,
    retries: RetryPolicy = SERVER_RETRIES,
    workers: int = DEFAULT_WORKERS,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[ServerReading, ...]:
    """One reading per configured endpoint of ``servers``, in their order (http, then
    snmp). ``sources`` defaults to the real HTTP and SNMP clients; an endpoint whose
    source is not in ``sources`` is not read. Never raises for a server."""
    jobs = _jobs(servers)
    if sources is None:
        sources = default_sources({kind for _, kind in jobs})
    jobs = [(server, kind) for server, kind in jobs if kind in sources]
    if not jobs:
        return ()

    def read(job: tuple[ServerEndpoints, Source]) -> ServerReading:
        server, kind = job
        try:
            return read_server(sources[kind], server, now=now, retries=retries, sleep=sleep)
        except Exception as exc:  # a bug in one read must not cost the others theirs
            log.debug("reading %s over %s failed", server.name, kind, exc_info=True)
            return failed_reading(
                server.name,
                kind,
                one_line(f"internal error: {type(exc).__name__}: {exc}"),
                reachable=False,
                read_at=now(),
            )

    with ThreadPoolExecutor(
        max_workers=max(1, min(workers, len(jobs))), thread_name_prefix="poolsync-probe"
    ) as pool:
        return tuple(pool.map(read, jobs))
