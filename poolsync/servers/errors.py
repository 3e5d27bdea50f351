"""Why a server's license could not be read: the typed errors of the server clients.

Every httpx, pysnmp and parser failure is turned into one of these at the boundary
(``http.py``, ``snmp.py``), with a one-line message that names the endpoint and, where
there is one, the fix. A message never holds a password, a community or a URL's
user-info, nor a control character the server sent: :func:`one_line` is applied to
everything a server said before it goes into a message.

:attr:`ServerError.reachable` says whether the server answered at all, which is what a
reading's ``reachable`` reports; :class:`ServerUnavailable` (except
:class:`ServerNotFound`) is the only transient kind, the one the probe retries.
"""

from __future__ import annotations

from typing import ClassVar, Final

from poolsync.errors import PoolsyncError

__all__ = [
    "NotPublished",
    "ServerAuthError",
    "ServerDataError",
    "ServerError",
    "ServerNotFound",
    "ServerTlsError",
    "ServerUnavailable",
    "one_line",
]

#: The longest message a reading carries; the rest is cut with "...".
MAX_MESSAGE: Final = 400


class ServerError(PoolsyncError):
    """A Unity server's license could not be read. Exit code 5, like the directory's."""

    exit_code = 5
    #: Whether the server answered (an HTTP status, an SNMP response or report).
    reachable: ClassVar[bool] = True


class ServerUnavailable(ServerError):
    """No answer: refused, reset, timed out (SNMP: also a wrong community or v3
    privacy password, which an agent answers with silence). Transient: retried."""

    reachable = False


class ServerNotFound(ServerUnavailable):
    """The host name does not resolve: not retried (it will not resolve a second later)."""


class ServerTlsError(ServerError):
    """The TLS handshake failed: an untrusted or mismatched certificate, or no TLS.

    Nothing was read over HTTP, so the server counts as not reached. Final.
    """

    reachable = False


class ServerAuthError(ServerError):
    """The server refused the credentials: HTTP 401/403, an SNMPv3 wrong digest or
    unknown user, an SNMP authorizationError. Final."""


class ServerDataError(ServerError):
    """The server answered, but not with a usable license: a bad HTTP status, a page
    that is not ``AvXmlLicData`` (or is hostile or too large), an SNMP value of the
    wrong type or out of range. Final."""


class NotPublished(ServerDataError):
    """The server does not publish its license there: HTTP 404, or CISCO-UNITY-MIB
    objects answered ``noSuchObject``/``noSuchInstance`` (a Unity older than the MIB's
    2005 revision)."""


def one_line(text: str, *, limit: int = MAX_MESSAGE) -> str:
    r"""``text`` as one line: whitespace runs become one space, other control characters
    are written ``\xNN``, and it is cut to ``limit`` characters."""
    out = []
    for char in " ".join(text.split()):
        code = ord(char)
        out.append(f"\\x{code:02x}" if code < 0x20 or 0x7F <= code < 0xA0 else char)
    joined = "".join(out)
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."
