"""Reading license files from disk: the one I/O seam of the licensing package.

A path holds either a FLEXlm license file or the effective-license XML a Unity server
reports (``AvXmlLicData``); which one is decided by content (:func:`looks_like_xml`),
not by the file name, since both are usually saved with whatever extension the
browser or mail client chose. The XML goes to the same parser as the pooling
attachment (:func:`poolsync.attachment.parse_attachment`).

Only what stops a file from being read at all raises :class:`LicenseFileError`
(missing, a directory, a FIFO or device, a symbolic-link loop, unreadable, over the
size limit, XML that does not parse); everything wrong inside a readable license file
is a problem of the parsed file.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from poolsync.attachment import LicenseData, parse_attachment
from poolsync.errors import AttachmentError, LicenseFileError
from poolsync.licensing.flexlm import MAX_FILE_BYTES, LicenseFile, parse_license_file

__all__ = ["EffectiveXml", "looks_like_xml", "read_license_file"]

_BOMS: Final = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


@dataclass(frozen=True)
class EffectiveXml:
    """An effective-license XML file: a server's own report of its license."""

    path: str
    data: LicenseData


def looks_like_xml(data: bytes) -> bool:
    """True when the first non-blank character (after a byte-order mark) is ``<``."""
    head = data[:512]
    encoding = "utf-8"
    for bom, name in _BOMS:
        if head.startswith(bom):
            head, encoding = head[len(bom) :], name
            break
    text = head.decode(encoding, "ignore")
    return text.lstrip(" \t\r\n").startswith("<")


def read_license_file(path: Path) -> LicenseFile | EffectiveXml:
    """Read *path* as a license file or an effective-license XML (by content)."""
    shown = str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. The
        # type is checked on the open descriptor, so nothing can swap the file between.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise LicenseFileError(f"{shown}: is a directory, not a license file") from None
        raise LicenseFileError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise LicenseFileError(f"{shown}: is a directory, not a license file")
        if not stat.S_ISREG(mode):
            raise LicenseFileError(
                f"{shown}: not a regular file (a FIFO or device cannot hold a license file)"
            )
        with os.fdopen(fd, "rb") as fh:
            fd = -1  # closed with fh
            # One byte over the limit is enough to know; never read a huge file whole.
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise LicenseFileError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise LicenseFileError(
            f"{shown}: over the {MAX_FILE_BYTES}-byte limit for a license file; this is not one"
        )
    if looks_like_xml(data):
        try:
            return EffectiveXml(path=shown, data=parse_attachment(data))
        except AttachmentError as exc:
            raise LicenseFileError(
                f"{shown}: not a readable effective-license XML (AvXmlLicData): {exc}"
            ) from None
    return parse_license_file(data, path=shown)
