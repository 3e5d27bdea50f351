"""One large attribute of some objects, read object by object and bounded.

A Location's pooling attachment is a few kilobytes in a real forest, but anyone who can
write a Location can make it megabytes. The Location search reads it in small pages
(:meth:`~poolsync.directory.DirectoryConnection.search_with_large_value`); this module
serves the two cases that search cannot: the size of a value it read past, and, when
the DC refuses a page as too large (Samba refuses a reply over 25.6 MB,
LDAP_SERVER_MAX_REPLY_SIZE), every value of the search. :func:`read_values` reads them
with one base search per object (``<GUID=...>``), a few outstanding at a time. A reply
whose BER length is over the bound is skipped as it streams in, never buffered; one the
DC refuses to send (``sizeLimitExceeded``, ``adminLimitExceeded``) is refused likewise.
Either way the object is kept, with the value marked refused and its size.

Internal to :mod:`poolsync.directory`; the entry point is
:meth:`poolsync.directory.DirectoryConnection.search_with_large_value`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import ldap3
from ldap3.core import exceptions as lex
from ldap3.operation.search import search_operation
from ldap3.utils.asn1 import decode_message_fast

from poolsync.directory.paged import (
    Framer,
    MalformedPdu,
    Skipped,
    decode_entry,
    header,
    length_at,
    prefix_header,
)

__all__ = ["WINDOW", "ValueRead", "read_values"]

WINDOW: Final = 8
"""Base searches outstanding at once: the DC answers one while poolsync reads another."""
_ENTRY, _DONE = 0x64, 0x65
#: Result codes with which a DC refuses to send a reply that large.
_TOO_LARGE: Final = frozenset({4, 11})  # sizeLimitExceeded, adminLimitExceeded
_NO_SUCH_OBJECT: Final = 32


@dataclass(frozen=True, slots=True)
class ValueRead:
    """What one object's base read gave: its values (empty when the attribute is
    absent), or ``refused`` (the value's size in bytes; 0 when the DC refused to send
    it), or ``gone`` (the object was deleted or moved since the search found it)."""

    values: tuple[bytes, ...] = ()
    refused: int | None = None
    gone: bool = False


def _value_size(skipped: Skipped) -> int:
    """The size of the first value of a skipped SearchResultEntry's first attribute
    (what was asked for), from its headers; the message's size when they do not fit in
    the bytes kept. Not the message's own size, which varies with the messageID."""
    prefix = skipped.prefix
    try:
        _, _, pos = prefix_header(prefix)
        _, pos = length_at(prefix, pos + 1)  # into the SearchResultEntry
        dn, pos = length_at(prefix, pos + 1)  # the DN: skip it
        _, pos = length_at(prefix, pos + dn + 1)  # into the attribute list
        _, pos = length_at(prefix, pos + 1)  # into the first attribute
        name, pos = length_at(prefix, pos + 1)  # its type: skip it
        _, pos = length_at(prefix, pos + name + 1)  # into its set of values
        value, _ = length_at(prefix, pos + 1)
    except (IndexError, MalformedPdu):
        return skipped.size
    return value if 0 < value < skipped.size else skipped.size


def read_values(
    conn: ldap3.Connection,
    guids: Iterable[str],
    attribute: str,
    *,
    max_bytes: int,
    on_receive: Callable[[], None] | None = None,
) -> Iterator[tuple[str, ValueRead]]:
    """Each object's ``attribute`` by a base search of ``<GUID=guid>``, in order.

    A reply over ``max_bytes`` (plus room for the DN) is skipped unread and refused
    with the value's size. ldap3 exceptions escape as they are; the caller translates them.
    """
    # The entry's DN and the attribute's name come with the value: allow for them.
    framer = Framer(conn, max_message=max_bytes + 4096, on_receive=on_receive)
    ready: list[bytes | Skipped] = []
    pending: dict[int, str] = {}  # messageID -> guid, in the order sent
    found: dict[str, ValueRead] = {}
    targets = iter(guids)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < WINDOW:
                guid = next(targets, None)
                if guid is None:
                    exhausted = True
                    break
                request = search_operation(
                    f"<GUID={guid}>",
                    "(objectClass=*)",
                    ldap3.BASE,
                    ldap3.DEREF_NEVER,
                    [attribute],
                    0,
                    0,
                    False,
                    conn.auto_escape,
                    conn.auto_encode,
                    None,
                    validator=None,
                    check_names=False,
                )
                pending[conn.send("searchRequest", request, None)] = guid
            if not pending:
                return
            if not ready:
                ready = framer.messages()
            message = ready.pop(0)
            mid, tag = (
                prefix_header(message.prefix)[:2]
                if isinstance(message, Skipped)
                else header(message)[:2]
            )
            guid = pending.get(mid, "")
            if not guid:
                raise lex.LDAPSocketReceiveError(f"unexpected messageID {mid}")
            if isinstance(message, Skipped):
                if tag != _ENTRY:
                    raise lex.LDAPSocketReceiveError(
                        f"a {message.size}-byte reply that is no entry (tag 0x{tag:02x})"
                    )
                found[guid] = ValueRead(refused=_value_size(message))
            elif tag == _ENTRY:
                values = decode_entry(message).attributes.get(attribute.lower(), [])
                found[guid] = ValueRead(values=tuple(values))
            elif tag == _DONE:
                del pending[mid]
                result = _done(conn, message)
                if result == 0:
                    yield guid, found.pop(guid, ValueRead())
                elif result == _NO_SUCH_OBJECT:
                    found.pop(guid, None)
                    yield guid, ValueRead(gone=True)
                elif result in _TOO_LARGE:
                    found.pop(guid, None)
                    yield guid, ValueRead(refused=0)
                else:
                    raise lex.LDAPOperationResult(
                        result=result,
                        description=f"base read of <GUID={guid}>",
                        response_type="searchResDone",
                    )
    finally:
        if pending:  # the caller stopped early, or a read failed: the stream is lost
            with contextlib.suppress(Exception):
                conn.strategy.close()


def _done(conn: ldap3.Connection, pdu: bytes) -> int:
    done: dict[str, Any] = conn.strategy.decode_response_fast(decode_message_fast(pdu))
    return int(done.get("result", 0))
