"""LDAP filters built with RFC 4515 escaping, never by pasting raw values."""

from __future__ import annotations

import uuid

from ldap3.utils.conv import escape_bytes, escape_filter_chars


def equality(attribute: str, value: str | int) -> str:
    return f"({attribute}={escape_filter_chars(str(value))})"


def and_filter(*parts: str) -> str:
    return parts[0] if len(parts) == 1 else "(&" + "".join(parts) + ")"


def or_filter(*parts: str) -> str:
    return parts[0] if len(parts) == 1 else "(|" + "".join(parts) + ")"


def at_least(attribute: str, value: int) -> str:
    """``(attribute>=value)`` for an integer attribute such as uSNChanged."""
    return f"({attribute}>={int(value)})"


def guid_equality(guid: str) -> str:
    """``(objectGUID=\\xx...)`` for a GUID in its string form (bytes in wire order)."""
    return f"(objectGUID={escape_bytes(uuid.UUID(guid).bytes_le)})"
