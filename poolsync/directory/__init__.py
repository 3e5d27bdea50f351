"""The directory edge: the only package that imports ldap3.

Entry points: :func:`connect` opens a validated, read-only connection to a DC or a
Global Catalog (TLS validation on by default); :func:`retrying` is the one tenacity policy
for transient directory errors, and
:class:`DirectoryConnection` reads the rootDSE and streams paged searches as
:class:`RawEntry` values. ldap3 exceptions never leave this package: they become
:mod:`poolsync.errors` directory errors.
"""

from poolsync.directory.connection import DirectoryConnection, RootDse, connect, retrying
from poolsync.directory.filters import and_filter, equality

__all__ = ["DirectoryConnection", "RootDse", "and_filter", "connect", "equality", "retrying"]
