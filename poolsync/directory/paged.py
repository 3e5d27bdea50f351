"""Pipelined Simple Paged Results over an ldap3 connection, and a lean entry decoder.

ldap3's own paged search sends the request for page k+1 only after page k has been
received *and decoded* in Python, so the DC sits idle while the client decodes and the
client sits idle while the DC builds the next page. Here each page's messages are
collected raw (framing only), the searchResDone that carries the paging cookie is
decoded first, the next page is requested at once, and only then are the current
page's entries decoded: the DC builds page k+1 while poolsync decodes page k.

ldap3 still does everything else: the socket, TLS, the bind, encoding the request and
its controls, framing the messages, decoding the result and its controls, and the
typed exceptions. Only SearchResultEntry PDUs are decoded here, straight to
:class:`~poolsync.model.Entry` (DN and raw values), without ldap3's per-entry dicts and
formatting, which were a third of a total resync's time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import ldap3
from ldap3.core import exceptions as lex
from ldap3.operation.search import search_operation
from ldap3.protocol.rfc2696 import paged_search_control
from ldap3.strategy.base import BaseStrategy
from ldap3.utils.asn1 import decode_message_fast

from poolsync.model import Entry

RECEIVE_SIZE = 65536
# protocolOp tags (RFC 4511 APPLICATION n, constructed)
_ENTRY, _DONE, _REFERENCE, _INTERMEDIATE = 0x64, 0x65, 0x73, 0x79
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"


MAX_EMPTY_PAGES = 1000
"""Pages in a row without an entry after which a search is stopped (a DC that hands out
cookie after cookie and nothing else would otherwise run until the pass timeout)."""


class MalformedPdu(ValueError):
    """A message from the server that is not valid BER for what its tag says."""


class SearchBound(ValueError):
    """The search went past a bound (:class:`PagedSearch`); the message says which."""


def _length(pdu: bytes, pos: int) -> tuple[int, int]:
    """The BER length at ``pos``: (length, position of the value)."""
    if pos >= len(pdu):
        raise MalformedPdu("truncated BER element")
    first = pdu[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise MalformedPdu(f"unsupported BER length form 0x{first:02x}")
    end = pos + 1 + count
    if end > len(pdu):
        raise MalformedPdu("truncated BER length")
    return int.from_bytes(pdu[pos + 1 : end], "big"), end


def _element(pdu: bytes, pos: int, tag: int, limit: int) -> tuple[int, int]:
    """The element with ``tag`` at ``pos``: (start of value, end of value)."""
    if pos >= limit or pdu[pos] != tag:
        found = f"0x{pdu[pos]:02x}" if pos < limit else "end of data"
        raise MalformedPdu(f"expected BER tag 0x{tag:02x}, found {found}")
    length, start = _length(pdu, pos + 1)
    end = start + length
    if end > limit:
        raise MalformedPdu("BER element runs past its container")
    return start, end


def header(pdu: bytes) -> tuple[int, int, int]:
    """(messageID, protocolOp tag, position of the protocolOp) of one LDAPMessage."""
    start, end = _element(pdu, 0, 0x30, len(pdu))
    id_start, id_end = _element(pdu, start, 0x02, end)
    if id_end == id_start or id_end - id_start > 4:
        raise MalformedPdu("bad messageID")
    return int.from_bytes(pdu[id_start:id_end], "big"), pdu[id_end], id_end


def _text(raw: bytes) -> str:
    # As ldap3 does for DNs: UTF-8, else Latin-1 (AD may hold DNs in neither, wrongly).
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decode_entry(pdu: bytes) -> Entry:
    """A SearchResultEntry LDAPMessage as an Entry: its DN and raw values per attribute.

    Attribute names are lower-cased; an attribute sent with no values gets an empty
    list; repeated attributes (which RFC 4511 forbids) are merged.
    """
    _, tag, pos = header(pdu)
    if tag != _ENTRY:
        raise MalformedPdu(f"not a SearchResultEntry (tag 0x{tag:02x})")
    start, end = _element(pdu, pos, _ENTRY, len(pdu))
    dn_start, dn_end = _element(pdu, start, 0x04, end)
    attrs_start, attrs_end = _element(pdu, dn_end, 0x30, end)
    attributes: dict[str, list[bytes]] = {}
    pos = attrs_start
    while pos < attrs_end:
        a_start, a_end = _element(pdu, pos, 0x30, attrs_end)
        n_start, n_end = _element(pdu, a_start, 0x04, a_end)
        v_start, v_end = _element(pdu, n_end, 0x31, a_end)
        values: list[bytes] = []
        vpos = v_start
        while vpos < v_end:
            s, e = _element(pdu, vpos, 0x04, v_end)
            values.append(pdu[s:e])
            vpos = e
        name = pdu[n_start:n_end].decode("ascii", errors="replace").lower()
        attributes.setdefault(name, []).extend(values)
        pos = a_end
    return Entry(_text(pdu[dn_start:dn_end]), attributes)


@dataclass(slots=True)
class Skipped:
    """A message over the size bound, read past unbuffered: its first bytes (its
    headers and DN) and its whole size."""

    prefix: bytes
    size: int


SKIPPED_PREFIX: Final = 65536  # bytes of a skipped message kept


def length_at(prefix: bytes, pos: int) -> tuple[int, int]:
    """A BER length in the first bytes of a message (no check that the value fits)."""
    first = prefix[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    return int.from_bytes(prefix[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def prefix_header(prefix: bytes) -> tuple[int, int, int]:
    """(messageID, protocolOp tag, position of the protocolOp) from the first bytes of
    an LDAPMessage."""
    try:
        if prefix[0] != 0x30:
            raise MalformedPdu("not an LDAPMessage")
        _, pos = length_at(prefix, 1)
        if prefix[pos] != 0x02:
            raise MalformedPdu("no messageID")
        size, pos = length_at(prefix, pos + 1)
        return int.from_bytes(prefix[pos : pos + size], "big"), prefix[pos + size], pos + size
    except IndexError:
        raise MalformedPdu("truncated LDAPMessage header") from None


def skipped_dn(skipped: Skipped) -> str:
    """The DN of a skipped SearchResultEntry, from its first bytes."""
    prefix = skipped.prefix
    try:
        _, _, pos = prefix_header(prefix)
        _, pos = length_at(prefix, pos + 1)  # into the SearchResultEntry
        if prefix[pos] != 0x04:
            raise MalformedPdu("a SearchResultEntry without a DN")
        size, pos = length_at(prefix, pos + 1)
    except IndexError:
        raise MalformedPdu("a skipped entry's DN is longer than the bytes kept") from None
    if pos + size > len(prefix):
        raise MalformedPdu("a skipped entry's DN is longer than the bytes kept")
    return _text(prefix[pos : pos + size])


class Framer:
    """Whole LDAP messages off a connection's socket, read into one growing bytearray
    and cut with ldap3's own length rule (ldap3's ``receiving()`` appends each 4 KB
    read to an immutable bytes object, which is quadratic in a message's size: a 15 MB
    attribute value took 74 s to read). A message over ``max_message`` bytes is read
    past as it arrives, never buffered, and given as :class:`Skipped`."""

    def __init__(
        self,
        conn: ldap3.Connection,
        *,
        max_message: int | None = None,
        on_receive: Callable[[], None] | None = None,
    ) -> None:
        self._conn = conn
        self._max = max_message
        self.on_receive = on_receive  # called before each read (a deadline check)
        self.buffer = bytearray()  # bytes read past the last whole message
        self._skip: Skipped | None = None
        self._skip_left = 0

    def messages(self) -> list[bytes | Skipped]:
        """The next whole messages (at least one)."""
        buffer = self.buffer
        found: list[bytes | Skipped] = []
        while True:
            while True:
                if self._skip is not None:
                    taken = min(self._skip_left, len(buffer))
                    del buffer[:taken]
                    self._skip_left -= taken
                    if self._skip_left:
                        break
                    found.append(self._skip)
                    self._skip = None
                size = BaseStrategy.compute_ldap_message_size(buffer)
                if self._max is not None and size > self._max:
                    if len(buffer) < SKIPPED_PREFIX:
                        break  # keep the headers and the DN: read on first
                    self._skip = Skipped(bytes(buffer[:SKIPPED_PREFIX]), size)
                    self._skip_left = size
                    continue
                if size <= 0 or len(buffer) < size:
                    break
                found.append(bytes(buffer[:size]))
                del buffer[:size]
            if found:
                return found
            if self.on_receive is not None:
                self.on_receive()
            try:
                chunk = self._conn.socket.recv(RECEIVE_SIZE)
            except OSError as exc:  # a timeout (socket.timeout) included
                with contextlib.suppress(Exception):
                    self._conn.strategy.close()
                raise lex.LDAPSocketReceiveError(f"error receiving data: {exc}") from exc
            if not chunk:
                raise lex.LDAPSessionTerminatedByServerError("the server closed the session")
            buffer += chunk


class PagedSearch:
    """One subtree search, streamed page by page with the next page always requested
    before the current one is decoded. Iterate it once.

    ldap3 exceptions escape as they are; the caller translates them. Closing the
    iterator early reads and drops the outstanding page, so the connection stays usable.

    Bounded whatever the DC sends: more than ``max_entries`` entries, or
    :data:`MAX_EMPTY_PAGES` pages in a row with no entry, raise :class:`SearchBound`
    before the next page is asked for. A cookie repeated is no sign of a runaway:
    Samba sends one cookie for every page of a search (it names the result set, where
    AD's names the position).
    """

    def __init__(
        self,
        conn: ldap3.Connection,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        page_size: int,
        max_entries: int,
        controls: list[tuple[str, bool, bytes | None]] | None = None,
        on_receive: Callable[[], None] | None = None,
        max_message: int | None = None,
    ) -> None:
        self._conn = conn
        self._max_entries = max_entries
        self._entries = 0
        self._empty_pages = 0
        self._framer = Framer(conn, max_message=max_message, on_receive=on_receive)
        #: DNs of the entries skipped for their size (``max_message``), in order.
        self.oversized: list[tuple[str, int]] = []
        self._request = search_operation(
            base,
            ldap_filter,
            ldap3.SUBTREE,
            ldap3.DEREF_ALWAYS,
            attributes or ["1.1"],
            0,
            0,
            False,
            conn.auto_escape,
            conn.auto_encode,
            None,
            validator=None,
            check_names=False,
        )
        self._controls = list(controls or [])
        self._page_size = page_size
        self._outstanding: int | None = None

    def _send(self, cookie: bytes | None) -> None:
        controls = [*self._controls, paged_search_control(False, self._page_size, cookie)]
        self._outstanding = self._conn.send("searchRequest", self._request, controls)

    def _receive_page(self) -> tuple[list[bytes], dict[str, Any]]:
        """The outstanding request's raw entry PDUs and its decoded searchResDone."""
        message_id = self._outstanding
        strategy = self._conn.strategy
        entries: list[bytes] = []
        while True:
            for pdu in self._framer.messages():
                if isinstance(pdu, Skipped):
                    mid, tag, _ = prefix_header(pdu.prefix)
                    if mid != message_id or tag != _ENTRY:
                        raise lex.LDAPSocketReceiveError(
                            f"a {pdu.size}-byte reply that is no entry of this search"
                        )
                    self.oversized.append((skipped_dn(pdu), pdu.size))
                    continue
                mid, tag, _ = header(pdu)
                if mid == 0:
                    raise lex.LDAPSessionTerminatedByServerError(
                        "the server sent a notice of disconnection"
                    )
                if mid != message_id:
                    raise lex.LDAPSocketReceiveError(f"unexpected messageID {mid}")
                if tag == _ENTRY:
                    entries.append(pdu)
                elif tag == _DONE:
                    self._outstanding = None
                    done = strategy.decode_response_fast(decode_message_fast(pdu))
                    return entries, done
                elif tag not in (_REFERENCE, _INTERMEDIATE):
                    raise lex.LDAPSocketReceiveError(f"unexpected response tag 0x{tag:02x}")

    @staticmethod
    def _check(done: dict[str, Any]) -> bytes | None:
        """Raise ldap3's typed exception for a failed page; else the next cookie."""
        code = done.get("result", 0)
        if code != 0:
            raise lex.LDAPOperationResult(
                result=code,
                description=done.get("description"),
                dn=done.get("dn"),
                message=done.get("message"),
                response_type="searchResDone",
            )
        control = (done.get("controls") or {}).get(PAGED_RESULTS_OID) or {}
        cookie = (control.get("value") or {}).get("cookie")
        return cookie or None

    def _bound(self, entries: int, cookie: bytes | None) -> None:
        """Raise :class:`SearchBound` when this page takes the search past a bound."""
        self._entries += entries
        if self._entries > self._max_entries:
            raise SearchBound(f"more than {self._max_entries} entries")
        self._empty_pages = 0 if entries else self._empty_pages + 1
        if cookie is not None and self._empty_pages >= MAX_EMPTY_PAGES:
            raise SearchBound(
                f"{self._empty_pages} pages in a row without an entry, and still a cookie for more"
            )

    def __iter__(self) -> Iterator[Entry]:
        try:
            self._send(None)
            while self._outstanding is not None:
                raw, done = self._receive_page()
                cookie = self._check(done)
                self._bound(len(raw), cookie)
                if cookie:
                    self._send(cookie)  # the DC builds the next page while we decode
                for pdu in raw:
                    yield decode_entry(pdu)
        finally:
            if self._outstanding is not None and self._conn.strategy.connection.socket:
                self._drain()
            if self._framer.buffer:  # bytes nobody asked for: the stream is out of step
                self._framer.buffer.clear()
                with contextlib.suppress(Exception):
                    self._conn.strategy.close()

    def _drain(self) -> None:
        """Read the outstanding page and drop it (the caller stopped early)."""
        self._framer.on_receive = None  # cleaning up: no deadline may interrupt it
        try:
            self._receive_page()
        except (lex.LDAPException, MalformedPdu, OSError):
            self._conn.strategy.close()
