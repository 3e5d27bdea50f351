"""Topology + profile -> LDIF for the lab's directory (pure; no I/O).

The lab loads these records offline with ``ldbmodify``/``ldbadd`` into the new DC's
``sam.ldb`` before samba starts, which goes through Samba's full dsdb module stack
(the same checks as an LDAP add) without a network round trip per object.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolsync.attachment import LicenseData, format_attachment, license_data
from poolsync.profile import AttributeDef, Profile

if TYPE_CHECKING:  # types only: topology/ is loaded by build.load_topology alone
    from topology.spec import ServerSpec, Topology

# A deliberately broken pooling attachment for `attachment: corrupt`: truncated XML,
# the way a half-written attribute value looks.
CORRUPT_ATTACHMENT = (
    '<?xml version="1.0" encoding="utf-8"?>\n<AvXmlLicData>\n  <Licenses>\n'
    "    <LicSubscribersMax>500</LicSubscr"
)
_OBJECT_ID_NS = uuid.UUID("6f1c4a52-35f8-4bde-9d0f-3c2b7f4f9a10")


Value = str | bytes  # bytes: an octet-string value, written base64 as it is


@dataclass(frozen=True, slots=True)
class Record:
    dn: str
    attributes: tuple[tuple[str, Value], ...]

    def ldif(self) -> str:
        lines = [f"dn: {self.dn}"]
        for name, value in self.attributes:
            lines.append(attr_line(name, value))
        return "\n".join(lines) + "\n"


def attr_line(name: str, value: Value) -> str:
    # RFC 2849: values that are not SAFE-STRINGs go base64-encoded.
    if isinstance(value, bytes):
        return f"{name}:: {base64.b64encode(value).decode('ascii')}"
    if (
        not value
        or value[0] in " :<"
        or value[-1] == " "
        or any(ord(ch) < 32 or ord(ch) > 126 for ch in value)
    ):
        return f"{name}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
    return f"{name}: {value}"


def schema_dn(topology: Topology) -> str:
    return f"CN=Schema,CN=Configuration,{topology.base_dn}"


def location_object_id(topology: Topology, server_name: str) -> str:
    """A stable Unity object id for a server: the same topology gives the same ids
    (lower-case, as poolsync compares them)."""
    return str(uuid.uuid5(_OBJECT_ID_NS, f"{topology.forest.lower()}/{server_name.upper()}"))


def unknown_object_id(topology: Topology, server_name: str) -> str:
    """An id no Location carries: the home of a server's subscribers under
    ``subscriber_homes: unknown``."""
    return str(uuid.uuid5(_OBJECT_ID_NS, f"{topology.forest.lower()}/nowhere/{server_name}"))


#: The header the one public sample of a real home value starts with.
HOME_HEADER = bytes.fromhex("01000700")


def id_value(profile: Profile, attribute: str, object_id: str) -> Value:
    """An id as the lab stores it in ``attribute``: in the real binary layout (a 4-byte
    header, then UTF-16LE ``09:{GUID}``) where the profile makes it binary, else as
    ``{GUID}`` text, upper-case, as Windows writes GUIDs (the older text model keeps
    its bare lower-case GUID)."""
    syntax = profile.syntax_of(attribute)
    braced = "{" + object_id.upper() + "}"
    if syntax == "binary":
        return HOME_HEADER + f"09:{braced}".encode("utf-16-le")
    if profile.subscriber.license_class is not None:
        return object_id  # the older model: the id as poolsync once wrote it
    return braced


_SYNTAX: dict[str, tuple[str, str]] = {  # AD attributeSyntax and oMSyntax
    "integer": ("2.5.5.9", "2"),
    "string": ("2.5.5.12", "64"),
    "boolean": ("2.5.5.8", "1"),
    "binary": ("2.5.5.10", "4"),
}


def _attribute_schema(topology: Topology, profile: Profile, index: int, attr: AttributeDef) -> str:
    syntax, om_syntax = _SYNTAX[attr.syntax]
    return (
        "\n".join(
            [
                f"dn: CN={attr.name},{schema_dn(topology)}",
                "changetype: add",
                "objectClass: top",
                "objectClass: attributeSchema",
                f"cn: {attr.name}",
                f"lDAPDisplayName: {attr.name}",
                f"attributeID: {profile.lab_oid_arc}.1.{index}",
                f"attributeSyntax: {syntax}",
                f"oMSyntax: {om_syntax}",
                f"isSingleValued: {'FALSE' if attr.multi else 'TRUE'}",
                f"searchFlags: {1 if attr.indexed else 0}",
                "isMemberOfPartialAttributeSet: TRUE",
                "showInAdvancedViewOnly: TRUE",
            ]
        )
        + "\n"
    )


DEFAULT_SD = (
    "D:(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;DA)(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;SY)(A;;RPLCLORC;;;AU)"
)


def _class_schema(
    topology: Topology,
    governs_id: str,
    name: str,
    *,
    category: int,
    may: list[str],
    must: list[str],
) -> str:
    lines = [
        f"dn: CN={name},{schema_dn(topology)}",
        "changetype: add",
        "objectClass: top",
        "objectClass: classSchema",
        f"cn: {name}",
        f"lDAPDisplayName: {name}",
        f"governsID: {governs_id}",
        f"objectClassCategory: {category}",
        "subClassOf: top",
        "showInAdvancedViewOnly: TRUE",
    ]
    if category == 1:
        lines += [
            "rDNAttID: cn",
            "possSuperiors: container",
            "possSuperiors: organizationalUnit",
            f"defaultObjectCategory: CN={name},{schema_dn(topology)}",
            "defaultHidingValue: FALSE",
            "systemOnly: FALSE",
            # What AD's own classes carry: Authenticated Users read, as every Unity
            # server's account reads the other servers' Locations (docs/security.md).
            f"defaultSecurityDescriptor: {DEFAULT_SD}",
        ]
    lines += [f"mustContain: {m}" for m in must]
    lines += [f"mayContain: {m}" for m in may]
    return "\n".join(lines) + "\n"


#: Attributes every object has already: never named in a class's mayContain.
_ON_EVERY_OBJECT = frozenset({"cn", "name", "objectguid", "distinguishedname"})
_SCHEMA_UPDATE_NOW = "dn:\nchangetype: modify\nadd: schemaUpdateNow\nschemaUpdateNow: 1\n-\n"


def schema_phases(topology: Topology, profile: Profile) -> list[str]:
    """The schema extension as LDIF, one string per phase.

    Each phase must be its own transaction: classes can only name attributes that a
    committed schema reload already knows.
    """
    attrs = "\n".join(
        _attribute_schema(topology, profile, i, a)
        for i, a in enumerate(profile.attributes, start=1)
    )
    loc = profile.location
    sub = profile.subscriber
    own = {a.name.lower() for a in profile.attributes}
    location_may = [
        a
        for a in profile.location_attributes()
        if a != loc.object_id and a.lower() not in _ON_EVERY_OBJECT
    ]
    must = [loc.object_id] if loc.object_id.lower() in own else []
    subscriber_may = [
        a for a in (sub.object_type, *profile.subscriber_attributes()) if a.lower() in own
    ]
    blocks = [
        _class_schema(
            topology,
            f"{profile.lab_oid_arc}.2.2",
            loc.object_class,
            category=1,
            may=location_may,
            must=must,
        )
    ]
    if sub.aux_class is not None:
        # The older model: an auxiliary class on each subscriber carries the attributes.
        blocks.insert(
            0,
            _class_schema(
                topology,
                f"{profile.lab_oid_arc}.2.1",
                sub.aux_class,
                category=3,
                may=subscriber_may,
                must=[],
            ),
        )
        return [attrs + "\n" + _SCHEMA_UPDATE_NOW, "\n".join(blocks) + "\n" + _SCHEMA_UPDATE_NOW]
    # As in real forests: the Unity attributes are attached to the schema's own class
    # (user), so a subscriber's objectClass names no Cisco class.
    attach = (
        "\n".join(
            [
                f"dn: CN={_class_cn(sub.object_class)},{schema_dn(topology)}",
                "changetype: modify",
                "add: mayContain",
                *(f"mayContain: {a}" for a in subscriber_may),
                "-",
            ]
        )
        + "\n"
    )
    return [
        attrs + "\n" + _SCHEMA_UPDATE_NOW,
        "\n".join(blocks) + "\n" + attach + "\n" + _SCHEMA_UPDATE_NOW,
    ]


def _class_cn(ldap_name: str) -> str:
    """The schema entry's CN of a built-in class (``user`` is ``CN=User``)."""
    return {"user": "User", "contact": "Contact", "group": "Group"}.get(
        ldap_name.lower(), ldap_name
    )


def containers(topology: Topology) -> list[Record]:
    base = topology.base_dn
    return [
        Record(f"OU=Unity,{base}", (("objectClass", "organizationalUnit"), ("ou", "Unity"))),
        Record(
            f"OU=Locations,OU=Unity,{base}",
            (("objectClass", "organizationalUnit"), ("ou", "Locations")),
        ),
        Record(
            f"OU=Subscribers,OU=Unity,{base}",
            (("objectClass", "organizationalUnit"), ("ou", "Subscribers")),
        ),
    ]


def attachment_value(topology: Topology, server: ServerSpec) -> Value | None:
    """The attachment as the lab stores it: UTF-8 text, or with ``attachment_encoding:
    utf-16`` a UTF-16 document (BOM, little-endian, declared so) in the octet string."""
    text = attachment_text(server)
    if text is None or topology.attachment_encoding == "utf-8" or server.attachment == "corrupt":
        return text
    declared = text.replace('encoding="utf-8"', 'encoding="UTF-16"', 1)
    return b"\xff\xfe" + declared.encode("utf-16-le")


def attachment_text(server: ServerSpec) -> str | None:
    """The pooling attachment the server publishes (None: it publishes none).

    A server licensed by ``license_files`` publishes every parameter its files grant
    on the lab's date (as Unity's effective license after the Install License File
    wizard), not only the seats, ports and flags a ``licenses:`` mapping can give.
    """
    if server.failover_of is not None or server.attachment == "missing":
        return None
    if server.attachment == "corrupt":
        return CORRUPT_ATTACHMENT
    return format_attachment(directory_data(server))


def directory_data(server: ServerSpec) -> LicenseData:
    """The license and utilization of the server's directory copy: what its pooling
    attachment holds, or would hold where the topology makes it missing or corrupt."""
    published = server.published if server.published is not None else server.subscribers
    data = license_data(
        licensed=server.licenses.seats,
        pooling=server.pooling,
        secondary=server.licenses.secondary,
        ports=server.licenses.ports,
        published=published,
    )
    if server.license_files is not None:
        data = LicenseData(
            licenses={**data.licenses, **server.license_files.values}, utilization=data.utilization
        )
    return data


def live_data(server: ServerSpec) -> LicenseData:
    """What the server itself says, on its effective-license page and over SNMP: its
    directory copy's data with the topology's ``live`` values in their place."""
    data = directory_data(server)
    return LicenseData(
        licenses={**data.licenses, **dict(server.live.licenses)},
        utilization={**data.utilization, **dict(server.live.utilization)},
    )


def location_record(topology: Topology, profile: Profile, server: ServerSpec) -> Record:
    loc = profile.location
    attrs: list[tuple[str, Value]] = [("objectClass", loc.object_class), ("cn", server.name)]
    if loc.name.lower() != "cn":
        attrs.append((loc.name, server.name))
    if loc.object_id.lower() != "objectguid":
        attrs.append(
            (
                loc.object_id,
                id_value(profile, loc.object_id, location_object_id(topology, server.name)),
            )
        )
    if loc.version is not None:
        attrs.append((loc.version, server.version))
    if server.failover_of is not None and loc.failover_of is not None:
        attrs.append(
            (
                loc.failover_of,
                id_value(
                    profile, loc.failover_of, location_object_id(topology, server.failover_of)
                ),
            )
        )
    value = attachment_value(topology, server)
    if value is not None:
        attrs.append((loc.pooling_data, value))
    return Record(f"CN={server.name},OU=Locations,OU=Unity,{topology.base_dn}", tuple(attrs))


def subscriber_attributes(
    profile: Profile, *, sam: str, home: str, dtmf_id: str | None, classes: Iterable[str] = ()
) -> tuple[tuple[str, Value], ...]:
    """A Unity subscriber user's attributes as the lab writes them: ``home`` is the
    home Location's id (:func:`location_object_id`), stored the way the profile's
    syntax says; ``classes`` (license-class values) only where the profile has them."""
    sub = profile.subscriber
    attrs: list[tuple[str, Value]] = [("objectClass", sub.object_class)]
    if sub.aux_class is not None:
        attrs.append(("objectClass", sub.aux_class))
    attrs += [
        ("sAMAccountName", sam),
        (sub.object_type, str(sub.object_type_values[0])),
        (sub.home, id_value(profile, sub.home, home)),
    ]
    if dtmf_id is not None:
        attrs.append((sub.dtmf_id, dtmf_id))
    if sub.license_class is not None:
        attrs += [(sub.license_class, value) for value in classes]
    return tuple(attrs)


def subscriber_records(
    topology: Topology, profile: Profile, server_index: int, server: ServerSpec
) -> Iterator[Record]:
    """The users homed on ``server``: the first ``um`` have UM, the last ``inbox`` Inbox
    (in the older model; real-shaped subscribers carry no license class)."""
    sub = profile.subscriber
    home = (
        location_object_id(topology, server.name)
        if server.subscriber_homes == "own"
        else unknown_object_id(topology, server.name)
    )
    count = server.subscribers.vm
    for n in range(count):
        classes = []
        if topology.license_classes and n < server.subscribers.um:
            classes.append(sub.um_value)
        if topology.license_classes and n >= count - server.subscribers.inbox:
            classes.append(sub.inbox_value)
        sam = f"us{server_index:03d}{n:06d}"
        attrs = (
            ("cn", f"{server.name} {n:06d}"),
            ("userPrincipalName", f"{sam}@{topology.forest}"),
            *subscriber_attributes(
                profile,
                sam=sam,
                home=home,
                dtmf_id=str(10_000_000 * server_index + n),
                classes=classes,
            ),
        )
        yield Record(f"CN={server.name} {n:06d},OU=Subscribers,OU=Unity,{topology.base_dn}", attrs)
