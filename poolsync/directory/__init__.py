"""The directory edge: the only package that imports ldap3.

Entry points: a :class:`DirectorySource` (:mod:`poolsync.directory.source`) is what
every reader of a forest is handed: :class:`LiveSource` opens validated, read-only
connections to the configured DCs and Global Catalogs (TLS validation on by default),
``LdifSource`` (:mod:`poolsync.directory.ldif`) reads an export's files and
``MemorySource`` (:mod:`poolsync.directory.memory`) entries held in memory; each opens a
:class:`DirectoryReader` that reads the rootDSE and streams searches as
:class:`~poolsync.model.Entry` values. Nothing outside this package opens a connection
itself. :func:`retrying` is the one tenacity policy for transient directory errors.
:class:`DirSyncRead` reads what changed since a DirSync cookie
(:mod:`poolsync.directory.dirsync`), and :class:`ChangeWatcher` turns AD change
notifications into a trigger for the next pass (:mod:`poolsync.directory.notify`).
ldap3 exceptions never leave this package: they become :mod:`poolsync.errors` directory
errors.
"""

from poolsync.directory.connection import DirectoryConnection, retrying
from poolsync.directory.dirsync import DirSyncRead, is_tombstone
from poolsync.directory.filters import and_filter, equality
from poolsync.directory.notify import ChangeWatcher
from poolsync.directory.source import (
    Bound,
    DirectoryReader,
    DirectorySource,
    LiveSource,
    Origin,
    RootDse,
)

__all__ = [
    "Bound",
    "ChangeWatcher",
    "DirSyncRead",
    "DirectoryConnection",
    "DirectoryReader",
    "DirectorySource",
    "LiveSource",
    "Origin",
    "RootDse",
    "and_filter",
    "equality",
    "is_tombstone",
    "retrying",
]
