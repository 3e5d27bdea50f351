"""Connections to DCs and Global Catalogs, and paged streaming searches."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, Literal

import ldap3
from ldap3.core import exceptions as lex
from tenacity import Retrying

from poolsync.config import DirectoryConfig, Endpoint, RetryPolicy
from poolsync.directory.paged import MalformedPdu, PagedSearch, SearchBound
from poolsync.directory.source import CHANGES_ALL, Bound, RootDse
from poolsync.directory.values import read_values
from poolsync.errors import (
    AuthError,
    DirectoryError,
    DirectoryUnavailable,
    HostNotFound,
    QueryError,
    RunawaySearch,
    TlsError,
)
from poolsync.model import Entry
from poolsync.retry import backoff

if TYPE_CHECKING:
    from poolsync.directory.dirsync import DirSyncRead

log = logging.getLogger(__name__)
SHOW_DELETED_OID = "1.2.840.113556.1.4.417"
#: getaddrinfo's answers for a name that does not exist: retrying cannot help.
#: EAI_AGAIN (a resolver that did not answer) stays retryable.
_NO_SUCH_NAME = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
)


def _resolve(endpoint: Endpoint) -> None:
    """Look the host up first: ldap3 says only "invalid server address" for any failure,
    and a name that does not exist must not be retried for minutes."""
    try:
        socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        where = _describe(endpoint)
        if exc.errno in _NO_SUCH_NAME:
            raise HostNotFound(
                f"cannot connect to {where}: {endpoint.host} does not resolve "
                f"({exc.strerror}); check the host name in the config"
            ) from exc
        raise DirectoryUnavailable(
            f"cannot connect to {where}: looking up {endpoint.host} failed ({exc.strerror})"
        ) from exc


#: What one page of a search for a large value may hold at most: under Samba's limit
#: on one reply (LDAP_SERVER_MAX_REPLY_SIZE, 25,600,000 bytes), so values at the bound fit.
REPLY_BUDGET: Final = 25_000_000
#: Room in one entry's message beyond its large value: the DN, the other attributes.
MESSAGE_OVERHEAD: Final = 64 * 1024


def _key(entry: Entry) -> str:
    """What tells an entry apart from the others of one search: its objectGUID, or
    its DN when it has none."""
    try:
        return entry.guid()
    except ValueError:
        return f"dn:{entry.dn.lower()}"


def _bounded(entry: Entry, large: str, max_bytes: int) -> Entry:
    """``entry`` without its ``large`` value when that is over ``max_bytes`` (a page's
    messages are bounded with room for the rest of the entry, so a value a little over
    the bound comes through whole): refused with its size, as one read on its own."""
    values = entry.attributes.get(large.lower())
    size = max((len(v) for v in values), default=0) if values else 0
    if size <= max_bytes:
        return entry
    rest = {k: v for k, v in entry.attributes.items() if k != large.lower()}
    return Entry(entry.dn, rest, refused={large.lower(): size})


def _too_large(exc: QueryError) -> bool:
    """Whether the DC refused a reply as too large (sizeLimitExceeded, adminLimitExceeded)."""
    cause = exc.__cause__
    return isinstance(cause, lex.LDAPOperationResult) and cause.result in (4, 11)


def _entry(item: dict[str, Any]) -> Entry:
    raw = item.get("raw_attributes") or {}
    # An attribute with no values (ldap3 gives None) is how DirSync says "cleared".
    return Entry(item["dn"], {name.lower(): list(values or ()) for name, values in raw.items()})


def _describe(endpoint: Endpoint) -> str:
    return f"{endpoint.scheme}://{endpoint.host}:{endpoint.port}"


def translate(
    exc: Exception,
    endpoint: Endpoint,
    *,
    user: str | None,
    ca_file: str | None = None,
    issuer: str | None = None,
) -> DirectoryError:
    """Turn an ldap3 exception into poolsync's typed error with a fix in words."""
    where = _describe(endpoint)
    text = str(exc)
    if isinstance(exc, lex.LDAPInvalidCredentialsResult):
        return AuthError(
            f"{where} refused the bind as {user}: invalid credentials "
            "(check directory.bind.user and the password reference)"
        )
    if isinstance(exc, lex.LDAPStrongerAuthRequiredResult):
        return AuthError(f"{where} requires a protected bind: use ldaps:// or starttls")
    if isinstance(exc, lex.LDAPCertificateError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return _tls_error(text, where, endpoint, ca_file=ca_file, issuer=issuer)
    if isinstance(exc, lex.LDAPConnectionIsReadOnlyError):  # a bug, never worth a retry
        return QueryError(f"{where}: {text}")
    if isinstance(exc, lex.LDAPInvalidFilterError):  # nothing was sent: a bug or bad input
        return QueryError(f"{where}: bad filter: {text}")
    if isinstance(exc, lex.LDAPOperationResult) and not isinstance(
        exc, lex.LDAPUnavailableResult | lex.LDAPBusyResult
    ):
        return QueryError(f"{where}: {exc.description}: {exc.message}".rstrip(": "))
    if isinstance(exc, lex.LDAPSocketOpenError):
        detail = text.strip("()',\"")
        if "timed out" in detail.lower() or "handshake" in detail.lower():
            return DirectoryUnavailable(
                f"cannot connect to {where}: no TLS handshake within "
                f"directory.timeouts.connect ({detail})"
            )
        return DirectoryUnavailable(f"cannot connect to {where}: {detail}")
    return DirectoryUnavailable(f"lost connection to {where}: {text}")


def _tls_error(
    text: str,
    where: str,
    endpoint: Endpoint,
    *,
    ca_file: str | None = None,
    issuer: str | None = None,
) -> TlsError:
    reason = text.split("certificate verify failed:")[-1] if "verify failed" in text else text
    reason = re.sub(r"\s*\(_ssl\.c:\d+\)", "", reason).replace("\\'", "'")
    # ldap3 wraps the ssl message in a tuple's repr: drop the "',)" tail it leaves.
    reason = reason.rstrip("',)\"").rstrip(".").strip()
    if "mismatch" in reason or "not valid for" in reason:
        return TlsError(
            f"TLS certificate of {where} does not name {endpoint.host} ({reason}); connect "
            "with a host name or address the certificate carries"
        )
    issued = f"; its certificate was issued by {issuer}" if issuer else ""
    if ca_file:
        return TlsError(
            f"TLS certificate of {where} is not trusted by directory.tls.ca_file "
            f"({ca_file}: {reason}){issued}; point directory.tls.ca_file at the file of "
            "the CA that issued it (or the chain up to it)"
        )
    return TlsError(
        f"TLS certificate of {where} is not trusted by the system's trust store "
        f"({reason}){issued}; set directory.tls.ca_file to the CA that issued it"
    )


def peer_issuer(endpoint: Endpoint, *, timeout: float) -> str | None:
    """The issuer of the certificate an LDAPS endpoint presents, read with validation
    off (only to name it in an error: nothing is sent but the TLS handshake, no bind);
    None when it cannot be read (StartTLS, or the endpoint does not answer)."""
    if not endpoint.use_ssl:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=endpoint.host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    if der is None:
        return None
    from cryptography import x509  # only on this error path

    try:
        return x509.load_der_x509_certificate(der).issuer.rfc4514_string()
    except ValueError:
        return None


class DirectoryConnection:
    """A bound, read-only connection to one DC or GC endpoint."""

    def __init__(
        self,
        conn: ldap3.Connection,
        endpoint: Endpoint,
        *,
        user: str | None,
        page_size: int,
        max_entries: int = 1_000_000,
    ) -> None:
        self._conn = conn
        self.endpoint = endpoint
        self._user = user
        self._page_size = page_size
        self._max_entries = max_entries
        self._deadline: float | None = None
        self._limit = 0.0
        self._watchdog: threading.Timer | None = None

    @property
    def changes(self) -> frozenset[str]:
        """A live DC reads every kind of change."""
        return CHANGES_ALL

    @property
    def max_entries(self) -> int:
        """The most entries one search may return (``directory.max_entries``)."""
        return self._max_entries

    def limit_to(self, seconds: float) -> None:
        """Bound everything done on this connection from now on to ``seconds``
        (``directory.timeouts.pass``): when they run out, the socket is shut down under
        whatever read is waiting (a DC that trickles bytes satisfies every read's own
        timeout), and that operation, and any later one, fails with
        DirectoryUnavailable."""
        self._limit = seconds
        self._deadline = time.monotonic() + seconds
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = threading.Timer(seconds, self._cut)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _cut(self) -> None:
        sock = getattr(self._conn, "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _check_deadline(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise DirectoryUnavailable(
                f"{_describe(self.endpoint)} is too slow: the pass took longer than "
                f"directory.timeouts.pass ({self._limit:g} s)"
            )

    def __enter__(self) -> DirectoryConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        try:
            self._conn.unbind()
        except lex.LDAPException:
            log.debug("unbind from %s failed; the socket is closed anyway", self.endpoint.url)

    def _call(self, fn: str, *args: object, **kwargs: object) -> None:
        self._check_deadline()
        try:
            getattr(self._conn, fn)(*args, **kwargs)
        except lex.LDAPException as exc:
            self._check_deadline()  # the watchdog cut it: say so
            raise translate(exc, self.endpoint, user=self._user) from exc

    def _first_entry(self, base: str, attributes: list[str]) -> Entry:
        self._call("search", base, "(objectClass=*)", ldap3.BASE, attributes=attributes)
        for item in self._conn.response or []:
            if item.get("type") == "searchResEntry":
                return _entry(item)
        raise QueryError(f"{_describe(self.endpoint)}: {base or 'rootDSE'} not found")

    def root_dse(self) -> RootDse:
        """Read the rootDSE now (never ldap3's cached server.info, which goes stale)."""
        e = self._first_entry(
            "",
            [
                "dnsHostName",
                "dsServiceName",
                "highestCommittedUSN",
                "defaultNamingContext",
                "rootDomainNamingContext",
                "configurationNamingContext",
                "schemaNamingContext",
            ],
        )
        try:
            usn = int(e.text("highestCommittedUSN") or "")
        except ValueError as exc:
            raise QueryError(
                f"{_describe(self.endpoint)}: rootDSE has no "
                "highestCommittedUSN; is this an Active Directory DC?"
            ) from exc
        return RootDse(
            dns_host_name=e.text("dnsHostName") or self.endpoint.host,
            ds_service_name=e.text("dsServiceName") or "",
            highest_committed_usn=usn,
            default_naming_context=e.text("defaultNamingContext") or "",
            root_domain_naming_context=e.text("rootDomainNamingContext") or "",
            configuration_naming_context=e.text("configurationNamingContext") or "",
            schema_naming_context=e.text("schemaNamingContext") or "",
        )

    def naming_contexts(self) -> list[str]:
        """Every naming context the DC holds (the rootDSE's namingContexts)."""
        return self._first_entry("", ["namingContexts"]).texts("namingContexts")

    def invocation_id(self, ds_service_name: str) -> str:
        """The DC's invocationId (changes when the DC is restored from backup)."""
        e = self._first_entry(ds_service_name, ["invocationId"])
        raw = e.first("invocationId")
        if raw is None or len(raw) != 16:
            raise QueryError(f"{_describe(self.endpoint)}: {ds_service_name} has no invocationId")
        return str(uuid.UUID(bytes_le=raw))

    def tombstone_lifetime(self, configuration_nc: str) -> int | None:
        """The forest's tombstoneLifetime in days, or None when it is not set."""
        if not configuration_nc:
            return None
        dn = f"CN=Directory Service,CN=Windows NT,CN=Services,{configuration_nc}"
        try:
            e = self._first_entry(dn, ["tombstoneLifetime"])
        except QueryError:
            return None
        text = e.text("tombstoneLifetime")
        return int(text) if text and text.isdigit() and int(text) > 0 else None

    def domain_naming_contexts(self, configuration_nc: str) -> list[str]:
        """The forest's domain naming contexts (crossRefs with FLAG_CR_NTDS_DOMAIN)."""
        entries, _ = self.request(
            f"CN=Partitions,{configuration_nc}",
            "(&(objectClass=crossRef)(systemFlags:1.2.840.113556.1.4.803:=2))",
            ["nCName"],
            scope="one",
        )
        return sorted(nc for e in entries if (nc := e.text("nCName")))

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        show_deleted: bool = False,
        bound: Bound | None = None,
    ) -> Iterator[Entry]:
        """Stream a subtree search page by page (Simple Paged Results).

        One page is decoded while the DC builds the next (see ``paged``); at most two
        pages are held at a time. Continuation references are skipped. With
        ``show_deleted`` the Show Deleted control is sent, so tombstones (``isDeleted``)
        match too. The search stops with :class:`RunawaySearch` past ``bound`` (or
        ``directory.max_entries``, whichever is lower), or after too many pages
        without an entry.
        """
        controls: list[tuple[str, bool, bytes | None]] | None = (
            [(SHOW_DELETED_OID, True, None)] if show_deleted else None
        )
        return self._paged(
            self._pages(
                base,
                ldap_filter,
                attributes,
                page_size=self._page_size,
                max_entries=self._limit_of(bound)[0],
                controls=controls,
                on_receive=self._check_deadline,
            ),
            base,
            bound,
        )

    def _pages(
        self, base: str, ldap_filter: str, attributes: list[str], **options: Any
    ) -> PagedSearch:
        """A :class:`PagedSearch` (which encodes the request, filter included, at once)."""
        try:
            return PagedSearch(self._conn, base, ldap_filter, attributes, **options)
        except lex.LDAPException as exc:
            raise translate(exc, self.endpoint, user=self._user) from exc

    def _limit_of(self, bound: Bound | None) -> tuple[int, str]:
        if bound is not None and bound.entries < self._max_entries:
            return bound.entries, bound.why
        return self._max_entries, f"directory.max_entries is {self._max_entries}"

    def _paged(self, pages: PagedSearch, base: str, bound: Bound | None) -> Iterator[Entry]:
        """``pages``' entries, its errors translated."""
        self._check_deadline()
        try:
            yield from pages
        except SearchBound as exc:
            raise RunawaySearch(
                f"{_describe(self.endpoint)}: stopped the search under {base}: {exc} "
                f"({self._limit_of(bound)[1]}); nothing was changed"
            ) from exc
        except lex.LDAPException as exc:
            self._check_deadline()  # the watchdog cut it: say so
            raise translate(exc, self.endpoint, user=self._user) from exc
        except MalformedPdu as exc:
            self._check_deadline()
            raise QueryError(
                f"{_describe(self.endpoint)}: malformed search result under {base}: {exc}"
            ) from exc

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
        """:meth:`search` for ``attributes`` (which must include objectGUID and
        ``large``), each ``large`` value bounded to ``max_bytes``.

        The search asks for pages small enough that a page of values at the bound stays
        under Samba's reply limit (:data:`REPLY_BUDGET`); an entry over the bound is
        read past unbuffered, then its other attributes and the value's size are read
        on their own (:mod:`poolsync.directory.values`). When the DC refuses a page as
        too large (values over the bound crowding one page), the search falls back to
        reading ``large`` object by object for every entry not yet given. An entry whose
        value was refused for its size comes without it and with ``refused[large]`` set
        to the value's size (0: the DC would not send it); one deleted meanwhile is left
        out.
        """
        others = [a for a in attributes if a.lower() != large.lower()]
        pages = self._pages(
            base,
            ldap_filter,
            attributes,
            page_size=max(1, min(self._page_size, REPLY_BUDGET // (max_bytes + MESSAGE_OVERHEAD))),
            max_entries=self._limit_of(bound)[0],
            on_receive=self._check_deadline,
            max_message=max_bytes + MESSAGE_OVERHEAD,
        )
        given: set[str] = set()
        try:
            for entry in self._paged(pages, base, bound):
                given.add(_key(entry))
                yield _bounded(entry, large, max_bytes)
        except QueryError as exc:
            if not _too_large(exc):
                raise
            log.info(
                "%s: a page of %s under %s was too large for the DC; reading %s object by object",
                _describe(self.endpoint),
                ldap_filter,
                base,
                large,
            )
            yield from self._one_by_one(
                base,
                ldap_filter,
                others,
                large=large,
                max_bytes=max_bytes,
                bound=bound,
                given=given,
            )
            return
        skipped = []
        for dn, _ in pages.oversized:
            found, _ = self.request(dn, "(objectClass=*)", others, scope="base")
            skipped += [e for e in found if _key(e) not in given]
        yield from self._with_values(skipped, large=large, max_bytes=max_bytes)

    def _one_by_one(
        self,
        base: str,
        ldap_filter: str,
        others: list[str],
        *,
        large: str,
        max_bytes: int,
        bound: Bound | None,
        given: set[str],
    ) -> Iterator[Entry]:
        entries = []
        for entry in self.search(base, ldap_filter, others, bound=bound):
            if _key(entry) not in given:
                entries.append(entry)
        yield from self._with_values(entries, large=large, max_bytes=max_bytes)

    def _with_values(self, entries: list[Entry], *, large: str, max_bytes: int) -> Iterator[Entry]:
        """``entries`` with ``large`` read for each on its own, bounded (one without an
        objectGUID as it is: the caller skips it with a reason)."""
        by_guid: dict[str, Entry] = {}
        for entry in entries:
            try:
                by_guid[entry.guid()] = entry
            except ValueError:
                yield entry
        if not by_guid:
            return
        reads = read_values(
            self._conn, list(by_guid), large, max_bytes=max_bytes, on_receive=self._check_deadline
        )
        try:
            for guid, read in reads:
                entry = by_guid.pop(guid)
                if read.gone:
                    continue
                if read.refused is not None:
                    yield Entry(entry.dn, entry.attributes, refused={large.lower(): read.refused})
                elif read.values:
                    yield Entry(entry.dn, {**entry.attributes, large.lower(): list(read.values)})
                else:
                    yield entry
        except lex.LDAPException as exc:
            self._check_deadline()
            raise translate(exc, self.endpoint, user=self._user) from exc
        except MalformedPdu as exc:
            self._check_deadline()
            raise QueryError(
                f"{_describe(self.endpoint)}: malformed reply reading {large}: {exc}"
            ) from exc

    def request(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        scope: str = "subtree",
        controls: list[tuple[str, bool, bytes | None]] | None = None,
    ) -> tuple[list[Entry], dict[str, Any]]:
        """One search request, unpaged: its entries and the response controls.

        ``scope`` is "base", "one" or "subtree". The controls come back as ldap3
        decodes them (a dict keyed by OID). For controls with their own paging
        (DirSync), where the caller loops.
        """
        self._call(
            "search", base, ldap_filter, _SCOPES[scope], attributes=attributes, controls=controls
        )
        entries = [
            _entry(item)
            for item in self._conn.response or []
            if item.get("type") == "searchResEntry"
        ]
        return entries, dict((self._conn.result or {}).get("controls") or {})

    def read(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        scope: Literal["base", "one", "subtree"] = "subtree",
        show_deleted: bool = False,
    ) -> list[Entry]:
        """One small unpaged search (:meth:`request` without the controls)."""
        entries, _ = self.request(
            base,
            ldap_filter,
            attributes,
            scope=scope,
            controls=([(SHOW_DELETED_OID, True, None)] if show_deleted else None),
        )
        return entries

    def dirsync(
        self, base: str, ldap_filter: str, attributes: list[str], *, cookie: bytes | None = None
    ) -> DirSyncRead:
        """What changed under ``base`` since ``cookie`` (:class:`DirSyncRead`)."""
        from poolsync.directory.dirsync import DirSyncRead  # dirsync imports this module

        return DirSyncRead(self, base, ldap_filter, attributes, cookie=cookie)


_SCOPES = {"base": ldap3.BASE, "one": ldap3.LEVEL, "subtree": ldap3.SUBTREE}


class _StdlibTls(ldap3.Tls):  # type: ignore[misc]
    """ldap3's Tls with the standard library doing all certificate checks.

    ldap3 2.9.1 turns the context's hostname check off and matches names itself with
    ``ssl.match_hostname``, which is deprecated and gone in Python 3.12, where its
    fallback ignores IP-address subjectAltNames. Here the context verifies the chain
    and the host name (DNS or IP) during the handshake, as any TLS client should.
    """

    def __init__(self, *, validate: bool, ca_file: str | None, handshake_timeout: float) -> None:
        super().__init__(
            validate=ssl.CERT_REQUIRED if validate else ssl.CERT_NONE, ca_certs_file=ca_file
        )
        self._verify = validate
        self._handshake_timeout = handshake_timeout

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_certs_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if not self._verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        # The handshake is part of connecting: bounded by timeouts.connect, not by the
        # (much longer) operation timeout the socket carries by now. A listener that
        # accepts TCP and never speaks TLS must not hold a run for minutes.
        previous = connection.socket.gettimeout()
        connection.socket.settimeout(self._handshake_timeout)
        connection.socket = context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=True,
            server_hostname=connection.server.host,
        )
        connection.socket.settimeout(previous)


def _tls(config: DirectoryConfig) -> ldap3.Tls:
    tls = config.tls
    return _StdlibTls(
        validate=tls.validate,
        ca_file=str(tls.ca_file) if tls.ca_file else None,
        handshake_timeout=config.timeouts.connect,
    )


INSECURE_WARNING = (
    "TLS certificate validation is off (directory.tls.validate: false): the DC is not "
    "authenticated, so whoever can intercept the connection can pose as it and read the "
    "bind password; set directory.tls.ca_file instead"
)
PLAINTEXT_WARNING = (
    "{url} is plain ldap:// without StartTLS: the bind password and all data cross the "
    "network in clear; use ldaps:// or directory.tls.starttls: true"
)
NTLM_PLAINTEXT_WARNING = (
    "{url} is plain ldap:// with an NTLM bind: poolsync seals the session, but whoever "
    "captures the NTLM exchange can try to guess the password offline; prefer ldaps:// "
    "or bind.method: kerberos"
)
# The kinds of warning given in this process: each once per run (a service's passes
# and the doctor's many endpoints would repeat it), and in every run that connects.
_warned: set[str] = set()


def transport_warnings(endpoint: Endpoint, config: DirectoryConfig) -> dict[str, str]:
    """What is unsafe about connecting to ``endpoint`` with ``config``: kind -> words."""
    found = {}
    if not config.tls.validate:
        found["insecure"] = INSECURE_WARNING
    if not endpoint.use_ssl and not config.tls.starttls:
        if config.bind.method == "ntlm":
            found["ntlm-plaintext"] = NTLM_PLAINTEXT_WARNING.format(url=endpoint.url)
        elif config.bind.method != "kerberos":  # Kerberos seals the session (sasl.py)
            found["plaintext"] = PLAINTEXT_WARNING.format(url=endpoint.url)
    return found


def _warn(endpoint: Endpoint, config: DirectoryConfig) -> None:
    for kind, message in transport_warnings(endpoint, config).items():
        if kind not in _warned:
            _warned.add(kind)
            log.warning("%s", message)


_READ_REQUESTS = frozenset({"bindRequest", "searchRequest", "abandonRequest", "unbindRequest"})
STARTTLS_OID = "1.3.6.1.4.1.1466.20037"


def _refuse_writes(conn: ldap3.Connection) -> None:
    """Let nothing but reads leave ``conn``.

    ldap3's ``read_only=True`` refuses modify, delete and modify DN, but (2.9.1) not an
    add, an extended operation (a password change) or a request sent with ``send``.
    Every request, ldap3's own and the raw ones of ``paged`` and ``notify``, is written
    to the socket by the strategy's ``sending``: there anything but a bind, a search,
    an abandon, an unbind or StartTLS is refused before a byte leaves.
    """
    strategy = conn.strategy
    sending = strategy.sending

    def reads_only(message: Any) -> None:
        op = message["protocolOp"]
        kind = op.getName()
        starttls = kind == "extendedReq" and str(op.getComponent()["requestName"]) == STARTTLS_OID
        if kind not in _READ_REQUESTS and not starttls:
            raise lex.LDAPConnectionIsReadOnlyError(
                f"poolsync only reads the directory: refused to send {kind}"
            )
        sending(message)

    strategy.sending = reads_only


def _open_once(
    endpoint: Endpoint,
    config: DirectoryConfig,
    password: str | None,
    *,
    kerberos: Any = None,
) -> DirectoryConnection:
    bind = config.bind
    _warn(endpoint, config)  # before the bind: the password is what is at stake
    if bind.method == "ntlm":  # before anything is sent: this process may lack RC4
        from poolsync.directory.sasl import require_rc4, spnego_module

        spnego_module()
        require_rc4()
    _resolve(endpoint)
    server = ldap3.Server(
        endpoint.host,
        port=endpoint.port,
        use_ssl=endpoint.use_ssl,
        tls=_tls(config),
        get_info=ldap3.NONE,
        connect_timeout=config.timeouts.connect,
    )
    simple = bind.method == "simple"
    conn = ldap3.Connection(
        server,
        user=bind.user if simple else None,
        password=password if simple else None,
        authentication=ldap3.SIMPLE if simple else ldap3.ANONYMOUS,
        read_only=True,
        raise_exceptions=True,
        auto_referrals=False,
        receive_timeout=max(1, round(config.timeouts.operation)),  # ldap3 packs it as an int
        return_empty_attributes=False,
    )
    _refuse_writes(conn)
    try:
        conn.open()
        if config.tls.starttls and not endpoint.use_ssl:
            conn.start_tls()
        if bind.sasl:
            _bind_sasl(conn, endpoint, config, password=password, kerberos=kerberos)
        else:
            conn.bind()
    except lex.LDAPException as exc:
        _forget_password(conn)
        _drop(conn)
        error = translate(exc, endpoint, user=bind.who)
        if isinstance(error, TlsError):  # name the CA file and the certificate's issuer
            ca_file = str(config.tls.ca_file) if config.tls.ca_file else None
            error = translate(
                exc,
                endpoint,
                user=bind.who,
                ca_file=ca_file,
                issuer=peer_issuer(endpoint, timeout=config.timeouts.connect),
            )
        raise error from exc
    except BaseException:
        _drop(conn)
        raise
    _forget_password(conn)
    return DirectoryConnection(
        conn, endpoint, user=bind.who, page_size=config.page_size, max_entries=config.max_entries
    )


def _bind_sasl(
    conn: ldap3.Connection,
    endpoint: Endpoint,
    config: DirectoryConfig,
    *,
    password: str | None,
    kerberos: Any,
) -> None:
    """A Kerberos or NTLM bind (poolsync.directory.sasl), its errors in words."""
    from poolsync.directory import sasl

    bind = config.bind
    where = _describe(endpoint)
    tls = endpoint.use_ssl or config.tls.starttls
    try:
        if bind.kerberos is not None:
            from poolsync.directory.kerberos import explain, gssapi_module

            gss_errors = gssapi_module().exceptions.GSSError
            host = _spn_host(conn, endpoint, bind.kerberos.spn_host)
            try:
                layer = sasl.bind_kerberos(conn, kerberos, host=host, tls=tls)
            except gss_errors as exc:
                raise explain(
                    exc, bind.kerberos, what=f"Kerberos bind to {where} (service ldap/{host})"
                ) from None
            log.info(
                "bound to %s with Kerberos as %s (service ldap/%s%s)",
                where,
                bind.who,
                host,
                f", {layer}" if layer else ", inside TLS",
            )
            return
        spnego = sasl.spnego_module()
        assert bind.user is not None and password is not None
        try:
            layer = sasl.bind_ntlm(conn, bind.user, password, host=endpoint.host, tls=tls)
        except spnego.exceptions.SpnegoError as exc:
            raise AuthError(f"NTLM bind to {where} as {bind.user} failed: {exc}") from None
        log.info("bound to %s with NTLM as %s (%s)", where, bind.user, layer or "inside TLS")
    except lex.LDAPOperationResult as exc:
        raise sasl.refused(exc, where=where, who=bind.who or "", method=bind.method) from exc


def _spn_host(conn: ldap3.Connection, endpoint: Endpoint, configured: str | None) -> str:
    """The host of the DC's service principal ``ldap/<host>``: ``bind.spn_host``, the
    URL's host name, or for a URL that holds an address, the DC's own ``dnsHostName``
    (read from the rootDSE before the bind, as anyone may)."""
    if configured:
        return configured
    try:
        ipaddress.ip_address(endpoint.host)
    except ValueError:
        return endpoint.host.lower()
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["dnsHostName"])
    for item in conn.response or []:
        name = (item.get("raw_attributes") or {}).get("dnsHostName") or []
        if name:
            host = bytes(name[0]).decode("ascii", "replace").lower()
            log.info("service principal host for %s: %s (its rootDSE)", endpoint.url, host)
            return host
    raise AuthError(
        f"{_describe(endpoint)} is an address and its rootDSE names no dnsHostName: set "
        "bind.spn_host to the DC's host name"
    )


def _drop(conn: ldap3.Connection) -> None:
    """Close the socket of a connection whose open, StartTLS or bind failed: ldap3 leaves
    it open (no unbind is sent: the DC refused, or never answered)."""
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
    with contextlib.suppress(lex.LDAPException, OSError):
        conn.strategy.close()


def _forget_password(conn: ldap3.Connection) -> None:
    """Drop ldap3's references to the password once the bind is done.

    ldap3 keeps it in ``password`` (for a rebind poolsync never asks for) and, in the
    decoded bind request, in ``request``; a core dump or a debugger would find both.
    Python cannot wipe a string, but with no reference left it is freed.
    """
    conn.password = None
    conn.request = None


def retrying(
    policy: RetryPolicy, *, what: str, sleep: Callable[[float], None] = time.sleep
) -> Retrying:
    """The one retry policy for directory work: transient errors only, backing off.

    Bad credentials, TLS and query errors are final and never retried. ``sleep`` waits
    between attempts (a service passes one that a stop request interrupts).
    """

    def transient(exc: BaseException) -> bool:
        return isinstance(exc, DirectoryUnavailable) and not isinstance(exc, HostNotFound)

    return backoff(policy, what=what, transient=transient, log=log, sleep=sleep)


def connect(
    endpoint: Endpoint, config: DirectoryConfig, *, password: str | None, kerberos: Any = None
) -> DirectoryConnection:
    """Open, secure and bind one connection (one attempt: callers retry whole units).

    ``kerberos``: the credentials of a Kerberos bind (``KerberosLogin.credentials()``).
    """
    return _open_once(endpoint, config, password, kerberos=kerberos)
