"""Directory entries -> Locations and subscribers, by the schema profile (pure)."""

from __future__ import annotations

import re
from typing import Final

from poolsync.directory.filters import and_filter, at_least, equality, or_filter
from poolsync.model import Entry, Location, SeatClass, Subscriber
from poolsync.objectid import reduce_id
from poolsync.profile import Profile


def location_filter(profile: Profile) -> str:
    return equality("objectClass", profile.location.object_class)


def subscriber_filter(profile: Profile) -> str:
    sub = profile.subscriber
    types = [equality(sub.object_type, value) for value in sub.object_type_values]
    return and_filter(
        equality("objectClass", sub.object_class),
        types[0] if len(types) == 1 else or_filter(*types),
    )


def changed_filter(object_class: str, usn_above: int) -> str:
    """Objects of ``object_class`` changed after the watermark ``usn_above``."""
    return and_filter(equality("objectClass", object_class), at_least("uSNChanged", usn_above + 1))


def unity_objects_filter(profile: Profile) -> str:
    """Locations and users (subscribers are users): what DirSync and tombstone reads
    ask for."""
    return or_filter(
        equality("objectClass", profile.location.object_class),
        equality("objectClass", profile.subscriber.object_class),
    )


def tombstone_filter(profile: Profile, usn_above: int) -> str:
    """Tombstones of Locations and users deleted after the watermark (Show Deleted).

    Tombstones keep objectClass but lose objectCategory and their RDN.
    """
    return and_filter(
        "(isDeleted=TRUE)", at_least("uSNChanged", usn_above + 1), unity_objects_filter(profile)
    )


def changed_user_attributes(profile: Profile) -> list[str]:
    """What an incremental read of changed users needs to tell a subscriber."""
    return [*subscriber_attributes(profile), profile.subscriber.object_type]


def is_subscriber(entry: Entry, profile: Profile) -> bool:
    """Whether a user entry is a Unity subscriber (what the subscriber filter selects)."""
    sub = profile.subscriber
    values = {v.strip() for v in entry.texts(sub.object_type)}
    return any(str(value) in values for value in sub.object_type_values)


def location_attributes(profile: Profile) -> list[str]:
    return ["objectGUID", "uSNChanged", *profile.location_attributes()]


def subscriber_attributes(profile: Profile) -> list[str]:
    return ["objectGUID", "uSNChanged", *profile.subscriber_attributes()]


# One RFC 4514 escape: a backslash and two hex digits (one byte of the UTF-8 value), or a
# backslash and the character it protects.
_DN_ESCAPE: Final = re.compile(r"\\([0-9A-Fa-f]{2})|\\(.)", re.DOTALL)


def _rdn_value(dn: str) -> str:
    """The value of the DN's first RDN, unescaped: ``CN=a\\,b\\2B,OU=x`` is ``a,b+``.

    The first RDN ends at the first "," or "+" that no backslash protects; splitting at
    the first comma would cut ``CN=Smith\\, J`` short.
    """
    end = 0
    while end < len(dn) and dn[end] not in ",+":
        end += 2 if dn[end] == "\\" else 1
    rdn = dn[:end]
    attribute, equals, value = rdn.partition("=")
    if not equals:
        value = attribute  # not a DN at all: the text itself, as before
    raw = bytearray()
    pos = 0
    for match in _DN_ESCAPE.finditer(value):
        raw += value[pos : match.start()].encode("utf-8", "surrogatepass")
        if match.group(1) is not None:
            raw.append(int(match.group(1), 16))
        else:
            raw += match.group(2).encode("utf-8", "surrogatepass")
        pos = match.end()
    raw += value[pos:].encode("utf-8", "surrogatepass")
    return bytes(raw).decode("utf-8", errors="backslashreplace")


def _text(entry: Entry, name: str) -> str | None:
    """One value as text, every byte accounted for.

    Samba stores some byte strings that are not UTF-8 in its Unicode-string attributes
    (a UTF-8-encoded surrogate, a code point above U+10FFFF). Such bytes read as
    ``\\xNN`` escapes rather than U+FFFD, so that two different broken names or object
    ids never read the same and the report shows the bytes the directory holds.
    """
    value = entry.first(name)
    return None if value is None else value.decode("utf-8", errors="backslashreplace")


def _refuse_ranges(entry: Entry, names: list[str]) -> None:
    """Raise ValueError when a wanted attribute came back in ranges.

    Active Directory answers a multi-valued attribute with more values than its
    MaxValRange (1500 by default) as ``name;range=0-1499`` and leaves the rest to
    follow-up reads. poolsync does not read ranges, and taking the first range for the
    whole attribute would silently drop values, so the object is skipped, with this
    reason. (Samba 4.17 sends every value unless a range is asked for.)
    """
    wanted = {n.lower() for n in names}
    for key in entry.attributes:
        base, _, options = key.partition(";")
        if base in wanted and "range=" in options:
            raise ValueError(
                f"attribute {key} came back in ranges: more values than the DC sends in "
                "one answer (AD's MaxValRange), and poolsync reads no ranges; not read"
            )


def usn(entry: Entry) -> int | None:
    text = entry.text("uSNChanged")
    # isascii: str.isdigit() also accepts digits int() refuses, such as "²".
    return int(text) if text and text.isascii() and text.isdigit() else None


def _id(entry: Entry, name: str | None) -> str | None:
    """An id attribute reduced to what it names (a GUID, else its text, else hex);
    None when absent or empty. ``objectGUID`` itself reads as the GUID it is."""
    if name is None:
        return None
    if name.lower() == "objectguid":
        return entry.guid()
    raw = entry.first(name)
    if raw is None:
        return None
    return reduce_id(raw).key or None


def decode_location(entry: Entry, profile: Profile) -> Location:
    loc = profile.location
    _refuse_ranges(entry, profile.location_attributes())
    return Location(
        guid=entry.guid(),
        dn=entry.dn,
        name=_text(entry, loc.name) or _rdn_value(entry.dn),
        object_id=_id(entry, loc.object_id) or "",
        version=None if loc.version is None else _text(entry, loc.version),
        failover_of=_id(entry, loc.failover_of),
        attachment=entry.first(loc.pooling_data),  # bytes: the XML names its encoding
        attachment_refused=entry.refused.get(loc.pooling_data.lower()),
    )


def decode_subscriber(entry: Entry, profile: Profile) -> Subscriber:
    sub = profile.subscriber
    _refuse_ranges(entry, profile.subscriber_attributes())
    classes = set()
    if sub.license_class is not None:
        values = {v.strip().upper() for v in entry.texts(sub.license_class)}
        if sub.um_value.upper() in values:
            classes.add(SeatClass.UM)
        if sub.inbox_value.upper() in values:
            classes.add(SeatClass.INBOX)
    return Subscriber(
        guid=entry.guid(),
        dn=entry.dn,
        home=_id(entry, sub.home),
        dtmf_id=_text(entry, sub.dtmf_id),
        classes=frozenset(classes),
    )
