"""LDAP filters built with RFC 4515 escaping, never by pasting raw values.

Every filter poolsync sends is built here. Values are escaped (``*``, ``(``, ``)``,
``\\`` and NUL become ``\\2a``, ``\\28``, ``\\29``, ``\\5c`` and ``\\00``), so a value
such as ``*)(objectClass=*`` matches only itself; attribute names must be plain LDAP
names or OIDs, since a name cannot be escaped.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from ldap3.utils.conv import escape_bytes, escape_filter_chars

# RFC 4512 descr (keystring) or numericoid, with optional ";option"s (RFC 4515 attr).
_ATTRIBUTE: Final = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*")


def _attribute(name: str) -> str:
    if not _ATTRIBUTE.fullmatch(name):  # fullmatch: "$" would let a trailing "\n" in
        raise ValueError(f"not an LDAP attribute name: {name[:80]!r}")
    return name


def escape_value(value: str | bytes | int) -> str:
    """``value`` as an RFC 4515 assertion value.

    Text keeps its characters (RFC 4515 allows UTF-8) with the five special ones
    escaped. Bytes that are not UTF-8, and text carrying lone surrogates (what Python
    makes of undecodable bytes), are sent byte for byte as ``\\xx`` escapes, so they
    match exactly the value they came from and never break the filter's encoding.
    """
    if isinstance(value, bool):
        raise TypeError("a filter value must be text, bytes or an int, not bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogateescape" if _escaped(value) else "surrogatepass")
        else:
            return _edges(str(escape_filter_chars(value)))
    try:
        return _edges(str(escape_filter_chars(value.decode("utf-8"))))
    except UnicodeDecodeError:
        return str(escape_bytes(value))


def _edges(text: str) -> str:
    """Leading and trailing white space escaped too: ldap3 strips it from an assertion
    value (``str.strip``, so Unicode spaces as well) before it encodes the filter, and a
    value such as ``" UNITY-A"`` would otherwise be sent as ``"UNITY-A"``."""
    core = text.strip()
    if core == text:
        return text
    head = len(text) - len(text.lstrip())
    tail = len(text) - len(text.rstrip()) if core else 0
    return (
        str(escape_bytes(text[:head].encode("utf-8")))
        + core
        + str(escape_bytes(text[len(text) - tail :].encode("utf-8")))
    )


def _escaped(text: str) -> bool:
    """Whether every surrogate in ``text`` is a surrogateescape'd byte (U+DC80..U+DCFF)."""
    return all(0xDC80 <= ord(c) <= 0xDCFF for c in text if 0xD800 <= ord(c) <= 0xDFFF)


def equality(attribute: str, value: str | bytes | int) -> str:
    return f"({_attribute(attribute)}={escape_value(value)})"


def starts_with(attribute: str, prefix: str) -> str:
    """``(attribute=prefix*)``, the prefix escaped."""
    return f"({_attribute(attribute)}={escape_value(prefix)}*)"


def and_filter(*parts: str) -> str:
    return parts[0] if len(parts) == 1 else "(&" + "".join(parts) + ")"


def or_filter(*parts: str) -> str:
    return parts[0] if len(parts) == 1 else "(|" + "".join(parts) + ")"


def at_least(attribute: str, value: int) -> str:
    """``(attribute>=value)`` for an integer attribute such as uSNChanged."""
    return f"({_attribute(attribute)}>={int(value)})"


def guid_equality(guid: str) -> str:
    """``(objectGUID=\\xx...)`` for a GUID in its string form (bytes in wire order)."""
    return f"(objectGUID={escape_bytes(uuid.UUID(guid).bytes_le)})"
