"""The one seam between poolsync and a directory: :class:`DirectorySource`.

Everything that reads a forest (the sync engine, the doctor's probe, ``schema
discover``, the notification listener) is handed a source and asks it for a
:class:`DirectoryReader` on an endpoint; none of them opens a connection itself. Three
sources implement it, and one contract suite (``tests/contract``) holds them to the
same answers:

* :class:`LiveSource` (here): ldap3 connections to the configured DCs and Global
  Catalogs (:mod:`poolsync.directory.connection`);
* ``LdifSource`` (:mod:`poolsync.directory.ldif`): an export's files, streamed;
* ``MemorySource`` (:mod:`poolsync.directory.memory`): entries held in a list.

A source says which change reads it supports (:attr:`DirectoryReader.changes`); the
engine reads in full, and says why, when what it needs is missing (an export holds no
change history). As httpx's client takes a transport, the reading code takes a source:
tests hand it a memory source rather than patching module globals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from poolsync.config import DirectoryConfig, Endpoint, RetryPolicy
from poolsync.directory.kerberos import KerberosLogin
from poolsync.model import Entry

__all__ = [
    "CHANGES_ALL",
    "Bound",
    "ChangeRead",
    "DirectoryReader",
    "DirectorySource",
    "LiveSource",
    "Origin",
    "RootDse",
]

#: The change reads a reader may support: ``usn`` (uSNChanged searches above a
#: watermark, and a meaningful highestCommittedUSN), ``tombstones`` (the Deleted Objects
#: container with Show Deleted), ``dirsync`` (DirSync cookies), ``notify`` (change
#: notifications, for the service's listener).
Change = Literal["usn", "tombstones", "dirsync", "notify"]
CHANGES_ALL: Final[frozenset[str]] = frozenset({"usn", "tombstones", "dirsync", "notify"})


@dataclass(frozen=True, slots=True)
class Bound:
    """The most entries one search may return, and why (said when it is exceeded)."""

    entries: int
    why: str


@dataclass(frozen=True, slots=True)
class RootDse:
    dns_host_name: str
    ds_service_name: str
    highest_committed_usn: int
    default_naming_context: str
    root_domain_naming_context: str
    configuration_naming_context: str
    schema_naming_context: str = ""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a source's data comes from, as every output names it.

    ``kind`` is "directory" (a live forest), "export" (LDIF files) or "memory";
    ``label`` says which (the endpoints, or the files); ``taken_at`` is when an export
    was taken (the files' time, or ``--taken-at``), None for a live forest (read now).
    """

    kind: Literal["directory", "export", "memory"]
    label: str
    taken_at: dt.datetime | None = None


class ChangeRead(Protocol):
    """A DirSync read: its entries, then (once exhausted) the cookie to keep."""

    def __iter__(self) -> Iterator[Entry]: ...

    @property
    def cookie(self) -> bytes: ...


class DirectoryReader(Protocol):
    """One open view of a directory: a bound connection to one DC or GC, or an export.

    Searches stream :class:`~poolsync.model.Entry` values with attribute names
    lower-cased and values as raw bytes. Errors are :mod:`poolsync.errors` directory
    errors (QueryError, DirectoryUnavailable, RunawaySearch ...), never a library's own.
    """

    endpoint: Endpoint

    @property
    def changes(self) -> frozenset[str]:
        """The change reads this reader supports (a subset of :data:`CHANGES_ALL`)."""
        ...

    @property
    def max_entries(self) -> int: ...

    def __enter__(self) -> DirectoryReader: ...
    def __exit__(self, *exc: object) -> None: ...
    def close(self) -> None: ...

    def limit_to(self, seconds: float) -> None:
        """Bound everything done from now on to ``seconds`` (``directory.timeouts.pass``)."""
        ...

    def root_dse(self) -> RootDse: ...
    def naming_contexts(self) -> list[str]:
        """Every naming context the directory holds (the rootDSE's namingContexts)."""
        ...

    def invocation_id(self, ds_service_name: str) -> str: ...
    def tombstone_lifetime(self, configuration_nc: str) -> int | None: ...
    def domain_naming_contexts(self, configuration_nc: str) -> list[str]: ...

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        show_deleted: bool = False,
        bound: Bound | None = None,
    ) -> Iterator[Entry]:
        """Stream a subtree search; past ``bound`` (or max_entries) RunawaySearch."""
        ...

    def search_with_large_value(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        large: str,
        max_bytes: int,
        bound: Bound | None = None,
    ) -> Iterator[Entry]:
        """:meth:`search`, each ``large`` value over ``max_bytes`` left out and its size
        given in ``Entry.refused``."""
        ...

    def read(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        scope: Literal["base", "one", "subtree"] = "subtree",
        show_deleted: bool = False,
    ) -> list[Entry]:
        """One small unpaged search (a base read, a container's children)."""
        ...

    def dirsync(
        self, base: str, ldap_filter: str, attributes: list[str], *, cookie: bytes | None = None
    ) -> ChangeRead:
        """What changed under ``base`` since ``cookie`` (everything without one); only
        when "dirsync" is in :attr:`changes`."""
        ...


class DirectorySource(Protocol):
    """Opens readers: what the engine, the doctor and discovery are handed."""

    @property
    def origin(self) -> Origin: ...

    @property
    def dcs(self) -> tuple[Endpoint, ...]:
        """The domain pass's endpoints, in failover order."""
        ...

    @property
    def gcs(self) -> tuple[Endpoint, ...]:
        """The Global Catalog pass's endpoints, in failover order."""
        ...

    @property
    def retries(self) -> RetryPolicy: ...

    @property
    def pass_timeout(self) -> float:
        """How long one pass may take (``directory.timeouts.pass``)."""
        ...

    def open(self, endpoint: Endpoint) -> DirectoryReader:
        """A reader on ``endpoint`` (one attempt: callers retry whole units)."""
        ...


Password = Callable[[], str | None]


class LiveSource:
    """The configured DCs and Global Catalogs, read over ldap3.

    ``password`` is the bind's password, or a callable asked at each connect (the
    service reads its secret anew, so no copy stays in the process between passes).
    """

    def __init__(self, directory: DirectoryConfig, *, password: str | Password | None) -> None:
        self.directory = directory
        self._password = password
        self._kerberos: KerberosLogin | None = None
        if directory.bind.kerberos is not None:
            # A pass must not outlive its ticket: renew with a pass's time and a minute
            # to spare (a DC drops a session whose ticket has expired).
            margin = directory.timeouts.pass_ + 60
            self._kerberos = KerberosLogin(directory.bind.kerberos, renew_margin=margin)

    @property
    def origin(self) -> Origin:
        urls = dict.fromkeys(e.url for e in (*self.directory.dcs, *self.directory.gcs))
        return Origin("directory", ", ".join(urls))

    @property
    def dcs(self) -> tuple[Endpoint, ...]:
        return self.directory.dcs

    @property
    def gcs(self) -> tuple[Endpoint, ...]:
        return self.directory.gcs

    @property
    def retries(self) -> RetryPolicy:
        return self.directory.retries

    @property
    def pass_timeout(self) -> float:
        return self.directory.timeouts.pass_

    def password(self) -> str | None:
        return self._password() if callable(self._password) else self._password

    def open(self, endpoint: Endpoint) -> DirectoryReader:
        from poolsync.directory.connection import connect  # connection imports this module

        credentials = self._kerberos.credentials() if self._kerberos is not None else None
        return connect(endpoint, self.directory, password=self.password(), kerberos=credentials)
