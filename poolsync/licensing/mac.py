"""MAC addresses as license host IDs: the accepted forms, normalized for comparison.

A Unity 4.x license file is bound to one MAC address (for a NIC team, the team's
virtual MAC) [confirmed, seed FAQ]. People copy MACs from ``ipconfig /all``
(``00-0B-CD-12-34-56``), from Linux or switch tools (``00:0b:cd:12:34:56``,
``000B.CD12.3456``) or type them bare (``000bcd123456``); all four forms are accepted
and compared as 12 upper-case hex digits. Anything else is refused with a message that
says exactly what is wrong, because a near-miss (11 digits, a stray separator) is
almost always a typo that would otherwise show up as a baffling host-ID mismatch.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["normalize_mac"]

_HEX: Final = frozenset("0123456789abcdefABCDEF")
_MAC_SEPARATORS: Final = frozenset("-:.")
_MAC_FORMS: Final = (
    re.compile(r"[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}"),
    re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}"),
    re.compile(r"[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}"),
    re.compile(r"[0-9A-Fa-f]{12}"),
)


def normalize_mac(text: str) -> str:
    """A MAC address in any accepted form -> 12 upper-case hex digits.

    Accepted: ``00-0B-CD-12-34-56``, ``00:0b:cd:12:34:56``, ``000B.CD12.3456``,
    ``000bcd123456`` (any case, surrounding blanks ignored). Raises ValueError saying
    what is wrong: the offending character, the digit count, or the layout.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("a MAC address cannot be empty")
    for char in stripped:
        if char not in _HEX and char not in _MAC_SEPARATORS:
            raise ValueError(
                f"{text!r} contains {char!r}, which is neither a hex digit nor a separator (- : .)"
            )
    digits = "".join(c for c in stripped if c in _HEX)
    if len(digits) != 12:
        raise ValueError(f"{text!r} has {len(digits)} hex digits, expected 12")
    if not any(form.fullmatch(stripped) for form in _MAC_FORMS):
        raise ValueError(
            f"{text!r} is not written in an accepted form (00-0B-CD-12-34-56, "
            "00:0b:cd:12:34:56, 000B.CD12.3456 or 000bcd123456)"
        )
    return digits.upper()
