"""Distinguished names (RFC 4514): split, unescape, compare. Pure, no I/O.

The one DN parser: the forest's configuration (sites, DCs, connections), the store's
containers, discovery and the offline readers' scope checks all split DNs here, with
the same escapes: ``\\,`` ``\\+`` ``\\"`` ``\\\\`` ``\\<`` ``\\>`` ``\\;`` ``\\=`` ``\\#``
and a leading or trailing ``\\ `` protect the character; ``\\XX`` is one byte of the
UTF-8 value. A malformed DN is a ValueError saying what is wrong.

Entry points: :func:`parse` (RDNs of (type, value) pairs), :func:`rdns` (one pair per
RDN, as the forest's names are read), :func:`parent`, :func:`key` (a DN as compared),
:func:`escape`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["DnKey", "Rdn", "escape", "key", "parent", "parse", "rdns", "split_first"]

#: One RDN: its (type, value) pairs (several in a multi-valued RDN, ``CN=a+SN=b``).
Rdn = tuple[tuple[str, str], ...]
#: A DN as compared: its RDNs leaf first, each a sorted tuple of (type, value) pairs,
#: types lower-cased, values unescaped and case-folded.
DnKey = tuple[tuple[tuple[str, str], ...], ...]

_TYPE: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*")
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_SPECIAL: Final = frozenset('\\,+"<>;=# ')


def _split(text: str, separators: str) -> list[tuple[str, str]]:
    """``text`` cut at the unescaped ``separators``: (piece, separator after it)."""
    pieces: list[tuple[str, str]] = []
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch in separators:
            pieces.append((text[start:i], ch))
            start = i + 1
        i += 1
    pieces.append((text[start:], ""))
    return pieces


def _unescape(value: str, dn: str) -> str:
    """An attribute value's text: escapes resolved (hex pairs as UTF-8 bytes)."""
    if "\\" not in value:
        return value
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        pair = value[i + 1 : i + 3]
        if len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX:
            out.append(int(pair, 16))
            i += 3
        elif i + 1 < len(value) and value[i + 1] in _SPECIAL:
            out += value[i + 1].encode()
            i += 2
        else:
            raise ValueError(f"not a DN: {dn!r} (a backslash that escapes nothing)")
    return out.decode("utf-8", "backslashreplace")


def _trim(value: str) -> str:
    """``value`` without the spaces around it, but an escaped trailing space."""
    value = value.lstrip(" ")
    trimmed = value.rstrip(" ")
    if len(trimmed) < len(value):
        slashes = len(trimmed) - len(trimmed.rstrip("\\"))
        if slashes % 2:  # "a\ ": the first trailing space is the value's
            return trimmed + " "
    return trimmed


def parse(dn: str) -> list[Rdn]:
    """``dn``'s RDNs, leaf first, each its (type, value) pairs: types as written, values
    unescaped. "" is the root (no RDNs). ValueError when ``dn`` is not a DN."""
    if not dn.strip():
        return []
    out: list[Rdn] = []
    for rdn, _ in _split(dn, ",;"):
        pairs = []
        for ava, _ in _split(rdn, "+"):
            kind, equals, value = ava.partition("=")
            kind = kind.strip(" ")
            if not equals or not _TYPE.fullmatch(kind):
                raise ValueError(f"not a DN: {dn!r} ({ava.strip()!r} is not type=value)")
            pairs.append((kind, _unescape(_trim(value), dn)))
        out.append(tuple(pairs))
    return out


def rdns(dn: str) -> list[tuple[str, str]]:
    """``dn`` as one (type lower-cased, value) pair per RDN (a multi-valued RDN gives its
    first pair), leaf first; [] for a DN that does not parse."""
    try:
        return [(rdn[0][0].lower(), rdn[0][1]) for rdn in parse(dn)]
    except ValueError:
        return []


def escape(value: str) -> str:
    """``value`` escaped to stand in a DN (RFC 4514 section 2.4)."""
    out = []
    for i, ch in enumerate(value):
        if (
            ch in '\\,+"<>;='
            or (ch == "#" and i == 0)
            or (ch == " " and (i == 0 or i == len(value) - 1))
        ):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def split_first(dn: str) -> tuple[str, str]:
    """``dn``'s first RDN and the rest (its parent), both as written (escapes kept)."""
    pieces = _split(dn, ",;")
    if len(pieces) < 2:
        return dn.strip(), ""
    first = len(pieces[0][0])
    return dn[:first].strip(), dn[first + 1 :].strip()


def parent(dn: str) -> str:
    """``dn`` without its first RDN, as written (escapes kept); "" at the top."""
    return split_first(dn)[1]


def key(dn: str) -> DnKey:
    """``dn`` as compared (see :data:`DnKey`): ``CN=a+SN=b`` equals ``sn=B+cn=A``.
    ValueError when ``dn`` is not a DN."""
    return tuple(
        tuple(sorted((kind.lower(), value.casefold()) for kind, value in rdn)) for rdn in parse(dn)
    )
