"""The poolsync exception tree.

Everything poolsync raises on purpose derives from :class:`PoolsyncError`. The CLI
prints a :class:`PoolsyncError` as one line on stderr (a traceback only with
``--debug``) and maps it to an exit code; anything else is a bug.
"""

from __future__ import annotations


class PoolsyncError(Exception):
    """Root of every error poolsync raises on purpose."""

    exit_code = 1


class UserError(PoolsyncError):
    """Something the user can fix: a bad config, topology or input file. Exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """The configuration file is missing, unreadable or invalid."""


class TopologyError(UserError):
    """A lab topology file is missing, unreadable or invalid."""


class ProfileError(UserError):
    """A schema profile is missing, unreadable or invalid."""


class SecretError(UserError):
    """A secret reference (env var, file, command) could not be resolved safely."""


class DirectoryError(PoolsyncError):
    """The directory could not be read (unreachable, bind refused, TLS). Exit code 5."""

    exit_code = 5


class DirectoryUnavailable(DirectoryError):
    """No connection to the domain controller or Global Catalog."""


class HostNotFound(DirectoryUnavailable):
    """The endpoint's host name does not resolve: never retried (a name that does not
    exist now will not a second later), but the next endpoint of a list is tried."""


class AuthError(DirectoryError):
    """The directory refused the bind (bad credentials or bind method)."""


class TlsError(DirectoryError):
    """The TLS handshake failed, usually an untrusted or mismatched certificate."""


class QueryError(DirectoryError):
    """The directory rejected or failed a search."""


class RunawaySearch(QueryError):
    """A search that would not end: more entries than its bound, a paging cookie sent
    twice, or page after page with no entry. Final (not retried): the next attempt
    would run away the same way."""


class DirSyncCookieRefused(QueryError):
    """The DC refused a saved DirSync cookie (corrupt, or from another DC or version).

    The cookie is useless from now on: drop it and resynchronize in full (a DirSync
    read without a cookie).
    """


class StoreError(PoolsyncError):
    """The local store is unusable."""


class StoreVersionError(StoreError):
    """The store was written by a newer poolsync (or is not a poolsync store)."""


class StoreLockedError(StoreError):
    """Another poolsync run holds the store. Exit code 6: the run exited at once."""

    exit_code = 6


class SyncError(PoolsyncError):
    """A sync run could not complete."""


class UnsafeChangeError(SyncError):
    """A run stopped before committing a change too large or too empty to trust.

    Exit code 4, so a scheduler can tell "refused to apply" from "failed".
    """

    exit_code = 4


class Terminated(KeyboardInterrupt):
    """SIGTERM (what systemd and `timeout` send): the run stops as on Ctrl-C, is recorded
    ``cancelled``, commits nothing, and poolsync exits 143 (128 + 15). Not a
    PoolsyncError: like KeyboardInterrupt it must get past ``except Exception``."""

    exit_code = 143


class RunCancelled(SyncError):
    """A stop was requested (service shutdown) while a run was reading; nothing was
    written. Exit code 130, like an interrupt."""

    exit_code = 130


class AttachmentError(PoolsyncError):
    """A pooling attachment (AvXmlLicData) is unreadable.

    Not fatal for a run: the server is excluded from the pool with the reason
    ``attachment-corrupt`` and this error's message as the detail.
    """


class LabError(PoolsyncError):
    """The Samba lab could not be provisioned, started or stopped."""


class LicenseFileError(UserError):
    """A license file (or effective-license XML) cannot be read at all: missing,
    unreadable, over the size limit, or XML that does not parse. Exit code 2.

    What is wrong *inside* a readable license file is not an exception: it is a list
    of problems with line numbers (poolsync.licensing).
    """


class MissingToolError(UserError):
    """An optional program poolsync needs for what was asked is not installed (e.g.
    Graphviz's ``dot`` for ``graph --format svg``). Exit code 2, with the package to
    install."""
