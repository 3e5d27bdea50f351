"""The directory edge: the only package that imports ldap3.

Entry points: :func:`connect` opens a validated, read-only connection to a DC or a
Global Catalog (TLS validation on by default); :func:`retrying` is the one tenacity policy
for transient directory errors, and
:class:`DirectoryConnection` reads the rootDSE and streams paged searches as
:class:`~poolsync.model.Entry` values. :class:`DirSyncRead` reads what changed since a
DirSync cookie (:mod:`poolsync.directory.dirsync`), and :class:`ChangeWatcher` turns AD
change notifications into a trigger for the next pass (:mod:`poolsync.directory.notify`).
ldap3 exceptions never leave this package: they become :mod:`poolsync.errors` directory
errors.
"""

from poolsync.directory.connection import DirectoryConnection, connect, retrying
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
    "connect",
    "equality",
    "is_tombstone",
    "retrying",
]
