"""One LDIF file, streamed as entries: the reading half of the LDIF source.

:func:`read_ldif` streams the entries of one RFC 2849 file as ``ldapsearch`` and
``ldifde`` write it: UTF-8 (with or without a byte-order mark) or UTF-16 with its
byte-order mark (``ldifde -u``), LF or CRLF, folded lines, ``::`` base64 values,
``changetype: add`` records, and ldapsearch's comments, search references and result
trailers. A record whose ``dn:`` is empty is a rootDSE read, kept as an entry with dn
"". Parsing is the maintained ``ldif`` package's (python-ldap's parser); this module
splits the file into records, so that every error names the file and the line, and
holds one record at a time, so memory does not grow with the file.

:mod:`poolsync.directory.ldif` builds the directory source on it.

Entry points: :func:`read_ldif`, :func:`read_records`, :class:`LdifError`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import ldif as ldif_package

from poolsync.errors import UserError
from poolsync.model import Entry

__all__ = ["LdifError", "Record", "read_ldif", "read_records"]

CHUNK: Final = 1 << 16
#: One record's lines may hold at most this many bytes: a record is held whole while
#: it is parsed, and a file with no empty line would otherwise be read into memory.
MAX_RECORD_BYTES: Final = 64 << 20

_REEXPORT: Final = "export it again as docs/offline.md says"


class LdifError(UserError):
    """An LDIF file that cannot be read as an export: "FILE:LINE: what; what to do"."""

    def __init__(self, path: Path, line: int | None, what: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {what}")
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class Record:
    """One entry of an export, and where it is: its ``dn:`` line."""

    entry: Entry
    path: Path
    line: int


def read_ldif(path: Path) -> Iterator[Entry]:
    """Stream the entries of the LDIF file at ``path`` (attribute names lower-cased,
    values bytes as the directory holds them); :class:`LdifError` on bad input."""
    for record in read_records(path):
        yield record.entry


def read_records(path: Path) -> Iterator[Record]:
    """:func:`read_ldif`, each entry with the line it starts on."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise LdifError(path, None, f"cannot read it: {exc.strerror or exc}") from None
    with handle:
        # ldapsearch's extended output (its default) ends every search with a result
        # trailer: a file in that form whose last search has none was cut short.
        extended = ended = False
        last = 0
        for block in _blocks(path, handle):
            last = block[-1][0]
            if not extended and block[0][1].startswith(b"# extended LDIF"):
                extended = True
            item = _parse_block(path, block)
            if isinstance(item, Record):
                ended = False
                yield item
            elif item is _TRAILER:
                ended = True
        if extended and not ended:
            raise LdifError(
                path,
                last or None,
                "the file ends without ldapsearch's result "
                f"line ('search: N', 'result: 0 Success'): the export was cut "
                f"short; {_REEXPORT}",
            )


# -- the file as lines -------------------------------------------------------------

_BOMS: Final = (
    (codecs.BOM_UTF32_LE, None),
    (codecs.BOM_UTF32_BE, None),  # before UTF-16's: longer
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _encoding(path: Path, head: bytes) -> tuple[str, int]:
    """The file's encoding from its first bytes, and the length of its byte-order mark."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            if encoding is None:
                raise LdifError(
                    path,
                    1,
                    "UTF-32 text, which poolsync does not read; "
                    "export with `ldifde -u` (UTF-16) or ldapsearch (UTF-8)",
                )
            return encoding, len(bom)
    if len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
        raise LdifError(
            path,
            1,
            "looks like UTF-16 without a byte-order mark, which "
            "cannot be told apart safely; export with `ldifde -u` (which "
            "writes the mark) or ldapsearch (UTF-8)",
        )
    return "utf-8", 0


def _lines(path: Path, handle: io.BufferedReader) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, the line as UTF-8 without its end, whether it had an end)."""
    encoding, skip = _encoding(path, handle.read(4))
    handle.seek(skip)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    number = 0
    pending = ""
    while True:
        chunk = handle.read(CHUNK)
        final = not chunk
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            line = number + (pending + decoder_prefix(encoding, exc)).count("\n") + 1
            what = (
                "the file ends inside a character: the export was cut short"
                if final
                else f"not {encoding.upper()} text ({exc.reason}: "
                f"{bytes(exc.object[exc.start : exc.end])!r}); if it is another "
                "encoding, export it again as docs/offline.md says (ldapsearch "
                "writes UTF-8, `ldifde -u` UTF-16)"
            )
            raise LdifError(path, line, what) from None
        pending += text
        *complete, pending = pending.split("\n")
        for line_text in complete:
            number += 1
            yield number, _utf8(line_text.removesuffix("\r")), True
        if len(pending) > MAX_RECORD_BYTES:
            raise LdifError(
                path,
                number + 1,
                f"a line longer than {MAX_RECORD_BYTES >> 20} MiB: not an LDIF export",
            )
        if final:
            if pending:
                yield number + 1, _utf8(pending.removesuffix("\r")), False
            return


def decoder_prefix(encoding: str, exc: UnicodeDecodeError) -> str:
    """The text before a decoding error in the chunk that failed (for its line)."""
    return bytes(exc.object[: exc.start]).decode(encoding, errors="replace")


def _utf8(text: str) -> bytes:
    # Lone surrogates never get here: the strict decoders refuse them.
    return text.encode("utf-8")


# -- lines into records -----------------------------------------------------------


@dataclass(slots=True)
class _Block:
    lines: list[tuple[int, bytes]]
    size: int = 0


def _blocks(path: Path, handle: io.BufferedReader) -> Iterator[list[tuple[int, bytes]]]:
    """The file's records as physical lines: an empty line ends a record (RFC 2849).

    A complete export ends its last record with an empty line (ldapsearch and ldifde
    both do): a file that stops inside one was cut short.
    """
    block = _Block([])
    last_line, ended = 0, True
    for number, line, has_end in _lines(path, handle):
        last_line, ended = number, has_end
        if line:
            block.lines.append((number, line))
            block.size += len(line)
            if block.size > MAX_RECORD_BYTES:
                raise LdifError(
                    path,
                    block.lines[0][0],
                    "a record of more than "
                    f"{MAX_RECORD_BYTES >> 20} MiB: not an LDIF export (or "
                    "records without the empty line between them)",
                )
        elif block.lines:
            yield block.lines
            block = _Block([])
    if not ended:
        raise LdifError(
            path,
            last_line,
            f"the file ends in the middle of a line: the export was cut short; {_REEXPORT}",
        )
    if block.lines and not _only_comments(block.lines):
        start = block.lines[0][0]
        raise LdifError(
            path,
            last_line,
            f"the file ends inside the record that starts "
            f"at line {start} (no empty line after it): the export was cut "
            f"short; {_REEXPORT} (a file that is complete needs an empty "
            "line at its end)",
        )


def _only_comments(lines: list[tuple[int, bytes]]) -> bool:
    return all(
        line.startswith(b"#") or (line.startswith(b" ") and i > 0)
        for i, (_, line) in enumerate(lines)
    )


@dataclass(frozen=True, slots=True)
class _Logical:
    """One unfolded line's start: its physical line, name and separator."""

    number: int
    name: bytes
    separator: bytes  # b":", b"::" or b":<"
    value: bytes  # unfolded, after the separator


_NAME: Final = re.compile(rb"[A-Za-z0-9][A-Za-z0-9;.=-]*")


def _logical(path: Path, lines: list[tuple[int, bytes]]) -> Iterator[_Logical]:
    """Where each unfolded line starts, so an error names its line. The parsing itself
    is the ldif package's; this only finds lines for messages and the checks the
    package leaves out (strict base64, the change type, URL values)."""
    current: tuple[int, list[bytes]] | None = None
    comment = False
    for number, line in lines:
        if line.startswith(b" "):
            if current is None and not comment:
                raise LdifError(
                    path,
                    number,
                    "a continued line (it starts with a space) with no line before it to continue",
                )
            if current is not None:
                current[1].append(line[1:])
            continue
        if current is not None:
            yield _split(path, current[0], b"".join(current[1]))
            current = None
        comment = line.startswith(b"#")
        if not comment:
            current = (number, [line])
    if current is not None:
        yield _split(path, current[0], b"".join(current[1]))


def _split(path: Path, number: int, line: bytes) -> _Logical:
    """The line's name, separator and value; separator b"" for a line that is none."""
    name, colon, rest = line.partition(b":")
    if not colon or not _NAME.fullmatch(name):
        return _Logical(number, line, b"", b"")
    if rest.startswith((b":", b"<")):
        return _Logical(number, name, b":" + rest[:1], rest[1:].lstrip(b" "))
    return _Logical(number, name, b":", rest.lstrip(b" "))


def _check_change_type(path: Path, logical: list[_Logical]) -> None:
    for item in logical:
        if item.name.lower() != b"changetype" or not item.separator:
            continue
        try:
            kind = (
                (
                    base64.b64decode(item.value, validate=True)
                    if item.separator == b"::"
                    else item.value
                )
                .strip()
                .lower()
            )
        except binascii.Error:
            continue  # _check_lines says so
        if kind != b"add":
            raise LdifError(
                path,
                item.number,
                f"a 'changetype: "
                f"{kind.decode('utf-8', 'replace')}' record: an export holds "
                "entries (or 'changetype: add' records) only, not changes to "
                "apply; export the objects themselves as docs/offline.md says",
            )


def _check_lines(path: Path, logical: list[_Logical]) -> None:
    """What the ldif package would let through or report without a line: lines that
    are not 'name: value', base64 it would decode leniently, values by URL."""
    for item in logical:
        if not item.separator:
            shown = item.name[:40].decode("utf-8", errors="replace")
            raise LdifError(
                path,
                item.number,
                f"not an LDIF line (expected 'name: value'): {shown!r}; {_REEXPORT}",
            )
        if item.separator == b":<":
            raise LdifError(
                path,
                item.number,
                f"the value of {item.name.decode()} is a "
                "URL (':<'), which poolsync does not follow; export values "
                "inline",
            )
        if item.separator == b"::":
            try:
                base64.b64decode(item.value, validate=True)
            except binascii.Error as exc:
                raise LdifError(
                    path,
                    item.number,
                    f"the value of {item.name.decode()} is not valid base64 ({exc}); {_REEXPORT}",
                ) from None


_TRAILER_OK: Final = re.compile(rb"0(\s|$)")


_TRAILER: Final = object()  # ldapsearch's "search: N" / "result: 0 Success" block


def _parse_block(path: Path, lines: list[tuple[int, bytes]]) -> Record | object | None:
    """One record's lines -> a Record; _TRAILER for ldapsearch's result trailer; None
    for what is not an entry (ldapsearch's version line, search references; comments)."""
    logical = list(_logical(path, lines))
    if not logical:
        return None
    first = logical[0].name.lower()
    if first == b"version" and len(logical) == 1:
        return None
    if first == b"ref":  # a search continuation reference: data held elsewhere
        return None
    if first == b"search":  # ldapsearch's trailer: "search: 2" / "result: 0 Success"
        for item in logical:
            if item.name.lower() == b"result" and not _TRAILER_OK.match(item.value):
                said = item.value.decode("utf-8", errors="replace")
                raise LdifError(
                    path,
                    item.number,
                    f"ldapsearch reported 'result: {said}': "
                    "the export is incomplete; export it again with paging "
                    "(-E pr=1000/noprompt) as docs/offline.md says",
                )
        return _TRAILER
    _check_change_type(path, logical)
    _check_lines(path, logical)
    if first != b"dn" and not (
        first == b"version" and logical[1:2] and logical[1].name.lower() == b"dn"
    ):
        raise LdifError(
            path,
            logical[0].number,
            "a record that does not start with "
            f"'dn:' (it starts with {logical[0].name.decode(errors='replace')!r}); "
            f"{_REEXPORT}",
        )
    text = b"\n".join(line for _, line in lines) + b"\n"
    parser = ldif_package.LDIFParser(io.BytesIO(text), encoding=None, strict=True)
    try:
        parsed = list(parser.parse())
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise LdifError(path, lines[0][0], f"{exc}; {_REEXPORT}") from None
    if len(parsed) != 1 or parsed[0][0] is None:
        raise LdifError(path, lines[0][0], f"not one LDIF record; {_REEXPORT}")
    dn, values = parsed[0]
    attributes: dict[str, list[bytes]] = {}
    for name, items in values.items():
        key = str(name).lower()
        if key == "changetype":
            continue
        attributes.setdefault(key, []).extend(items)
    dn_line = next((item.number for item in logical if item.name.lower() == b"dn"), lines[0][0])
    return Record(Entry(dn=str(dn), attributes=attributes), path, dn_line)
