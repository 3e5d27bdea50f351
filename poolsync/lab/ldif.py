"""Topology + profile -> LDIF for the lab's directory (pure; no I/O).

The lab loads these records offline with ``ldbmodify``/``ldbadd`` into the new DC's
``sam.ldb`` before samba starts, which goes through Samba's full dsdb module stack
(the same checks as an LDAP add) without a network round trip per object.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from poolsync.attachment import LicenseData, format_attachment, license_data
from poolsync.profile import AttributeDef, Profile
from topology.spec import ServerSpec, Topology

# A deliberately broken pooling attachment for `attachment: corrupt`: truncated XML,
# the way a half-written attribute value looks.
CORRUPT_ATTACHMENT = (
    '<?xml version="1.0" encoding="utf-8"?>\n<AvXmlLicData>\n  <Licenses>\n'
    "    <LicSubscribersMax>500</LicSubscr"
)
_OBJECT_ID_NS = uuid.UUID("6f1c4a52-35f8-4bde-9d0f-3c2b7f4f9a10")


@dataclass(frozen=True, slots=True)
class Record:
    dn: str
    attributes: tuple[tuple[str, str], ...]

    def ldif(self) -> str:
        lines = [f"dn: {self.dn}"]
        for name, value in self.attributes:
            lines.append(attr_line(name, value))
        return "\n".join(lines) + "\n"


def attr_line(name: str, value: str) -> str:
    # RFC 2849: values that are not SAFE-STRINGs go base64-encoded.
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
    """A stable Unity object id for a server: the same topology gives the same ids."""
    return str(uuid.uuid5(_OBJECT_ID_NS, f"{topology.forest.lower()}/{server_name.upper()}"))


def _attribute_schema(topology: Topology, profile: Profile, index: int,
                      attr: AttributeDef) -> str:
    integer = attr.syntax == "integer"
    return "\n".join([
        f"dn: CN={attr.name},{schema_dn(topology)}",
        "changetype: add",
        "objectClass: top",
        "objectClass: attributeSchema",
        f"cn: {attr.name}",
        f"lDAPDisplayName: {attr.name}",
        f"attributeID: {profile.lab_oid_arc}.1.{index}",
        f"attributeSyntax: {'2.5.5.9' if integer else '2.5.5.12'}",
        f"oMSyntax: {'2' if integer else '64'}",
        f"isSingleValued: {'FALSE' if attr.multi else 'TRUE'}",
        f"searchFlags: {1 if attr.indexed else 0}",
        "isMemberOfPartialAttributeSet: TRUE",
        "showInAdvancedViewOnly: TRUE",
    ]) + "\n"


def _class_schema(topology: Topology, governs_id: str, name: str, *, category: int,
                  may: list[str], must: list[str]) -> str:
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
        ]
    lines += [f"mustContain: {m}" for m in must]
    lines += [f"mayContain: {m}" for m in may]
    return "\n".join(lines) + "\n"


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
    location_may = [a for a in profile.location_attributes() if a != loc.object_id]
    classes = "\n".join([
        _class_schema(topology, f"{profile.lab_oid_arc}.2.1", sub.aux_class, category=3,
                      may=[sub.object_type, *profile.subscriber_attributes()], must=[]),
        _class_schema(topology, f"{profile.lab_oid_arc}.2.2", loc.object_class, category=1,
                      may=location_may, must=[loc.object_id]),
    ])
    return [attrs + "\n" + _SCHEMA_UPDATE_NOW, classes + "\n" + _SCHEMA_UPDATE_NOW]


def containers(topology: Topology) -> list[Record]:
    base = topology.base_dn
    return [
        Record(f"OU=Unity,{base}", (("objectClass", "organizationalUnit"), ("ou", "Unity"))),
        Record(f"OU=Locations,OU=Unity,{base}",
               (("objectClass", "organizationalUnit"), ("ou", "Locations"))),
        Record(f"OU=Subscribers,OU=Unity,{base}",
               (("objectClass", "organizationalUnit"), ("ou", "Subscribers"))),
    ]


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
    published = server.published if server.published is not None else server.subscribers
    data = license_data(
        licensed=server.licenses.seats,
        pooling=server.pooling,
        secondary=server.licenses.secondary,
        ports=server.licenses.ports,
        published=published,
    )
    if server.license_files is not None:
        data = LicenseData(licenses={**data.licenses, **server.license_files.values},
                           utilization=data.utilization)
    return format_attachment(data)


def location_record(topology: Topology, profile: Profile, server: ServerSpec) -> Record:
    loc = profile.location
    attrs: list[tuple[str, str]] = [
        ("objectClass", loc.object_class),
        ("cn", server.name),
        (loc.name, server.name),
        (loc.object_id, location_object_id(topology, server.name)),
        (loc.version, server.version),
    ]
    if server.failover_of is not None:
        attrs.append((loc.failover_of, location_object_id(topology, server.failover_of)))
    text = attachment_text(server)
    if text is not None:
        attrs.append((loc.pooling_data, text))
    return Record(f"CN={server.name},OU=Locations,OU=Unity,{topology.base_dn}", tuple(attrs))


def subscriber_records(topology: Topology, profile: Profile, server_index: int,
                       server: ServerSpec) -> Iterator[Record]:
    """The users homed on ``server``: the first ``um`` have UM, the last ``inbox`` Inbox."""
    sub = profile.subscriber
    home = location_object_id(topology, server.name)
    count = server.subscribers.vm
    for n in range(count):
        classes = []
        if n < server.subscribers.um:
            classes.append(sub.um_value)
        if n >= count - server.subscribers.inbox:
            classes.append(sub.inbox_value)
        sam = f"us{server_index:03d}{n:06d}"
        attrs: list[tuple[str, str]] = [
            ("objectClass", sub.object_class),
            ("objectClass", sub.aux_class),
            ("cn", f"{server.name} {n:06d}"),
            ("sAMAccountName", sam),
            ("userPrincipalName", f"{sam}@{topology.forest}"),
            (sub.object_type, str(sub.object_type_value)),
            (sub.home, home),
            (sub.dtmf_id, str(10_000_000 * server_index + n)),
        ]
        attrs += [(sub.license_class, value) for value in classes]
        yield Record(f"CN={server.name} {n:06d},OU=Subscribers,OU=Unity,{topology.base_dn}",
                     tuple(attrs))
