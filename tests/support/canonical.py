"""The fixed objects every source of the contract suite holds, as Entry values.

Each source's run puts these in its own way (a memory source is handed the entries,
the live run writes them to Samba with the lab's editor, an LDIF run exports them to
files), then :class:`tests.support.source_contract.SourceContract` reads them back. Together
they cover what a directory can get wrong: binary values that are not UTF-8, UTF-16LE
text in an octet string (the pooling attachment), multi-valued attributes, and DNs
with escapes (a comma, a plus, a leading "#", non-ASCII).

Values are written exactly as listed and must come back byte for byte. objectGUIDs are
fixed here for sources that keep the GUIDs they are given (memory, LDIF); a DC assigns
its own, so a run reports the GUIDs its source holds (``Held.guids``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from poolsync.lab.ldif import HOME_HEADER
from poolsync.model import Entry

FOREST_DN: Final = "DC=lab,DC=example,DC=com"
#: The Location's Unity object id, and so its subscribers' home.
LOCATION_ID: Final = "{6B3F2A10-91C4-4E0D-8A57-2F1C0D9E3B44}"
ATTACHMENT: Final = b"\xff\xfe" + (
    '<?xml version="1.0" encoding="UTF-16"?>\n<AvXmlLicData>\n  <Licenses>\n'
    "    <LicSubscribersMax>500</LicSubscribersMax>\n  </Licenses>\n"
    "  <Utilization><LicSubscribersMax>12</LicSubscribersMax></Utilization>\n"
    "</AvXmlLicData>\n"
).encode("utf-16-le")
#: A home in the real binary layout: a 4-byte header, then UTF-16LE ``09:{GUID}``.
REAL_HOME: Final = HOME_HEADER + f"09:{LOCATION_ID}".encode("utf-16-le")
#: Bytes that are no UTF-8 at all (a lone continuation byte, 0xFF, a NUL).
NOT_UTF8: Final = bytes(range(0x80, 0x90)) + b"\x00\xff\xfe\xc3("

_USER = [b"top", b"person", b"organizationalPerson", b"user"]
_CONTACT = [b"top", b"person", b"organizationalPerson", b"contact"]


@dataclass(frozen=True, slots=True)
class Canonical:
    """One fixed object: ``rdn`` escaped as RFC 4514 writes it; every object but the
    container is its child."""

    name: str
    rdn: str
    attributes: dict[str, list[bytes]]
    guid: str

    def dn(self, forest_dn: str = FOREST_DN) -> str:
        base = contract_base(forest_dn)
        if self.name == "container":
            return base
        return f"{self.rdn},{base}"

    def entry(self, forest_dn: str = FOREST_DN) -> Entry:
        return Entry(
            self.dn(forest_dn), {**self.attributes, "objectguid": [uuid.UUID(self.guid).bytes_le]}
        )


def contract_base(forest_dn: str = FOREST_DN) -> str:
    """The container holding every fixed object."""
    return f"OU=Contract,{forest_dn}"


CANONICAL: Final = (
    Canonical(
        "container",
        "OU=Contract",
        {"objectclass": [b"top", b"organizationalUnit"], "ou": [b"Contract"]},
        "0c3f7a59-2d5b-4a8e-9f41-000000000001",
    ),
    Canonical(
        "location",
        r"CN=Loc\, One",
        {
            "objectclass": [b"top", b"ciscoEcsbuUMLocation"],
            "cn": [b"Loc, One"],
            "ciscoecsbuobjectid": [LOCATION_ID.encode()],
            "ciscoecsbuservername": [b"UNITY-C1"],
            "ciscoecsbuserverversion": [b"4.0(5)"],
            "ciscoecsbupoolingdata": [ATTACHMENT],
        },
        "0c3f7a59-2d5b-4a8e-9f41-000000000002",
    ),
    Canonical(
        "plus",
        r"CN=Plus\+Sign",
        {
            "objectclass": _USER,
            "cn": [b"Plus+Sign"],
            "samaccountname": [b"ctplus"],
            "ciscoecsbuobjecttype": [b"1"],
            "ciscoecsbuumlocationobjectid": [REAL_HOME],
            "ciscoecsbudtmfid": [b"5001"],
            "othertelephone": [b"+1 555 0100", b"+1 555 0101", b"+1 555 0102"],
        },
        "0c3f7a59-2d5b-4a8e-9f41-000000000003",
    ),
    Canonical(
        "binary",
        "CN=Binary Home",
        {
            "objectclass": _USER,
            "cn": [b"Binary Home"],
            "samaccountname": [b"ctbinary"],
            "ciscoecsbuobjecttype": [b"1"],
            "ciscoecsbuumlocationobjectid": [NOT_UTF8],
        },
        "0c3f7a59-2d5b-4a8e-9f41-000000000004",
    ),
    Canonical(
        "hash",
        r"CN=\#Hash",
        {
            "objectclass": _CONTACT,
            "cn": [b"#Hash"],
            "description": [b"leading # in the RDN"],
            "othertelephone": [b"100", b"200"],
        },
        "0c3f7a59-2d5b-4a8e-9f41-000000000005",
    ),
    Canonical(
        "unicode",
        "CN=Zoë Ünïcödé",
        {
            "objectclass": _CONTACT,
            "cn": ["Zoë Ünïcödé".encode()],
            "description": ["Grüße aus 東京".encode()],
        },
        "0c3f7a59-2d5b-4a8e-9f41-000000000006",
    ),
)
#: Held, then deleted, by sources that keep tombstones (``"tombstones"`` in changes).
GONE: Final = Canonical(
    "gone",
    "CN=Gone Subscriber",
    {
        "objectclass": _USER,
        "cn": [b"Gone Subscriber"],
        "samaccountname": [b"ctgone"],
        "ciscoecsbuobjecttype": [b"1"],
        "ciscoecsbuumlocationobjectid": [REAL_HOME],
    },
    "0c3f7a59-2d5b-4a8e-9f41-000000000007",
)
BY_NAME: Final = {c.name: c for c in CANONICAL}


def canonical_entries(forest_dn: str = FOREST_DN) -> Iterator[Entry]:
    """The fixed objects, parents first, with their objectGUIDs (all but :data:`GONE`):
    what an LDIF run exports, or a memory source is given."""
    for obj in CANONICAL:
        yield obj.entry(forest_dn)
