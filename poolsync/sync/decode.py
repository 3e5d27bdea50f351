"""Directory entries -> Locations and subscribers, by the schema profile (pure)."""

from __future__ import annotations

from poolsync.directory.filters import and_filter, at_least, equality, or_filter
from poolsync.model import Entry, Location, SeatClass, Subscriber
from poolsync.profile import Profile


def location_filter(profile: Profile) -> str:
    return equality("objectClass", profile.location.object_class)


def subscriber_filter(profile: Profile) -> str:
    sub = profile.subscriber
    return and_filter(equality("objectClass", sub.object_class),
                      equality(sub.object_type, sub.object_type_value))


def changed_filter(object_class: str, usn_above: int) -> str:
    """Objects of ``object_class`` changed after the watermark ``usn_above``."""
    return and_filter(equality("objectClass", object_class), at_least("uSNChanged", usn_above + 1))


def unity_objects_filter(profile: Profile) -> str:
    """Locations and users (subscribers are users): what DirSync and tombstone reads
    ask for."""
    return or_filter(equality("objectClass", profile.location.object_class),
                     equality("objectClass", profile.subscriber.object_class))


def tombstone_filter(profile: Profile, usn_above: int) -> str:
    """Tombstones of Locations and users deleted after the watermark (Show Deleted).

    Tombstones keep objectClass but lose objectCategory and their RDN.
    """
    return and_filter("(isDeleted=TRUE)", at_least("uSNChanged", usn_above + 1),
                      unity_objects_filter(profile))


def changed_user_attributes(profile: Profile) -> list[str]:
    """What an incremental read of changed users needs to tell a subscriber."""
    return [*subscriber_attributes(profile), profile.subscriber.object_type]


def is_subscriber(entry: Entry, profile: Profile) -> bool:
    """Whether a user entry is a Unity subscriber (what the subscriber filter selects)."""
    sub = profile.subscriber
    values = [v.strip() for v in entry.texts(sub.object_type)]
    return str(sub.object_type_value) in values


def location_attributes(profile: Profile) -> list[str]:
    return ["objectGUID", "uSNChanged", *profile.location_attributes()]


def subscriber_attributes(profile: Profile) -> list[str]:
    return ["objectGUID", "uSNChanged", *profile.subscriber_attributes()]


def _rdn_value(dn: str) -> str:
    first = dn.split(",", 1)[0]
    return first.split("=", 1)[-1]


def usn(entry: Entry) -> int | None:
    text = entry.text("uSNChanged")
    return int(text) if text and text.isdigit() else None


def decode_location(entry: Entry, profile: Profile) -> Location:
    loc = profile.location
    return Location(
        guid=entry.guid(),
        dn=entry.dn,
        name=entry.text(loc.name) or _rdn_value(entry.dn),
        object_id=entry.text(loc.object_id) or "",
        version=entry.text(loc.version),
        failover_of=entry.text(loc.failover_of),
        attachment=entry.first(loc.pooling_data),  # bytes: the XML names its encoding
    )


def decode_subscriber(entry: Entry, profile: Profile) -> Subscriber:
    sub = profile.subscriber
    values = {v.strip().upper() for v in entry.texts(sub.license_class)}
    classes = set()
    if sub.um_value.upper() in values:
        classes.add(SeatClass.UM)
    if sub.inbox_value.upper() in values:
        classes.add(SeatClass.INBOX)
    return Subscriber(
        guid=entry.guid(),
        dn=entry.dn,
        home=entry.text(sub.home),
        dtmf_id=entry.text(sub.dtmf_id),
        classes=frozenset(classes),
    )
