"""A Unity forest built by hand over LDAP, without poolsync's lab code.

The lab provisions the DC (with a profile that keeps out of Unity's namespace,
tests/profiles/bare.yaml); everything Unity then comes from here, written the way the
public dumps of real forests show it and with Location attribute names of this forest's
own: the Unity attributes attached to the schema's user class, homes as octet strings
(a 4-byte header, then UTF-16LE ``09:{GUID}``), the extension twice (DtmfId and
TransferId), the pooling attachment a UTF-16 document (BOM, declared, NUL-terminated)
with no UM counter, as real servers publish it. tests/integration/test_real_forest.py
discovers it and checks the pool number by number.
"""

from __future__ import annotations

import uuid

import ldap3

ARC = "1.3.6.1.4.1.32473.11"
HEADER = bytes.fromhex("01000700")
# (name, attributeSyntax, oMSyntax, single-valued)
ATTRIBUTES = [
    ("ciscoEcsbuObjectType", "2.5.5.9", 2, True),
    ("ciscoEcsbuUMLocationObjectId", "2.5.5.10", 4, True),
    ("ciscoEcsbuDtmfId", "2.5.5.12", 64, True),
    ("ciscoEcsbuTransferId", "2.5.5.12", 64, True),
    ("ciscoEcsbuListInUMDirectory", "2.5.5.8", 1, True),
    ("ciscoEcsbuUndeletable", "2.5.5.8", 1, True),
    ("ciscoEcsbuUnityAttributes", "2.5.5.12", 64, False),
    # The Location's attributes, named as this forest names them.
    ("ciscoEcsbuAlias", "2.5.5.12", 64, True),
    ("ciscoEcsbuLocationObjectId", "2.5.5.12", 64, True),
    ("ciscoEcsbuVersionString", "2.5.5.12", 64, True),
    ("ciscoEcsbuPrimaryLocationObjectId", "2.5.5.12", 64, True),
    ("ciscoEcsbuLicensePoolingData", "2.5.5.10", 4, True),
]
SUBSCRIBER_ATTRIBUTES = [a[0] for a in ATTRIBUTES[:7]]
LOCATION_ATTRIBUTES = [a[0] for a in ATTRIBUTES[7:]]


def schema(conn: ldap3.Connection, base: str) -> None:
    """The Unity schema extension: attributes, the Location class, user may carry them."""
    nc = f"CN=Schema,CN=Configuration,{base}"
    for index, (name, syntax, om, single) in enumerate(ATTRIBUTES, start=1):
        conn.add(
            f"CN={name},{nc}",
            ["top", "attributeSchema"],
            {
                "lDAPDisplayName": name,
                "attributeID": f"{ARC}.1.{index}",
                "attributeSyntax": syntax,
                "oMSyntax": str(om),
                "isSingleValued": "TRUE" if single else "FALSE",
                "isMemberOfPartialAttributeSet": "TRUE",
                "searchFlags": "1",
            },
        )
    # Samba reloads its schema after each schema change (no schemaUpdateNow needed;
    # ldap3 also refuses a modify of the rootDSE's empty DN).
    conn.add(
        f"CN=ciscoEcsbuUMLocation,{nc}",
        ["top", "classSchema"],
        {
            "lDAPDisplayName": "ciscoEcsbuUMLocation",
            "governsID": f"{ARC}.2.1",
            "objectClassCategory": "1",
            "subClassOf": "top",
            "rDNAttID": "cn",
            "possSuperiors": ["container", "organizationalUnit"],
            "mayContain": LOCATION_ATTRIBUTES,
            "defaultObjectCategory": f"CN=ciscoEcsbuUMLocation,{nc}",
        },
    )
    conn.modify(f"CN=User,{nc}", {"mayContain": [(ldap3.MODIFY_ADD, SUBSCRIBER_ATTRIBUTES)]})
    # Samba reloads its schema after each schema change (no schemaUpdateNow needed;
    # ldap3 also refuses a modify of the rootDSE's empty DN).


def home(location_id: uuid.UUID) -> bytes:
    """A home value in the real layout."""
    return HEADER + ("09:{" + str(location_id).upper() + "}").encode("utf-16-le")


def attachment(licenses: dict[str, int], utilization: dict[str, int]) -> bytes:
    """A UTF-16 AvXmlLicData document as Windows stores it: BOM, declared, NUL-ended."""

    def section(name: str, values: dict[str, int]) -> str:
        return f"<{name}>" + "".join(f"<{k}>{v}</{k}>" for k, v in values.items()) + f"</{name}>"

    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\r\n<AvXmlLicData>'
        + section("Licenses", licenses)
        + section("Utilization", utilization)
        + "</AvXmlLicData>"
    )
    return b"\xff\xfe" + text.encode("utf-16-le") + b"\x00\x00"


SERVERS = {  # name: (version, licensed vm/um/inbox, published vm/inbox, homed, primary)
    "UNITY-HQ": ("4.0(5)", (100, 20, 10), (60, 5), 60, None),
    "UNITY-HQ-FO": ("4.0(5)", None, None, 5, "UNITY-HQ"),
    "UNITY-BR": ("4.2(1)", (50, 10, 10), (40, 3), 45, None),
    "UNITY-OLD": ("3.1(6)", (40, 0, 0), (40, 0), 40, None),
}


def objects(conn: ldap3.Connection, base: str) -> dict[str, uuid.UUID]:
    """The Locations of SERVERS and their subscribers (in CN=Users); their ids."""
    ou = f"OU=Unity Locations,{base}"
    conn.add(ou, ["top", "organizationalUnit"])
    ids = {name: uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.hand") for name in SERVERS}
    serial = 0
    for name, (version, licensed, published, homed, primary) in SERVERS.items():
        attrs: dict[str, object] = {
            "ciscoEcsbuAlias": name,
            "ciscoEcsbuVersionString": version,
            "ciscoEcsbuLocationObjectId": "{" + str(ids[name]).upper() + "}",
        }
        if primary is not None:
            attrs["ciscoEcsbuPrimaryLocationObjectId"] = "{" + str(ids[primary]).upper() + "}"
        if licensed is not None and published is not None:
            vm, um, inbox = licensed
            attrs["ciscoEcsbuLicensePoolingData"] = attachment(
                {
                    "LicSubscribersMax": vm,
                    "LicUMSubscribersMax": um,
                    "LicVMISubscribersMax": inbox,
                    "LicVoicePortsMax": 24,
                    "LicPoolingIsEnabled": 1,
                    "LicSecondaryServerIsLicensed": 1,
                },
                {
                    "AvLicUtilizationSubscribers": published[0],
                    "AvLicUtilizationVMISubscribers": published[1],
                },
            )
        conn.add(f"CN={name},{ou}", ["top", "ciscoEcsbuUMLocation"], attrs)
        for _ in range(homed):
            serial += 1
            extension = str(990000 + serial)
            conn.add(
                f"CN=Unity Sub {serial:04d},CN=Users,{base}",
                ["top", "person", "organizationalPerson", "user"],
                {
                    "sAMAccountName": f"unitysub{serial:04d}",
                    "ciscoEcsbuObjectType": "1",
                    "ciscoEcsbuDtmfId": extension,
                    "ciscoEcsbuTransferId": extension,
                    "ciscoEcsbuListInUMDirectory": "TRUE",
                    "ciscoEcsbuUndeletable": "FALSE",
                    "ciscoEcsbuUnityAttributes": "Encryption: 0",
                    "ciscoEcsbuUMLocationObjectId": home(ids[name]),
                },
            )
    return ids
