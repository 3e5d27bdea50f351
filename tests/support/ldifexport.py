"""Exports as the customer's tools write them, for the LDIF source's tests.

``ldapsearch_bytes`` writes entries the way OpenLDAP's ldapsearch does by default
(extended LDIF: a commented header per page, ``# name`` comments, folded at 76
columns, the ``search: N`` / ``result: 0 Success`` trailer after each page);
``ldifde_bytes`` the way ``ldifde -u`` does (UTF-16LE with a byte-order mark, CRLF,
an empty first line, ``changetype: add`` after each dn, text values in the clear,
binary ones base64, long lines folded). ``from_ldapsearch`` turns a real ldapsearch
export into the ldifde form, so both tools' shapes are read from one lab.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from poolsync.directory.ldif_file import read_ldif
from poolsync.model import Entry

# What RFC 2849 lets a value be written as in the clear (SAFE-STRING), widened to any
# printable Unicode as ldifde -u writes it.
_UNSAFE = re.compile(r"^[ :<]|[\x00-\x1f\x7f]| $")


def _value_line(name: str, value: bytes, *, unicode: bool) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _UNSAFE.search(text) and (unicode or text.isascii()):
        return f"{name}: {text}"
    return f"{name}:: {base64.b64encode(value).decode()}"


def _fold(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    out = [line[:width]]
    rest = line[width:]
    while rest:
        out.append(" " + rest[: width - 1])
        rest = rest[width - 1 :]
    return out


def _record(entry: Entry, *, unicode: bool, width: int, changetype: bool) -> list[str]:
    lines = [_value_line("dn", entry.dn.encode(), unicode=unicode)]
    if changetype:
        lines.append("changetype: add")
    for name, values in entry.attributes.items():
        lines += [_value_line(name, v, unicode=unicode) for v in values]
    return [part for line in lines for part in _fold(line, width)]


def ldapsearch_bytes(
    entries: Iterable[Entry],
    *,
    page: int = 1000,
    base: str = "",
    ldap_filter: str = "(objectClass=*)",
) -> bytes:
    """Entries as ldapsearch's default output with paging (-E pr=PAGE/noprompt)."""
    header = [
        "# extended LDIF",
        "#",
        "# LDAPv3",
        f"# base <{base}> with scope subtree",
        f"# filter: {ldap_filter}",
        "# requesting: ALL",
        f"# with pagedResults control: size={page}",
        "#",
        "",
    ]
    out: list[str] = []
    search = 1
    count = 0
    for index, entry in enumerate(entries):
        if index % page == 0:
            if index:
                search += 1
                out += [
                    "# search result",
                    f"search: {search}",
                    "result: 0 Success",
                    "control: 1.2.840.113556.1.4.319 false MAgCAgCABAIxAA==",
                    "pagedresults: estimate=9 cookie=MQA=",
                    "",
                ]
            out += header
        out.append(f"# {entry.dn.split(',', 1)[0].partition('=')[2]}, ...")
        out += _record(entry, unicode=False, width=76, changetype=False)
        out.append("")
        count += 1
    if not count:
        out += header
    out += [
        "# search result",
        f"search: {search + 1}",
        "result: 0 Success",
        "control: 1.2.840.113556.1.4.319 false MAUCAQAEAA==",
        "pagedresults: cookie=",
        "",
        f"# numResponses: {count + 1}",
        f"# numEntries: {count}",
    ]
    return ("\n".join(out) + "\n").encode("utf-8")


def ldifde_bytes(entries: Iterable[Entry], *, encoding: str = "utf-16-le") -> bytes:
    """Entries as ``ldifde -u`` writes them (``encoding`` utf-16-be for the other
    byte order)."""
    lines = [""]
    for entry in entries:
        lines += _record(entry, unicode=True, width=79, changetype=True)
        lines.append("")
    text = "\r\n".join(lines) + "\r\n"
    bom = "\ufeff"
    return (bom + text).encode(encoding)


def from_ldapsearch(paths: Sequence[Path], *, encoding: str = "utf-16-le") -> bytes:
    """Real ldapsearch exports, rewritten as one ``ldifde -u`` file."""
    return ldifde_bytes((e for path in paths for e in read_ldif(path)), encoding=encoding)
