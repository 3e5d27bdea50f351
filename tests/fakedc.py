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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ldap3.strategy.base import BaseStrategy

from poolsync.directory.paged import header
from poolsync.directory.values import _length_at

PAGED_RESULTS_OID: Final = b"1.2.840.113556.1.4.319"
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


def entry(message_id: int, dn: str) -> bytes:
    guid = hashlib.md5(dn.encode(), usedforsecurity=False).digest()
    attrs = (tlv(0x30, tlv(0x04, b"objectGUID") + tlv(0x31, tlv(0x04, guid)))
             + tlv(0x30, tlv(0x04, b"name") + tlv(0x31, tlv(0x04, dn.encode()))))
    return message(message_id, tlv(0x64, tlv(0x04, dn.encode()) + tlv(0x30, attrs)))


def done(message_id: int, cookie: bytes) -> bytes:
    value = tlv(0x30, _integer(0x02, 0) + tlv(0x04, cookie))
    control = tlv(0x30, tlv(0x04, PAGED_RESULTS_OID) + tlv(0x04, value))
    return message(message_id, _result(0x65), tlv(0xA0, control))


@dataclass(frozen=True)
class Refusal:
    """An LDAP result code a base read is answered with (no entry)."""

    code: int


def _search_parts(pdu: bytes) -> tuple[str, int]:
    """A searchRequest's base DN and scope."""
    _, _, pos = header(pdu)
    _, start = _length_at(pdu, pos + 1)
    dn_len, dn_start = _length_at(pdu, start + 1)
    scope_pos = dn_start + dn_len
    return pdu[dn_start:scope_pos].decode(), pdu[scope_pos + 2]


def _is_base(pdu: bytes) -> bool:
    return _search_parts(pdu)[1] == 0


def _base(pdu: bytes) -> str:
    return _search_parts(pdu)[0]


def _answer_base(client: socket.socket, mid: int, base: str,
                 values: Callable[[str], bytes | int | Refusal | None]) -> None:
    guid = base.removeprefix("<GUID=").removesuffix(">")
    answer = values(guid)
    dn = f"CN={guid},CN=Locations,DC=lab,DC=example,DC=com".encode()
    if isinstance(answer, Refusal):
        result = tlv(0x65, _integer(0x0A, answer.code) + tlv(0x04, b"") + tlv(0x04, b""))
        client.sendall(message(mid, result))
        return
    if isinstance(answer, bytes):
        attrs = tlv(0x30, tlv(0x04, b"pooling") + tlv(0x31, tlv(0x04, answer)))
        client.sendall(message(mid, tlv(0x64, tlv(0x04, dn) + tlv(0x30, attrs))))
    elif isinstance(answer, int):  # the value streamed: only its headers are built
        value_head = bytes([0x04]) + _length(answer)
        values_len = len(value_head) + answer
        set_head = bytes([0x31]) + _length(values_len)
        name = tlv(0x04, b"pooling")
        attr_len = len(name) + len(set_head) + values_len
        attr_head = bytes([0x30]) + _length(attr_len)
        attrs_len = len(attr_head) + attr_len
        attrs_head = bytes([0x30]) + _length(attrs_len)
        dn_tlv = tlv(0x04, dn)
        op_len = len(dn_tlv) + len(attrs_head) + attrs_len
        op_head = bytes([0x64]) + _length(op_len)
        mid_tlv = _integer(0x02, mid)
        msg_len = len(mid_tlv) + len(op_head) + op_len
        client.sendall(bytes([0x30]) + _length(msg_len) + mid_tlv + op_head + dn_tlv
                       + attrs_head + attr_head + name + set_head + value_head)
        chunk = b"x" * 65536
        left = answer
        while left:
            client.sendall(chunk[:left])
            left -= min(left, len(chunk))
    client.sendall(message(mid, _result(0x65)))


class FakeDc:
    """A thread serving each connection: binds succeed, searches follow ``pages``."""

    def __init__(self, pages: Callable[[int], Page],
                 values: Callable[[str], bytes | int | Refusal | None] | None = None) -> None:
        self.pages = pages
        self.values = values
        self.base_reads = 0
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
                    elif op == 0x63 and self.values is not None and _is_base(pdu):
                        self.base_reads += 1
                        _answer_base(client, mid, _base(pdu), self.values)
                    elif op == 0x63:  # searchRequest: one page
                        dns, cookie = self.pages(page)
                        page += 1
                        self.searches += 1
                        client.sendall(b"".join(entry(mid, dn) for dn in dns)
                                       + done(mid, cookie))
                    elif op == 0x42:  # unbindRequest
                        return
                except OSError:
                    return

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def __enter__(self) -> FakeDc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
