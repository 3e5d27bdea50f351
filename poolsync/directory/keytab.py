"""The principals a keytab holds, read from the file itself (no Kerberos library).

MIT's keytab format (version 0x0502, and 0x0501 with the realm counted among the
components), as ``ktutil``, ``samba-tool domain exportkeytab`` and Windows' ``ktpass``
write it: a two-byte version, then records, each a signed 32-bit length (a negative one
marks a deleted record's hole) and the entry. Only the principal of each entry is read:
the keys stay where they are, and nothing here prints or keeps one.

Entry point: :func:`principals` (``KeytabError`` for a file that is not a keytab).
"""

from __future__ import annotations

import struct

from poolsync.errors import PoolsyncError


class KeytabError(PoolsyncError):
    """The bytes are not a keytab this reader knows."""


_VERSIONS = (0x0501, 0x0502)


def principals(data: bytes) -> list[str]:
    """Every principal in the keytab ``data`` (``name/instance@REALM``), each once, in
    file order."""
    if len(data) < 2:
        raise KeytabError("too short to be a keytab")
    (version,) = struct.unpack(">H", data[:2])
    if version not in _VERSIONS:
        raise KeytabError(f"not a keytab (starts with 0x{version:04x}, not 0x0502)")
    found: dict[str, None] = {}
    at = 2
    while at < len(data):
        if at + 4 > len(data):
            raise KeytabError(f"cut short at byte {at}")
        (size,) = struct.unpack(">i", data[at : at + 4])
        at += 4
        if size < 0:  # a hole left by a deleted entry
            at += -size
            continue
        if size == 0 or at + size > len(data):
            raise KeytabError(f"an entry at byte {at - 4} runs past the end")
        found.setdefault(_principal(data[at : at + size], version))
        at += size
    return list(found)


def _principal(entry: bytes, version: int) -> str:
    try:
        (count,) = struct.unpack(">H", entry[:2])
        at = 2
        realm, at = _counted(entry, at)
        if version == 0x0501:
            count -= 1  # version 1 counts the realm among the components
        parts = []
        for _ in range(count):
            part, at = _counted(entry, at)
            parts.append(part)
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise KeytabError(f"an entry's principal does not parse ({exc})") from None
    return "/".join(parts) + "@" + realm


def _counted(entry: bytes, at: int) -> tuple[str, int]:
    (length,) = struct.unpack(">H", entry[at : at + 2])
    end = at + 2 + length
    if end > len(entry):
        raise IndexError("a name runs past its entry")
    return entry[at + 2 : end].decode("utf-8"), end
