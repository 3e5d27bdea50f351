"""A Unity server's effective license over HTTP(S): ``/avxml/effectivelicense.asp``.

The page is the ``AvXmlLicData`` document the pooling attachment copies, so it is
parsed by :func:`poolsync.attachment.parse_attachment` (one parser, with its DTD and
entity refusal), after the leading whitespace a classic ASP page writes before the XML
declaration is stripped. The server is untrusted: the body is read as it streams in and
given up past :data:`~poolsync.attachment.MAX_ATTACHMENT_BYTES` (a server sending a
gigabyte costs one megabyte), compressed bodies are refused (``Accept-Encoding:
identity`` is asked for, so a zip bomb cannot expand here), error pages are never read,
and the whole read is bounded by the endpoint's timeout.

TLS is validated by default (the system's trust store, or ``ca_file``); the password
of ``auth`` is resolved for each read and sent only to the configured origin: a
redirect elsewhere (at most :data:`MAX_REDIRECTS`) is followed without it, and one from
https to http is refused. Proxy variables and ``~/.netrc`` are not used.

httpx's transport is the seam: :class:`HttpSource` takes one (``httpx.MockTransport``
in the unit tests); without one each read gets its own ``HTTPTransport`` with the
endpoint's TLS settings.
"""

from __future__ import annotations

import base64
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Final
from urllib.parse import urlsplit

import httpx

from poolsync.attachment import MAX_ATTACHMENT_BYTES, LicenseData, parse_attachment
from poolsync.errors import AttachmentError
from poolsync.servers.endpoints import HttpEndpoint, ServerEndpoints
from poolsync.servers.errors import (
    NotPublished,
    ServerAuthError,
    ServerDataError,
    ServerError,
    ServerNotFound,
    ServerTlsError,
    ServerUnavailable,
    one_line,
)
from poolsync.servers.model import Source

__all__ = ["DEFAULT_PATH", "MAX_REDIRECTS", "HttpSource", "describe_url", "ssl_context"]

log = logging.getLogger(__name__)

#: Where a Unity server publishes its effective license.
DEFAULT_PATH: Final = "/avxml/effectivelicense.asp"
MAX_REDIRECTS: Final = 5
#: Statuses worth another try: the server (or a proxy in front of it) is busy or down.
_TRANSIENT: Final = frozenset({408, 429, 502, 503, 504})
_NO_SUCH_NAME: Final = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
)
_LEADING_SPACE: Final = b" \t\r\n"
# ASCII digits only (str.isdigit takes "²"); at most 18 keep int() far from its limit.
_DIGITS: Final = re.compile(r"[0-9]+")
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_HEADERS: Final = {
    # No compression: a compressed body could expand far past the size cap.
    "Accept-Encoding": "identity",
    "Accept": "text/xml, application/xml;q=0.9, */*;q=0.1",
    "User-Agent": "poolsync",
}

_warned: set[str] = set()


def describe_url(url: str) -> str:
    """``url`` as messages show it: scheme, host, port and path, never a user-info's
    password or a query string."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    return one_line(f"{parts.scheme}://{host}{port}{parts.path}")


def ssl_context(endpoint: HttpEndpoint) -> ssl.SSLContext:
    """The TLS settings of ``endpoint``: validation against ``ca_file`` (or the system's
    trust store) with the host name checked, TLS 1.2 or newer; no validation at all when
    ``validate`` is false. Raises :class:`ServerTlsError` for an unusable ``ca_file``."""
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(endpoint.ca_file) if endpoint.ca_file and endpoint.validate else None,
        )
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise ServerTlsError(
            f"cannot load ca_file {endpoint.ca_file}: {one_line(str(reason))}"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not endpoint.validate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _warn_once(kind: str, message: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        log.warning("%s", message)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _tls_error(exc: BaseException, where: str) -> ServerTlsError | None:
    """The TLS failure in ``exc``'s chain, with the fix for its kind; None if none."""
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            reason = one_line(
                item.verify_message or getattr(item, "reason", None) or "certificate verify failed"
            )
            if "mismatch" in reason or "not valid for" in reason:
                return ServerTlsError(
                    f"{where}: TLS failed ({reason}); use a host name or "
                    "address the server's certificate carries"
                )
            return ServerTlsError(
                f"{where}: TLS failed ({reason}); trust the CA that issued "
                "the server's certificate with ca_file, or read it over "
                "http://"
            )
        if isinstance(item, ssl.SSLError):
            reason = one_line(getattr(item, "reason", None) or str(item))
            return ServerTlsError(
                f"{where}: TLS handshake failed ({reason}); does this port "
                "speak HTTPS (TLS 1.2 or newer)?"
            )
    return None


def _translate(exc: httpx.HTTPError | httpx.InvalidURL, where: str, timeout: float) -> ServerError:
    """An httpx exception as a typed error with one line of explanation."""
    if isinstance(exc, httpx.TimeoutException):
        return ServerUnavailable(f"{where}: no answer within {timeout:g} s ({type(exc).__name__})")
    tls = _tls_error(exc, where)
    if tls is not None:
        return tls
    for item in _chain(exc):
        if isinstance(item, socket.gaierror) and item.errno in _NO_SUCH_NAME:
            return ServerNotFound(f"{where}: the host name does not resolve ({item.strerror})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ServerError(f"{where}: not an http:// or https:// URL ({one_line(str(exc))})")
    detail = one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.RemoteProtocolError) and "location header" in detail:
        # httpx prepares the next request of a redirect itself and chokes on its URL
        return ServerDataError(f"{where}: redirect to an invalid URL ({detail})")
    if isinstance(exc, httpx.ConnectError):
        return ServerUnavailable(f"{where}: cannot connect ({detail})")
    return ServerUnavailable(f"{where}: {detail}")


class HttpSource:
    """:class:`~poolsync.servers.source.LicenseSource` over HTTP(S), with httpx."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._clock = clock

    @property
    def source(self) -> Source:
        return "http"

    def fetch(self, server: ServerEndpoints) -> LicenseData:
        endpoint = server.http
        if endpoint is None:
            raise ValueError(f"{server.name} has no http endpoint")
        where = describe_url(endpoint.url)
        auth, password = None, ""
        if endpoint.user is not None:
            password = endpoint.password.resolve() if endpoint.password is not None else ""
            auth = httpx.BasicAuth(endpoint.user, password)
            if urlsplit(endpoint.url).scheme == "http":
                _warn_once(
                    "plaintext-auth",
                    f"{where} is plain http://: the basic-auth "
                    "password crosses the network in clear; use https://",
                )
        if not endpoint.validate:
            _warn_once(
                "insecure",
                "TLS certificate validation is off for a server's "
                "http endpoint (validate: false): whoever can intercept the "
                "connection can pose as the server; set ca_file instead",
            )
        try:
            if self._transport is not None:  # the caller's: not closed here
                return self._read(_client(endpoint, self._transport), endpoint, auth, where)
            transport = httpx.HTTPTransport(verify=ssl_context(endpoint), retries=0)
            with _client(endpoint, transport) as client:
                return self._read(client, endpoint, auth, where)
        except ServerError as exc:
            if auth is None:
                raise
            raise _scrubbed(exc, endpoint.user or "", password) from None

    def _read(
        self, client: httpx.Client, endpoint: HttpEndpoint, auth: httpx.BasicAuth | None, where: str
    ) -> LicenseData:
        deadline = self._clock() + endpoint.timeout
        try:
            url = httpx.URL(endpoint.url)
        except httpx.InvalidURL as exc:
            raise ServerError(f"{where}: not a valid URL ({one_line(str(exc))})") from None
        origin = _origin(url)
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                request = client.build_request("GET", url)
                response = client.send(
                    request, stream=True, auth=auth if _origin(url) == origin else None
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _translate(exc, describe_url(str(url)), endpoint.timeout) from None
            try:
                if not response.has_redirect_location:
                    return self._answer(response, endpoint, auth, where, deadline)
                target = _redirect_target(response, url, where)
            finally:
                response.close()
            url = target
            if self._clock() > deadline:
                raise ServerUnavailable(
                    f"{where}: no answer within {endpoint.timeout:g} s (redirected too slowly)"
                )
        raise ServerDataError(
            f"{where}: more than {MAX_REDIRECTS} redirects (a loop?); "
            "set the url to where the page is"
        )

    def _answer(
        self,
        response: httpx.Response,
        endpoint: HttpEndpoint,
        auth: httpx.BasicAuth | None,
        where: str,
        deadline: float,
    ) -> LicenseData:
        status = response.status_code
        if status != 200:
            # The standard phrase, not the server's: nothing it says goes into a message.
            raise _status_error(
                status,
                httpx.codes.get_reason_phrase(status),
                where,
                user=endpoint.user,
                had_auth=auth is not None,
            )
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ServerDataError(
                f"{where}: the page came {one_line(encoding, limit=40)}-"
                "encoded although identity was asked for; refused"
            )
        body = self._body(response, where, endpoint.timeout, deadline)
        content_type = one_line(response.headers.get("content-type", ""), limit=60)
        try:
            return parse_attachment(strip_leading_space(body))
        except AttachmentError as exc:
            kind = "" if "xml" in content_type.lower() else f" (Content-Type {content_type!r})"
            raise ServerDataError(f"{where}: not a usable AvXmlLicData page{kind}: {exc}") from None

    def _body(self, response: httpx.Response, where: str, timeout: float, deadline: float) -> bytes:
        """The body, read as it streams in and given up past the size cap or deadline."""
        limit = MAX_ATTACHMENT_BYTES
        declared = response.headers.get("content-length", "")
        if _DIGITS.fullmatch(declared) and (len(declared) > 18 or int(declared) > limit):
            size = f"{int(declared)} bytes" if len(declared) <= 18 else "over 10**18 bytes"
            raise ServerDataError(
                f"{where}: the page is {size}, over the {limit}-byte limit; not read"
            )
        body = bytearray()
        try:
            # identity only (checked above), so these are the bytes as they arrive
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise ServerDataError(
                        f"{where}: the page is over the {limit}-byte limit; stopped reading it"
                    )
                if self._clock() > deadline:
                    raise ServerUnavailable(
                        f"{where}: the page did not arrive within {timeout:g} s"
                    )
        except httpx.HTTPError as exc:
            raise _translate(exc, where, timeout) from None
        return bytes(body)


def _scrubbed(exc: ServerError, user: str, password: str) -> ServerError:
    """``exc`` without the password, should the server have echoed it (or the header
    that carried it) into something a message quotes, such as a redirect's Location."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    message = str(exc)
    for secret in (token, password):
        if secret:
            message = message.replace(secret, "***")
    return exc if message == str(exc) else type(exc)(message)


def _client(endpoint: HttpEndpoint, transport: httpx.BaseTransport) -> httpx.Client:
    # Redirects are followed by _read (credentials only to the configured origin, never
    # a body read on the way); trust_env off: no proxy variables, no ~/.netrc password.
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(endpoint.timeout),
        follow_redirects=False,
        trust_env=False,
        headers=_HEADERS,
    )


def _redirect_target(response: httpx.Response, url: httpx.URL, where: str) -> httpx.URL:
    location = response.headers.get("location", "")
    try:
        target = url.join(location)
    except httpx.InvalidURL:
        raise ServerDataError(
            f"{where}: HTTP {response.status_code} redirect to an invalid URL"
        ) from None
    if url.scheme == "https" and target.scheme != "https":
        raise ServerDataError(
            f"{where}: redirected from https to "
            f"{describe_url(str(target))}; refused (it would drop TLS)"
        )
    log.debug(
        "%s: HTTP %d, redirected to %s", where, response.status_code, describe_url(str(target))
    )
    return target


def _status_error(
    status: int, reason: str, where: str, *, user: str | None, had_auth: bool
) -> ServerError:
    said = f"HTTP {status} {one_line(reason, limit=60)}".rstrip()
    if status in (401, 403):
        if not had_auth:
            return ServerAuthError(
                f"{where}: {said}: the page needs a user and password (http.auth)"
            )
        return ServerAuthError(
            f"{where}: {said}: refused the user {one_line(user or '')!r} "
            "(check http.auth and its password)"
        )
    if status in (404, 410):
        return NotPublished(
            f"{where}: {said}: the server publishes no effective-license page there (check the url)"
        )
    if status in _TRANSIENT:
        return ServerUnavailable(f"{where}: {said}")
    return ServerDataError(f"{where}: {said}; expected 200 with the AvXmlLicData page")


def strip_leading_space(body: bytes) -> bytes:
    """``body`` without the whitespace before its XML declaration (a classic ASP page
    writes a line break first, which XML forbids there), keeping a UTF-8 BOM."""
    if body.startswith(_UTF8_BOM):
        return _UTF8_BOM + body[len(_UTF8_BOM) :].lstrip(_LEADING_SPACE)
    return body.lstrip(_LEADING_SPACE)
