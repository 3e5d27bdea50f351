"""A live connection for tests that look inside it (its ldap3 connection, raw requests,
DirSync): the live source's reader, typed as what it is."""

from __future__ import annotations

from poolsync.config import DirectoryConfig, Endpoint
from poolsync.directory import DirectoryConnection, LiveSource


def live_connection(
    directory: DirectoryConfig, endpoint: Endpoint, *, password: str | None
) -> DirectoryConnection:
    """``LiveSource(directory).open(endpoint)``: a bound :class:`DirectoryConnection`."""
    reader = LiveSource(directory, password=password).open(endpoint)
    assert isinstance(reader, DirectoryConnection)
    return reader
