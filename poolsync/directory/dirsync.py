"""The DirSync control (1.2.840.113556.1.4.841): read what changed since a cookie.

A DirSync read is a subtree search from a naming-context root that carries a cookie.
Without a cookie (``None``) the DC returns every matching object; with the cookie a
previous read ended with, it returns only the objects changed since, deletions
included as tombstones (``isDeleted: TRUE``, DN under ``CN=Deleted Objects``). The DC
answers in rounds; :class:`DirSyncRead` loops while the DC says "more results", holds
one round at a time, and exposes the new cookie once it is exhausted.

What callers must know:

* A changed object comes back only if one of the requested attributes changed, and
  then with only its **changed** requested attributes, plus ``objectGUID`` and
  ``instanceType`` (and ``name`` and ``parentGUID`` when it was created, moved or
  renamed), never ``uSNChanged``. An attribute that was cleared comes back with no
  values. So treat each entry as "this GUID changed" and re-read changed objects in
  full by GUID (``<GUID=...>`` base search); this module does not do that.
* Key everything by ``objectGUID``: tombstone DNs are mangled
  (``CN=name\\0ADEL:<guid>,CN=Deleted Objects,...``) and lose most attributes, so the
  filter must also match tombstones (``objectClass`` survives deletion, custom
  attributes usually don't).
* With :data:`INCREMENTAL_VALUES`, a changed linked multi-valued attribute such as
  ``member`` comes as ``member;range=1-1`` (values added) and ``member;range=0-0``
  (values removed) instead of the full value list.
* With :data:`OBJECT_SECURITY` the bind needs no "Replicating Directory Changes"
  right, but only sees what it may read: on Samba 4.17 an ordinary user's DirSync
  returns no tombstones at all (measured), so deletions need a bind that can read
  ``CN=Deleted Objects`` (or a periodic total resync).
* Save the cookie in the same transaction as the data it covers. A DC may refuse a
  cookie (corrupt, or issued by another DC or Windows version):
  :class:`~poolsync.errors.DirSyncCookieRefused` then says "resync in full".

Measured on Samba 4.17 (the lab): every flag combination below is accepted; Samba
acts on OBJECT_SECURITY and INCREMENTAL_VALUES and ignores ANCESTORS_FIRST and
PUBLIC_DATA_ONLY. It never sets "more results" and ignores ``max_bytes``: the whole
answer comes in one round (Windows AD splits it). It requires the control to be
critical (operationsError otherwise) and the base to be an NC root (unwillingToPerform
with OBJECT_SECURITY, insufficientAccessRights without). A cookie it cannot parse
(garbage, truncated, even by one byte) is refused with unavailableCriticalExtension
``0000202C: Unable to unmarshall cookie as a ldapControlDirSyncCookie structure``. A
well-formed cookie from another DC (another invocationId) or from another naming
context is *not* refused: Samba answers with everything it cannot rule out, i.e. a
full read for a foreign DC.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ldap3.core import exceptions as lex

from poolsync.directory.connection import SHOW_DELETED_OID, DirectoryConnection
from poolsync.errors import DirSyncCookieRefused, QueryError, RunawaySearch
from poolsync.model import Entry

log = logging.getLogger(__name__)

DIRSYNC_OID = "1.2.840.113556.1.4.841"

OBJECT_SECURITY = 0x1
"""Return only what the bind may read; no "Replicating Directory Changes" right needed."""
ANCESTORS_FIRST = 0x800
"""Return parents before children."""
PUBLIC_DATA_ONLY = 0x2000
"""Leave out private data such as secrets."""
INCREMENTAL_VALUES = 0x80000000
"""Return only the added and removed values of changed linked multi-valued attributes."""

DEFAULT_FLAGS = OBJECT_SECURITY | INCREMENTAL_VALUES
DEFAULT_MAX_BYTES = 1 << 20
"""Round size the DC is asked for (1 MiB): bounds memory on Windows AD (Samba ignores it)."""

# Result codes a DC answers a cookie it will not use with (when a cookie was sent):
# Samba says unavailableCriticalExtension (measured); Windows reports a control it
# cannot process as protocolError, unwillingToPerform or other.
_COOKIE_REFUSALS = frozenset({2, 12, 53, 80})
_INT32 = 1 << 32


# --- BER, just enough for the control's two small SEQUENCEs -------------------------------
# Hand-written because neither library encodes the flags right: ldap3 2.9.1 sends
# 0x80000000 as a 5-byte positive INTEGER (see encode_dirsync_request), and pyasn1
# 0.6 encodes negative powers of two non-minimally (-2**31 as ff 80 00 00 00).


def _ber_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _ber(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _ber_length(len(body)) + body


def _ber_integer(value: int) -> bytes:
    size = 1  # the fewest two's-complement bytes that hold it: -128 is 80, 128 is 00 80
    while not -(1 << (8 * size - 1)) <= value < 1 << (8 * size - 1):
        size += 1
    return _ber(0x02, value.to_bytes(size, "big", signed=True))


def _read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One TLV at ``pos``: (tag, value, position after it). Raises ValueError."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, data[pos : pos + length], pos + length


def encode_dirsync_request(flags: int, max_bytes: int, cookie: bytes | None) -> bytes:
    """The request control's value: BER of SEQUENCE {flags, maxBytes, cookie}.

    ``flags`` is a 32-bit flag word sent as a 32-bit *signed* INTEGER, as Windows
    expects: INCREMENTAL_VALUES (0x80000000) becomes -2147483648, four bytes
    ``80 00 00 00``. ldap3 2.9.1's ``dir_sync_control`` converts the flags with
    ``ctypes.c_long``, which is 64 bits on Linux, so the value stays +2147483648 and is
    encoded in five bytes (``00 80 00 00 00``); Windows AD rejects that (Samba
    accepts both). ``cookie`` None (or empty) asks for a full read.
    """
    if not 0 <= flags < _INT32:
        raise ValueError(f"DirSync flags must fit in 32 bits, got {flags:#x}")
    if not 0 <= max_bytes < _INT32 // 2:
        raise ValueError(f"DirSync max_bytes must be a 32-bit signed count, got {max_bytes}")
    signed_flags = flags - _INT32 if flags & 0x80000000 else flags
    body = _ber_integer(signed_flags) + _ber_integer(max_bytes) + _ber(0x04, cookie or b"")
    return _ber(0x30, body)


@dataclass(frozen=True, slots=True)
class DirSyncResponse:
    """The response control: whether another round follows, and the new cookie."""

    more_results: bool
    cookie: bytes
    unused: int = 0


def decode_dirsync_response(value: bytes) -> DirSyncResponse:
    """Decode the response control's value: SEQUENCE {flag, unused, cookie}.

    Raises :class:`~poolsync.errors.QueryError` when it is not that shape.
    """
    try:
        tag, body, end = _read_tlv(value, 0)
        if tag != 0x30 or end != len(value):
            raise ValueError("not one SEQUENCE")
        fields: list[tuple[int, bytes]] = []
        pos = 0
        while pos < len(body):
            field_tag, field, pos = _read_tlv(body, pos)
            fields.append((field_tag, field))
        if [t for t, _ in fields] != [0x02, 0x02, 0x04] or not fields[0][1] or not fields[1][1]:
            raise ValueError("expected INTEGER, INTEGER, OCTET STRING")
    except ValueError as exc:
        raise QueryError(f"malformed DirSync response control ({exc}): {value[:64].hex()}") from exc
    flag = int.from_bytes(fields[0][1], "big", signed=True)
    unused = int.from_bytes(fields[1][1], "big", signed=True)
    return DirSyncResponse(more_results=flag != 0, cookie=fields[2][1], unused=unused)


def response_from_controls(controls: dict[str, Any]) -> DirSyncResponse:
    """The DirSync response in a search result's controls, as ldap3 left it.

    ldap3 2.9.1 decodes this control into ``{'more_results', 'cookie'}``; another
    decoder (or version) may leave the raw bytes, which are decoded here.
    """
    control = controls.get(DIRSYNC_OID)
    if control is None:
        raise QueryError(
            "the DC answered a DirSync search without the DirSync control; "
            "does it support DirSync (1.2.840.113556.1.4.841)?"
        )
    value = control.get("value") if isinstance(control, dict) else control
    if isinstance(value, bytes | bytearray):
        return decode_dirsync_response(bytes(value))
    if isinstance(value, dict) and isinstance(value.get("cookie"), bytes | bytearray):
        return DirSyncResponse(
            more_results=bool(value.get("more_results")), cookie=bytes(value["cookie"])
        )
    raise QueryError(f"unreadable DirSync response control: {value!r:.200}")


def is_tombstone(entry: Entry) -> bool:
    """True for a deleted object (``isDeleted: TRUE``)."""
    return (entry.text("isDeleted") or "").upper() == "TRUE"


def _with(attributes: Sequence[str], *required: str) -> list[str]:
    names = list(attributes)
    have = {a.lower() for a in names}
    return names + [r for r in required if r.lower() not in have]


class DirSyncRead:
    """One DirSync read: iterate it for the changed entries, then take ``.cookie``.

    ``base`` must be a naming-context root (the search is always subtree). ``cookie``
    None reads everything; otherwise only what changed since that cookie, tombstones
    included. ``objectGUID``, ``isDeleted`` and ``name`` are always requested: the DC
    returns an object only when one of the requested attributes changed (on a full
    read: is set), and every object has a ``name``, so a full read returns every
    matching object and a later read reports creations, renames and moves (Samba
    left out objects holding none of the requested attributes). Rounds are read
    one at a time while the DC reports more results; only the current round is held
    in memory. The control is sent critical, with Show Deleted (non-critical) beside
    it for DCs that want it spelled out.

    A refused cookie raises :class:`~poolsync.errors.DirSyncCookieRefused` (fall back
    to a total resync); other failures raise the usual directory errors. The object is
    single-use: iterate it once.
    """

    def __init__(
        self,
        conn: DirectoryConnection,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        cookie: bytes | None = None,
        flags: int = DEFAULT_FLAGS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        encode_dirsync_request(flags, max_bytes, None)  # validate now, not mid-iteration
        self._conn = conn
        self.base = base
        self.filter = ldap_filter
        self.attributes = _with(attributes, "objectGUID", "isDeleted", "name")
        self.flags = flags
        self.max_bytes = max_bytes
        self.initial_cookie = cookie or None
        self._cookie = self.initial_cookie
        self._started = False
        self._done = False
        self.rounds = 0
        self.entries = 0

    @property
    def full(self) -> bool:
        """True when this read started without a cookie (it returns everything)."""
        return self.initial_cookie is None

    @property
    def done(self) -> bool:
        return self._done

    @property
    def cookie(self) -> bytes:
        """The cookie to save, once every round has been read (RuntimeError before)."""
        if not self._done or self._cookie is None:
            raise RuntimeError("the DirSync read is not exhausted yet; iterate it first")
        return self._cookie

    def __iter__(self) -> Iterator[Entry]:
        if self._started:
            raise RuntimeError("a DirSyncRead can be iterated only once")
        self._started = True
        return self._rounds()

    def _rounds(self) -> Iterator[Entry]:
        more = True
        seen: set[bytes] = set()  # digests of the cookies that promised more
        while more:
            entries, response = self._round()
            self.rounds += 1
            self.entries += len(entries)
            self._bound(response, seen)
            log.debug(
                "DirSync round %d from %s: %d entries, more=%s",
                self.rounds,
                self.base,
                len(entries),
                response.more_results,
            )
            yield from entries
            # Only advance once the round's entries are consumed: a caller that stops
            # mid-round must not get a cookie that skips what it did not see.
            self._cookie = response.cookie
            more = response.more_results
        self._done = True

    def _bound(self, response: DirSyncResponse, seen: set[bytes]) -> None:
        """Stop a read that would not end, as a paged search is stopped."""
        limit = self._conn.max_entries
        why = None
        if self.entries > limit:
            why = f"more than {limit} entries (directory.max_entries)"
        elif response.more_results:
            digest = hashlib.sha256(response.cookie).digest()
            if digest in seen:
                why = (
                    f"the DC sent a DirSync cookie it had already sent, after "
                    f"{self.entries} entries (the read would never end)"
                )
            seen.add(digest)
        if why is not None:
            raise RunawaySearch(
                f"{self._conn.endpoint.url}: stopped the DirSync read of "
                f"{self.base}: {why}; nothing was changed"
            )

    def _round(self) -> tuple[list[Entry], DirSyncResponse]:
        control = encode_dirsync_request(self.flags, self.max_bytes, self._cookie)
        try:
            entries, controls = self._conn.request(
                self.base,
                self.filter,
                self.attributes,
                scope="subtree",
                controls=[(DIRSYNC_OID, True, control), (SHOW_DELETED_OID, False, None)],
            )
        except QueryError as exc:
            cause = exc.__cause__
            if (
                self._cookie
                and isinstance(cause, lex.LDAPOperationResult)
                and cause.result in _COOKIE_REFUSALS
            ):
                raise DirSyncCookieRefused(
                    f"{exc}; the saved DirSync cookie was refused: discard it and "
                    "resynchronize in full"
                ) from exc
            raise
        return entries, response_from_controls(controls)
