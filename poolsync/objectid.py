"""Unity object ids, reduced to what they name (pure).

Real forests hold a subscriber's home as an octet string: the one public sample of
``ciscoEcsbuUMLocationObjectId`` is ``01 00 07 00 30 00 39 00 3A 00 7B 00 44 00 38 00 ...``,
a 4-byte header and then UTF-16LE text ``09:{D8...``: a type prefix and a braced GUID.
Other forests (and poolsync's older lab) hold the GUID as plain text, braced or bare, in
any case. A Location's own id may be text too, or only its ``objectGUID``.

So ids are compared by the GUID they name: :func:`reduce_id` finds it wherever it sits
(after any header bytes and any type prefix, in UTF-16LE or in ASCII/UTF-8 text) and
writes it lower-case, dashed and without braces, the way :class:`uuid.UUID` prints an
``objectGUID``. A value with no GUID in it compares as its exact text; bytes that are
no text at all compare, and are shown, as hex (``0x0102ff``), so garbage never matches
a Location and the report shows what the directory holds.

docs/schema.md ("How ids are compared") says the same for users.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["ReducedId", "reduce_id"]

# A dashed GUID, braced or bare, not part of a longer run of hex digits or dashes.
_GUID: Final = re.compile(
    r"(?<![0-9A-Fa-f-])\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
    r"[0-9A-Fa-f]{12})\}?(?![0-9A-Fa-f-])"
)
# How much of a value is looked at: ids are short; a hostile megabyte is not searched.
_MAX_SCAN: Final = 4096
_MAX_HEX: Final = 64

How = Literal["guid", "text", "hex", "empty"]


@dataclass(frozen=True, slots=True)
class ReducedId:
    """An id as poolsync compares it: ``key``, and how it was read (``how``).

    ``how`` is ``guid`` (a GUID was found: ``key`` is it, lower-case and dashed),
    ``text`` (no GUID: ``key`` is the value's text), ``hex`` (bytes that are no text:
    ``key`` is ``0x`` and their hex digits) or ``empty``.
    """

    key: str
    how: How
    encoding: str = ""  # "utf-16le", "utf-8" or "" (no text)


def _guid_in(text: str) -> str | None:
    match = _GUID.search(text)
    return None if match is None else match.group(1).lower()


def _strip_header(text: str) -> str:
    """The text without leading control characters (a binary header read as text) and
    without trailing NULs (a C string's terminator)."""
    start = 0
    while start < len(text) and unicodedata.category(text[start]) == "Cc":
        start += 1
    return text[start:].rstrip("\x00")


def _printable(text: str) -> bool:
    return all(unicodedata.category(ch) not in ("Cc", "Cs", "Cn", "Co") for ch in text)


def _utf16_plausible(raw: bytes) -> bool:
    """Whether bytes look like UTF-16LE text: even length, and most high bytes zero
    (true of ASCII text and of the real sample, header included)."""
    if len(raw) < 2 or len(raw) % 2:
        return False
    high = raw[1::2]
    return high.count(0) * 2 >= len(high)


def _utf16_text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-16-le")
    except UnicodeDecodeError:
        return None


def _utf8_text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def reduce_id(raw: bytes) -> ReducedId:
    """Reduce an id as the directory sent it (any syntax: octet string or text).

    The GUID is looked for in the UTF-16LE reading first when the bytes look like
    UTF-16 (at both byte alignments, so an odd-length header does not hide it), then
    in the bytes read as ASCII. Without a GUID: the text (UTF-16LE or UTF-8, header and
    terminator stripped) when the bytes are printable text, else hex.
    """
    if not raw:
        return ReducedId("", "empty")
    head = raw[:_MAX_SCAN]
    wide = _utf16_plausible(raw) or _utf16_plausible(raw[1:])
    readings: list[tuple[str, str]] = []
    if wide:
        for offset in (0, 1):
            text = head[offset : offset + (len(head) - offset) // 2 * 2].decode(
                "utf-16-le", errors="replace"
            )
            readings.append(("utf-16le", text))
    readings.append(("utf-8", head.decode("latin-1")))
    for encoding, text in readings:
        guid = _guid_in(text)
        if guid is not None:
            return ReducedId(guid, "guid", encoding)
    candidates: list[tuple[str, str | None]] = []
    if wide and _utf16_plausible(raw):
        candidates.append(("utf-16le", _utf16_text(raw)))
    candidates.append(("utf-8", _utf8_text(raw)))
    for encoding, decoded in candidates:
        if decoded is None:
            continue
        text = _strip_header(decoded)
        if text and _printable(text):
            return ReducedId(text, "text", encoding)
    return ReducedId(_hex(raw), "hex")


def _hex(raw: bytes) -> str:
    """Bytes as hex; a long value shortened, with a digest so two never read the same."""
    if len(raw) <= _MAX_HEX:
        return "0x" + raw.hex()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return f"0x{raw[: _MAX_HEX // 2].hex()}... ({len(raw)} bytes, sha256 {digest})"
