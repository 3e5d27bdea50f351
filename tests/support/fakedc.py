"""A directory server that misbehaves on purpose: plain LDAP on loopback, enough of it
for a bind and paged searches whose pages a test scripts (a DC that never ends a
search cannot be made of Samba), and base reads of one large value.

``FakeDc(pages)`` listens on 127.0.0.1; ``pages(n)`` gives the n-th page (from 0) of
every subtree search as (entry DNs, cookie): an empty cookie ends the search. Every
entry carries ``objectGUID`` (16 bytes from its DN) and ``name``. With ``values``, a
base search of ``<GUID=g>`` is answered from ``values(g)``: bytes (sent as the
``pooling`` attribute), an int N (a value of N bytes, streamed in chunks so the fake
itself holds none of it), None (no such attribute) or an LDAP result code (an error).
"""

from __future__ import annotations

import hashlib
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ldap3.strategy.base import BaseStrategy

from poolsync.directory.paged import header
from poolsync.directory.paged import length_at as _length_at

PAGED_RESULTS_OID: Final = b"1.2.840.113556.1.4.319"
DN_TAIL: Final = "CN=Locations,DC=lab,DC=example,DC=com"
Page = tuple[list[str], bytes]


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _integer(tag: int, n: int) -> bytes:
    return tlv(tag, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def _result(tag: int) -> bytes:
    return tlv(tag, _integer(0x0A, 0) + tlv(0x04, b"") + tlv(0x04, b""))


def message(message_id: int, op: bytes, controls: bytes = b"") -> bytes:
    return tlv(0x30, _integer(0x02, message_id) + op + controls)


def guid_of(dn: str) -> bytes:
    """The objectGUID the fake gives the entry with this DN (16 bytes)."""
    return hashlib.md5(dn.encode(), usedforsecurity=False).digest()


Value = bytes | int  # an int N: a value of N bytes, streamed


def _entry_head(
    message_id: int, dn: str, attrs: list[tuple[bytes, bytes]], streamed: tuple[bytes, int] | None
) -> bytes:
    """A SearchResultEntry with ``attrs``; with ``streamed`` (name, size) its last
    attribute's value is left out, for the caller to send as ``size`` bytes."""
    encoded = b"".join(
        tlv(0x30, tlv(0x04, name) + tlv(0x31, tlv(0x04, value))) for name, value in attrs
    )
    tail = b""
    tail_len = 0
    if streamed is not None:
        name, size = streamed
        value_head = bytes([0x04]) + _length(size)
        set_body = len(value_head) + size
        name_tlv = tlv(0x04, name)
        attr_body = len(name_tlv) + 1 + len(_length(set_body)) + set_body
        tail = (
            bytes([0x30])
            + _length(attr_body)
            + name_tlv
            + bytes([0x31])
            + _length(set_body)
            + value_head
        )
        tail_len = len(tail) + size
    attrs_body = len(encoded) + tail_len
    dn_tlv = tlv(0x04, dn.encode())
    op_body = len(dn_tlv) + 1 + len(_length(attrs_body)) + attrs_body
    mid_tlv = _integer(0x02, message_id)
    msg_body = len(mid_tlv) + 1 + len(_length(op_body)) + op_body
    return (
        bytes([0x30])
        + _length(msg_body)
        + mid_tlv
        + bytes([0x64])
        + _length(op_body)
        + dn_tlv
        + bytes([0x30])
        + _length(attrs_body)
        + encoded
        + tail
    )


def send_entry(
    client: socket.socket,
    message_id: int,
    dn: str,
    attrs: list[tuple[bytes, bytes]],
    large: tuple[bytes, Value] | None,
) -> None:
    """One entry, its ``large`` (name, value) last; an int value is streamed in chunks
    so that the fake itself never holds it."""
    if large is None:
        client.sendall(_entry_head(message_id, dn, attrs, None))
        return
    name, value = large
    if isinstance(value, bytes):
        client.sendall(_entry_head(message_id, dn, [*attrs, (name, value)], None))
        return
    size = value
    client.sendall(_entry_head(message_id, dn, attrs, (name, size)))
    chunk = b"x" * 65536
    while size:
        client.sendall(chunk[:size])
        size -= min(size, len(chunk))


def done(message_id: int, cookie: bytes) -> bytes:
    value = tlv(0x30, _integer(0x02, 0) + tlv(0x04, cookie))
    control = tlv(0x30, tlv(0x04, PAGED_RESULTS_OID) + tlv(0x04, value))
    return message(message_id, _result(0x65), tlv(0xA0, control))


@dataclass(frozen=True)
class Refusal:
    """An LDAP result code a base read is answered with (no entry)."""

    code: int


def _search_parts(pdu: bytes) -> tuple[str, int, set[str]]:
    """A searchRequest's base DN, scope and attributes asked for (lower-cased)."""
    _, _, pos = header(pdu)
    _, pos = _length_at(pdu, pos + 1)  # into the SearchRequest
    size, start = _length_at(pdu, pos + 1)
    base = pdu[start : start + size].decode()
    pos = start + size
    scope = pdu[pos + 2]
    for _ in range(6):  # scope, derefAliases, sizeLimit, timeLimit, typesOnly, filter
        size, start = _length_at(pdu, pos + 1)
        pos = start + size
    size, start = _length_at(pdu, pos + 1)  # the attribute list
    names, pos = set(), start
    while pos < start + size:
        length, value = _length_at(pdu, pos + 1)
        names.add(pdu[value : value + length].decode().lower())
        pos = value + length
    return base, scope, names


def _result_done(message_id: int, code: int) -> bytes:
    return message(message_id, tlv(0x65, _integer(0x0A, code) + tlv(0x04, b"") + tlv(0x04, b"")))


class FakeDc:
    """A thread serving each connection: binds succeed, searches follow ``pages``."""

    def __init__(
        self,
        pages: Callable[[int], Page],
        values: Callable[[str], bytes | int | Refusal | None] | None = None,
    ) -> None:
        self.pages = pages
        self.values = values
        self.base_reads = 0  # base reads of one object, by <GUID=...> or by DN
        self._dns: dict[str, str] = {}  # objectGUID (text) -> DN, of the entries sent
        self.searches = 0  # search requests (pages) answered, over all connections
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        buffer = b""
        page = 0
        with client:
            while True:
                size = BaseStrategy.compute_ldap_message_size(buffer)
                if size <= 0 or len(buffer) < size:
                    try:
                        chunk = client.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    buffer += chunk
                    continue
                pdu, buffer = buffer[:size], buffer[size:]
                mid, op, _ = header(pdu)
                try:
                    if op == 0x60:  # bindRequest
                        client.sendall(message(mid, _result(0x61)))
                    elif op == 0x63 and _search_parts(pdu)[1] == 0:  # a base read
                        self.base_reads += 1
                        self._answer_base(client, mid, _search_parts(pdu)[0])
                    elif op == 0x63:  # searchRequest: one page
                        dns, cookie = self.pages(page)
                        self.searches += 1
                        more = self._answer_page(
                            client, mid, dns, cookie, large="pooling" in _search_parts(pdu)[2]
                        )
                        page = page + 1 if more else 0  # the next search starts afresh
                    elif op == 0x42:  # unbindRequest
                        return
                except OSError:
                    return

    def _note(self, dn: str) -> None:
        self._dns[str(uuid.UUID(bytes_le=guid_of(dn)))] = dn

    def _value(self, dn: str) -> Value | Refusal | None:
        guid = str(uuid.UUID(bytes_le=guid_of(dn)))
        return None if self.values is None else self.values(guid)

    def _answer_page(
        self, client: socket.socket, mid: int, dns: list[str], cookie: bytes, *, large: bool
    ) -> bool:
        """Entries with ``pooling`` when it was asked for; a value scripted as
        Refusal(4) or Refusal(11) refuses the whole page, as Samba refuses a page over
        its reply limit. False when the search ended (no cookie, or refused)."""
        for dn in dns:
            self._note(dn)
        values = [self._value(dn) if large else None for dn in dns]
        refusal = next((v for v in values if isinstance(v, Refusal) and v.code in (4, 11)), None)
        if refusal is not None:
            client.sendall(_result_done(mid, refusal.code))
            return False
        pending = b""  # small entries go out together (one write per entry is slow)
        for dn, value in zip(dns, values, strict=True):
            attrs = [(b"objectGUID", guid_of(dn)), (b"name", dn.encode())]
            if isinstance(value, int):
                client.sendall(pending)
                pending = b""
                send_entry(client, mid, dn, attrs, (b"pooling", value))
            else:
                pending += _entry_head(
                    mid,
                    dn,
                    [*attrs, *([(b"pooling", value)] if isinstance(value, bytes) else [])],
                    None,
                )
        client.sendall(pending + done(mid, cookie))
        return bool(cookie)

    def _answer_base(self, client: socket.socket, mid: int, base: str) -> None:
        """By ``<GUID=g>``: the large value alone (or the result code scripted); by DN:
        the entry without it."""
        if not base.startswith("<GUID="):
            send_entry(
                client, mid, base, [(b"objectGUID", guid_of(base)), (b"name", base.encode())], None
            )
            client.sendall(_result_done(mid, 0))
            return
        guid = base.removeprefix("<GUID=").removesuffix(">")
        dn = self._dns.get(guid, f"CN={guid},{DN_TAIL}")
        answer = None if self.values is None else self.values(guid)
        if isinstance(answer, Refusal):
            client.sendall(_result_done(mid, answer.code))
            return
        send_entry(client, mid, dn, [], None if answer is None else (b"pooling", answer))
        client.sendall(_result_done(mid, 0))

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def __enter__(self) -> FakeDc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
