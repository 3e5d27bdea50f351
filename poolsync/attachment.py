"""The pooling attachment: an ``AvXmlLicData`` document, parsed and written.

A Unity 4.x server reports its effective license as an XML document with root
``AvXmlLicData`` and two sections, ``Licenses`` and ``Utilization``. poolsync stores and
reads the pooling attachment of a Location object in that same shape, so one parser
serves both the attachment and a server's effective-license XML (see
docs/allocation.md, "Attachment format").

A Location carries it in an octet string as UTF-8 or as UTF-16 (a byte-order mark, or
the encoding named in the XML declaration), with or without a NUL terminator: expat
reads each.

The attachment comes from the directory, i.e. from other machines, so it is untrusted
input: it is parsed with :mod:`defusedxml` with DTDs refused (no entity expansion, no
external references) and a size cap, and every problem becomes an
:class:`~poolsync.errors.AttachmentError` with a short message that the pool report
shows as the reason a server was excluded. Unknown parameters are kept rather than
rejected, because later Unity releases add parameters and one new element must not
push a healthy server out of the pool.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final
from xml.parsers import expat

import defusedxml
import defusedxml.ElementTree as SafeET

from poolsync.errors import AttachmentError
from poolsync.model import SEAT_CLASSES, SeatClass, Seats

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "LicenseData",
    "format_attachment",
    "license_data",
    "parse_attachment",
]

#: Larger than any real attachment by orders of magnitude; the cap keeps a hostile or
#: broken directory value from costing unbounded memory and time.
MAX_ATTACHMENT_BYTES: Final = 1024 * 1024

ROOT: Final = "AvXmlLicData"
LICENSES: Final = "Licenses"
UTILIZATION: Final = "Utilization"

SUBSCRIBERS_MAX: Final = "LicSubscribersMax"
UM_SUBSCRIBERS_MAX: Final = "LicUMSubscribersMax"
VMI_SUBSCRIBERS_MAX: Final = "LicVMISubscribersMax"
VOICE_PORTS_MAX: Final = "LicVoicePortsMax"
POOLING_ENABLED: Final = "LicPoolingIsEnabled"
SECONDARY_LICENSED: Final = "LicSecondaryServerIsLicensed"
USED_SUBSCRIBERS: Final = "AvLicUtilizationSubscribers"
USED_UM_SUBSCRIBERS: Final = "AvLicUtilizationUMSubscribers"  # poolsync's own name
USED_VMI_SUBSCRIBERS: Final = "AvLicUtilizationVMISubscribers"

#: Known counters: a value that is not a non-negative whole number is an error.
COUNTERS: Final = frozenset(
    {
        SUBSCRIBERS_MAX,
        UM_SUBSCRIBERS_MAX,
        VMI_SUBSCRIBERS_MAX,
        VOICE_PORTS_MAX,
        "LicTTSSessionsMax",
        "LicLanguagesMax",
        "LicBridgeSessionsMax",
        USED_SUBSCRIBERS,
        USED_UM_SUBSCRIBERS,
        USED_VMI_SUBSCRIBERS,
        "AvLicUtilizationSecondaryServer",
    }
)

#: Known flags: 1/0 or one of the words below; anything else is an error.
FLAGS: Final = frozenset(
    {
        POOLING_ENABLED,
        SECONDARY_LICENSED,
        "LicAMISIsLicensed",
        "LicVPIMIsLicensed",
        "LicMaxMsgRecLenIsLicensed",
    }
)

#: Unknown parameters named like flags also accept the flag words.
_FLAG_SUFFIXES: Final = ("IsLicensed", "IsEnabled")

_TRUE_WORDS: Final = frozenset({"1", "licensed", "enabled", "true", "yes"})
_FALSE_WORDS: Final = frozenset({"0", "notlicensed", "disabled", "false", "no"})

# ASCII digits only: int() would also take "1_000" and non-ASCII digits. 18 digits keep
# int() clear of Python's digit limit and are far beyond any seat count.
_WHOLE_NUMBER: Final = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS: Final = 18
# Names are written back verbatim into XML, so only plain ASCII names are accepted.
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")

# Canonical element order when writing; parameters not listed follow in insertion order.
_LICENSE_ORDER: Final = (
    SUBSCRIBERS_MAX,
    UM_SUBSCRIBERS_MAX,
    VMI_SUBSCRIBERS_MAX,
    VOICE_PORTS_MAX,
    POOLING_ENABLED,
    SECONDARY_LICENSED,
)
_UTILIZATION_ORDER: Final = (USED_SUBSCRIBERS, USED_UM_SUBSCRIBERS, USED_VMI_SUBSCRIBERS)

#: The Utilization counter that publishes each seat class's use.
_USED_COUNTER: Final = {
    SeatClass.VM: USED_SUBSCRIBERS,
    SeatClass.UM: USED_UM_SUBSCRIBERS,
    SeatClass.INBOX: USED_VMI_SUBSCRIBERS,
}


def _frozen(values: Mapping[str, int], section: str) -> Mapping[str, int]:
    """Copy *values* into a read-only mapping, refusing what could not be written back."""
    copied: dict[str, int] = {}
    for name, value in values.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"{section}: {name!r} is not a valid parameter name")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{section}: {name} must be an int, not {type(value).__name__}")
        if name in COUNTERS and value < 0:
            raise ValueError(f"{section}: negative value for {name}")
        if name in FLAGS and value not in (0, 1):
            raise ValueError(f"{section}: {name} must be 0 or 1, not {value}")
        copied[name] = value
    return MappingProxyType(copied)


@dataclass(frozen=True)
class LicenseData:
    """The parameters of one ``AvXmlLicData`` document, by section.

    Both mappings are read-only copies, so a LicenseData cannot change after it is
    built. Construction validates what the parser would refuse (negative counters,
    flags other than 0/1, names that are not plain XML names), which is what makes
    ``parse_attachment(format_attachment(d)) == d`` hold for every instance.
    """

    licenses: Mapping[str, int]
    utilization: Mapping[str, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "licenses", _frozen(self.licenses, LICENSES))
        object.__setattr__(self, "utilization", _frozen(self.utilization, UTILIZATION))

    @property
    def pooling_enabled(self) -> bool:
        """True only when the license says so; an absent flag means no pooling."""
        return self.licenses.get(POOLING_ENABLED) == 1

    @property
    def secondary_licensed(self) -> bool:
        return self.licenses.get(SECONDARY_LICENSED) == 1

    @property
    def voice_ports(self) -> int:
        return self.licenses.get(VOICE_PORTS_MAX, 0)

    @property
    def licensed(self) -> Seats:
        return Seats(
            vm=self.licenses.get(SUBSCRIBERS_MAX, 0),
            um=self.licenses.get(UM_SUBSCRIBERS_MAX, 0),
            inbox=self.licenses.get(VMI_SUBSCRIBERS_MAX, 0),
        )

    @property
    def published_classes(self) -> tuple[SeatClass, ...]:
        """The seat classes whose utilization counter is present, in SEAT_CLASSES order.

        A real Unity server publishes VM and Inbox use but has no UM counter
        (``AvLicUtilizationUMSubscribers`` is poolsync's own name), so a class that is
        not listed here was not published and must not be compared with anything.
        """
        return tuple(c for c in SEAT_CLASSES if _USED_COUNTER[c] in self.utilization)

    @property
    def published_used(self) -> Seats | None:
        """The server's own utilization counts, or None when it published none.

        None (rather than zeros) keeps "published nothing" apart from "published that
        nothing is used", which matters for the stale-data check. "Nothing" means none
        of the three utilization counters: other Utilization elements (such as
        ``AvLicUtilizationSecondaryServer``) publish no seat use. A class missing from
        :attr:`published_classes` reads 0 here; callers that compare must check it.
        """
        classes = self.published_classes
        if not classes:
            return None
        return Seats.from_mapping({c: self.utilization[_USED_COUNTER[c]] for c in classes})


def license_data(
    *, licensed: Seats, pooling: bool, secondary: bool, ports: int, published: Seats | None
) -> LicenseData:
    """Build the LicenseData of a server from its seat counts (used by the lab)."""
    licenses = {
        SUBSCRIBERS_MAX: licensed.vm,
        UM_SUBSCRIBERS_MAX: licensed.um,
        VMI_SUBSCRIBERS_MAX: licensed.inbox,
        VOICE_PORTS_MAX: ports,
        POOLING_ENABLED: int(pooling),
        SECONDARY_LICENSED: int(secondary),
    }
    utilization: dict[str, int] = {}
    if published is not None:
        utilization = {
            USED_SUBSCRIBERS: published.vm,
            USED_UM_SUBSCRIBERS: published.um,
            USED_VMI_SUBSCRIBERS: published.inbox,
        }
    return LicenseData(licenses=licenses, utilization=utilization)


def _ordered(values: Mapping[str, int], order: Iterable[str]) -> list[tuple[str, int]]:
    first = [(name, values[name]) for name in order if name in values]
    listed = set(order)
    return first + [(name, value) for name, value in values.items() if name not in listed]


def format_attachment(data: LicenseData) -> str:
    """Write *data* as an ``AvXmlLicData`` document.

    Written by hand rather than through ElementTree: every name is validated as a plain
    XML name and every value is an int, so nothing needs escaping, and the output is
    byte-for-byte stable (fixed element order, two-space indent), which keeps lab
    fixtures and diffs readable. An empty Utilization section is left out; the parser
    reads "absent" and "empty" the same way.
    """
    lines = ['<?xml version="1.0" encoding="utf-8"?>', f"<{ROOT}>", f"  <{LICENSES}>"]
    lines += [f"    <{n}>{v}</{n}>" for n, v in _ordered(data.licenses, _LICENSE_ORDER)]
    lines.append(f"  </{LICENSES}>")
    if data.utilization:
        lines.append(f"  <{UTILIZATION}>")
        lines += [f"    <{n}>{v}</{n}>" for n, v in _ordered(data.utilization, _UTILIZATION_ORDER)]
        lines.append(f"  </{UTILIZATION}>")
    lines.append(f"</{ROOT}>")
    return "\n".join(lines) + "\n"


def _local(tag: object) -> str:
    """The element name without a ``{namespace}`` prefix (comments have no str tag)."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _shown(text: str) -> str:
    """A value as an error message quotes it: repr, shortened."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _is_flag(name: str) -> bool:
    return name in FLAGS or (name not in COUNTERS and name.endswith(_FLAG_SUFFIXES))


def _value(name: str, raw: str) -> int | None:
    """Parse one parameter value; None means "unknown and unreadable, skip it"."""
    text = raw.strip()
    known = name in COUNTERS or name in FLAGS
    if _WHOLE_NUMBER.fullmatch(text):
        if len(text.lstrip("+-")) > _MAX_DIGITS:
            if known:
                raise AttachmentError(f"{name}: {_shown(text)} is too large")
            return None
        value = int(text)
    elif _is_flag(name) and text.lower() in _TRUE_WORDS | _FALSE_WORDS:
        value = 1 if text.lower() in _TRUE_WORDS else 0
    elif name in FLAGS:
        raise AttachmentError(f"{name}: {_shown(text)} is not a flag (expected 1 or 0)")
    elif known:
        raise AttachmentError(f"{name}: {_shown(text)} is not a whole number")
    else:
        return None
    if name in COUNTERS and value < 0:
        raise AttachmentError(f"negative value for {name}")
    if name in FLAGS and value not in (0, 1):
        raise AttachmentError(f"{name}: {_shown(text)} is not a flag (expected 1 or 0)")
    return value


def _section(element: Element, section: str) -> dict[str, int]:
    values: dict[str, int] = {}
    seen: set[str] = set()
    for child in element:
        name = _local(child.tag)
        if not _NAME.fullmatch(name):
            continue  # comments, processing instructions, exotic names
        if name in seen:
            if name in COUNTERS or name in FLAGS:
                raise AttachmentError(f"duplicate <{name}> in <{section}>")
            continue  # an unknown parameter may repeat in a later release: keep the first
        seen.add(name)
        value = _value(name, child.text or "")
        if value is not None:
            values[name] = value
    return values


def _is_blank(text: str | bytes) -> bool:
    if isinstance(text, str):
        return not text.removeprefix("\ufeff").strip()
    return not text.removeprefix(b"\xef\xbb\xbf").strip()


def _strip_terminator(raw: bytes) -> bytes:
    """The document without the NUL terminator a C string or a Windows wide string
    carries (one zero code unit, or several): expat calls it junk after the root.

    UTF-16 (a byte-order mark, or ``<`` as the first code unit) loses whole zero code
    units only, so the high byte of its last character stays.
    """
    wide = raw[:2] in (b"\xff\xfe", b"\xfe\xff") or raw[:2] in (b"<\x00", b"\x00<")
    if not wide:
        return raw.rstrip(b"\x00")
    end = len(raw) - len(raw) % 2
    while end >= 2 and raw[end - 2 : end] == b"\x00\x00":
        end -= 2
    return raw[:end]


def _parse_xml(text: str | bytes) -> Element:
    if isinstance(text, str):
        # A str has already been decoded; a leading BOM would only confuse expat.
        text = text.removeprefix("\ufeff")
    try:
        root: Element = SafeET.fromstring(text, forbid_dtd=True)
    except SafeET.ParseError as exc:
        line, column = exc.position
        reason = expat.ErrorString(exc.code) or "parse error"
        raise AttachmentError(
            f"not well-formed XML: line {line}, column {column} ({reason})"
        ) from None
    except defusedxml.DTDForbidden:
        raise AttachmentError("DTDs are not allowed in an attachment") from None
    except defusedxml.EntitiesForbidden:
        raise AttachmentError("entity declarations are not allowed in an attachment") from None
    except defusedxml.ExternalReferenceForbidden:
        raise AttachmentError("external references are not allowed in an attachment") from None
    except defusedxml.DefusedXmlException as exc:
        raise AttachmentError(f"unsafe XML refused: {type(exc).__name__}") from None
    except (LookupError, ValueError) as exc:
        # expat decodes UTF-8, UTF-16, ISO-8859-1 and US-ASCII itself and hands any other
        # name in the XML declaration to Python's codecs, which refuse unknown, multi-byte
        # and non-text codecs (or fail mid-decode) with these. After the defusedxml
        # clauses: its exceptions are ValueErrors too.
        raise AttachmentError(
            f"unsupported character encoding in the XML declaration ({_shown(str(exc))})"
        ) from None
    return root


def parse_attachment(text: str | bytes) -> LicenseData:
    """Parse an ``AvXmlLicData`` document (a pooling attachment or effective license).

    Raises :class:`AttachmentError` with a one-line message on anything unreadable:
    oversize, empty, not well-formed, a DTD or entity, a wrong root, a missing or
    duplicated section, a duplicated parameter, or a known parameter with a bad value.
    """
    # surrogatepass: the size check must not trip over what the next check reports.
    size = len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
    if size > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(
            f"attachment is {size} bytes, over the {MAX_ATTACHMENT_BYTES}-byte limit"
        )
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise AttachmentError(
                f"not valid Unicode: unpaired surrogate at character {exc.start}"
            ) from None
    if isinstance(text, bytes):
        text = _strip_terminator(text)
    if _is_blank(text):
        raise AttachmentError("attachment is empty")
    root = _parse_xml(text)
    if _local(root.tag) != ROOT:
        raise AttachmentError(f"root element is {_shown(_local(root.tag))}, expected {ROOT}")
    sections: dict[str, Element] = {}
    for child in root:
        name = _local(child.tag)
        if name in (LICENSES, UTILIZATION):
            if name in sections:
                raise AttachmentError(f"duplicate <{name}> section")
            sections[name] = child
    if LICENSES not in sections:
        raise AttachmentError(f"missing <{LICENSES}> section")
    utilization = sections.get(UTILIZATION)
    return LicenseData(
        licenses=_section(sections[LICENSES], LICENSES),
        utilization={} if utilization is None else _section(utilization, UTILIZATION),
    )
