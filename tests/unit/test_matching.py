"""compile_filter: the filters poolsync sends, evaluated as AD would, and bad ones refused."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.directory.filters import (
    and_filter,
    equality,
    guid_equality,
    or_filter,
    starts_with,
)
from poolsync.directory.matching import compile_filter
from poolsync.dn import key as dn_key
from poolsync.errors import QueryError
from poolsync.forest import CONFIG_FILTER
from poolsync.model import Entry
from poolsync.profile import BUILTIN_DIR, Profile, load_profile
from poolsync.sync import decode
from tests.support.fuzzing import fuzz_settings

PROFILE_FILES = sorted(
    [*BUILTIN_DIR.glob("*.yaml"), *(Path(__file__).parent.parent / "profiles").glob("*.yaml")]
)
GUID = uuid.UUID("d1c3b0a2-7e4f-4b9e-8a2c-5f0e1d2c3b4a")


def entry(dn: str = "CN=x,DC=lab", **attributes: list[bytes]) -> Entry:
    return Entry(dn, {k.lower(): v for k, v in attributes.items()})


def entry_of(attributes: dict[str, list[bytes]]) -> Entry:
    return Entry("CN=x,DC=lab", {k.lower(): v for k, v in attributes.items()})


def matches(text: str, e: Entry) -> bool:
    return compile_filter(text)(e)


@pytest.fixture(params=PROFILE_FILES, ids=lambda p: p.stem)
def profile(request: pytest.FixtureRequest) -> Profile:
    return load_profile(str(request.param))


def location(profile: Profile, *, usn: int = 10, deleted: bool = False) -> Entry:
    attrs = {
        "objectClass": [b"top", profile.location.object_class.encode()],
        "objectGUID": [GUID.bytes_le],
        "uSNChanged": [str(usn).encode()],
    }
    if deleted:
        attrs["isDeleted"] = [b"TRUE"]
    return entry_of(attrs)


def subscriber(
    profile: Profile, *, object_type: bytes | None = None, usn: int = 10, deleted: bool = False
) -> Entry:
    sub = profile.subscriber
    kind = object_type if object_type is not None else str(sub.object_type_values[0]).encode()
    attrs = {
        "objectClass": [b"top", b"person", b"organizationalPerson", sub.object_class.encode()],
        sub.object_type: [kind],
        "uSNChanged": [str(usn).encode()],
    }
    if deleted:
        attrs = {
            "objectClass": attrs["objectClass"],
            "isDeleted": [b"true"],
            "uSNChanged": attrs["uSNChanged"],
        }
    return entry_of(attrs)


# -- the filters the engine, the doctor and discovery send ----------------------------------


def test_location_and_subscriber_filters_tell_the_kinds_apart(profile: Profile) -> None:
    loc, sub = location(profile), subscriber(profile)
    assert matches(decode.location_filter(profile), loc)
    assert not matches(decode.location_filter(profile), sub)
    assert matches(decode.subscriber_filter(profile), sub)
    assert not matches(decode.subscriber_filter(profile), loc)
    assert not matches(decode.subscriber_filter(profile), subscriber(profile, object_type=b"7"))
    assert matches(decode.unity_objects_filter(profile), loc)
    assert matches(decode.unity_objects_filter(profile), sub)


def test_changed_filter_is_above_the_watermark(profile: Profile) -> None:
    changed = decode.changed_filter(profile.location.object_class, 9)
    assert matches(changed, location(profile, usn=10))
    assert not matches(changed, location(profile, usn=9))
    assert not matches(changed, location(profile, usn=2))  # numeric, not "2" > "10"


def test_tombstone_filter_wants_deleted_unity_objects_above_the_watermark(profile: Profile) -> None:
    tombstone = decode.tombstone_filter(profile, 9)
    assert matches(tombstone, subscriber(profile, deleted=True, usn=11))
    assert matches(tombstone, location(profile, deleted=True, usn=11))
    assert not matches(tombstone, subscriber(profile, usn=11))
    assert not matches(tombstone, subscriber(profile, deleted=True, usn=9))


def test_objectguid_equality_is_sixteen_escaped_bytes() -> None:
    other = uuid.UUID(int=GUID.int ^ 1)
    e = entry(objectGUID=[GUID.bytes_le])
    assert matches(guid_equality(str(GUID)), e)
    assert not matches(guid_equality(str(other)), e)
    # The engine's re-read after DirSync: an OR of a batch of them.
    batch = or_filter(*map(guid_equality, [str(other), str(GUID)]))
    assert matches(batch, e)


def test_guid_bytes_that_are_filter_specials_still_match() -> None:
    raw = b"*()\\\x00" + bytes(range(250, 256)) + b"abcde"
    assert len(raw) == 16
    guid = str(uuid.UUID(bytes_le=raw))
    assert matches(guid_equality(guid), entry(objectGUID=[raw]))


def test_the_forest_and_domain_filters() -> None:
    assert matches(CONFIG_FILTER, entry(objectClass=[b"top", b"nTDSDSA"]))
    assert not matches(CONFIG_FILTER, entry(objectClass=[b"top", b"user"]))
    crossref = "(&(objectClass=crossRef)(systemFlags:1.2.840.113556.1.4.803:=2))"
    assert matches(crossref, entry(objectClass=[b"crossRef"], systemFlags=[b"3"]))
    assert not matches(crossref, entry(objectClass=[b"crossRef"], systemFlags=[b"1"]))


def test_the_schema_and_discovery_filters() -> None:
    attribute = entry(
        objectClass=[b"top", b"attributeSchema"], lDAPDisplayName=[b"ciscoEcsbuDtmfId"]
    )
    by_name = or_filter(
        equality("lDAPDisplayName", "ciscoecsbuobjecttype"),
        starts_with("lDAPDisplayName", "ciscoEcsbu"),
    )
    assert matches(and_filter(equality("objectClass", "attributeSchema"), by_name), attribute)
    assert not matches(and_filter(equality("objectClass", "classSchema"), by_name), attribute)
    sample = and_filter(equality("objectClass", "user"), "(ciscoEcsbuObjectType=*)")
    assert matches(sample, entry(objectClass=[b"user"], ciscoEcsbuObjectType=[b"1"]))
    assert not matches(sample, entry(objectClass=[b"user"]))


# -- AD's semantics, item by item ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(objectClass=user)", True),  # any value of a multi-valued attribute
        ("(OBJECTCLASS=USER)", True),  # names and text values are case-blind
        ("(objectclass=contact)", False),
        ("(objectClass=*)", True),
        ("(cn=*)", True),
        ("(mail=*)", False),
        ("(cn=Sm*)", True),
        ("(cn=*ITH, J*)", True),
        ("(cn=*x)", False),
        ("(cn=s*i*h*j*)", True),
        ("(cn=smith\\2c j)", True),  # \xx escapes are the bytes they name
        ("(uSNChanged>=5)", True),
        ("(uSNChanged>=12)", False),
        ("(uSNChanged<=11)", True),
        ("(uSNChanged<=10)", False),
        ("(sn>=Smith)", True),
        ("(sn<=Adams)", False),  # text order where not integers
        ("(userAccountControl:1.2.840.113556.1.4.803:=514)", True),
        ("(userAccountControl:1.2.840.113556.1.4.803:=516)", False),
        ("(userAccountControl:1.2.840.113556.1.4.804:=6)", True),
        ("(userAccountControl:1.2.840.113556.1.4.804:=4)", False),
        ("(userAccountControl:=514)", True),  # no rule: equality
        ("(objectCategory=person)", True),  # a short name: the category DN's first RDN
        ("(objectCategory=CN=Person,CN=Schema,CN=Configuration,DC=lab)", True),
        ("(objectCategory=cn=person,cn=schema,cn=configuration,dc=LAB)", True),
        ("(objectCategory=computer)", False),
        ("(cn~=smith, j)", True),  # approximate: equality, as AD does
        ("(!(cn=x))", True),
        ("(&(objectClass=user)(!(uSNChanged>=12)))", True),
        ("(|(cn=nobody)(sn=smith))", True),
        ("(&(cn=Smith, J)(|(sn=nobody)(sn=none)))", False),
        ("(photo=\\ff\\00\\80)", True),  # bytes that are no UTF-8 match byte for byte
        ("(photo=\\FF\\00\\81)", False),
        ("(description=GR\\c3\\9c\\c3\\9fe)", True),  # UTF-8 text, folded: GRÜße
    ],
)
def test_one_filter_item(text: str, expected: bool) -> None:
    e = entry(
        "CN=Smith\\, J,OU=People,DC=lab",
        objectClass=[b"top", b"person", b"User"],
        cn=[b"Smith, J"],
        sn=[b"Smith"],
        uSNChanged=[b"11"],
        userAccountControl=[b"514"],
        objectCategory=[b"CN=Person,CN=Schema,CN=Configuration,DC=lab"],
        photo=[b"\xff\x00\x80"],
        description=["Grüße".encode()],
    )
    assert matches(text, e) is expected


def test_a_missing_attribute_matches_nothing_but_its_negation() -> None:
    e = entry(cn=[b"a"])
    assert not matches("(uSNChanged>=1)", e)
    assert not matches("(mail=a)", e)
    assert matches("(!(mail=a))", e)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "objectClass=user",
        "(objectClass=user",
        "objectClass=user)",
        "((cn=a)",
        "(cn=a)(cn=b)",
        "(=a)",
        "(c n=a)",
        "(cn)",
        "(!(cn=a)(cn=b))",
        "(&)",
        "()",
        "(cn:1.2.3:=4)",
        "(cn:dn:=a)",
        "(systemFlags:1.2.840.113556.1.4.803:=two)",
        "(:1.2.840.113556.1.4.803:=2)",
        "(cn=a))(",
        "(|(cn=a)(cn=b)",
    ],
)
def test_malformed_filters_are_query_errors_naming_the_filter(text: str) -> None:
    with pytest.raises(QueryError, match="bad filter") as raised:
        compile_filter(text)
    assert repr(text) in str(raised.value)


# -- properties ----------------------------------------------------------------------------


@pytest.mark.fuzz
@fuzz_settings(1)
@given(st.text(max_size=60) | st.text(alphabet="()&|!=*:\\<>~ab1. ", max_size=40))
def test_any_text_compiles_or_is_a_query_error(text: str) -> None:
    try:
        predicate = compile_filter(text)
    except QueryError:
        return
    assert isinstance(predicate(entry(cn=[b"a"], objectClass=[b"top"])), bool)


@given(st.binary(min_size=1, max_size=40) | st.text(min_size=1, max_size=40))
def test_an_escaped_value_matches_the_value_it_came_from(value: bytes | str) -> None:
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    try:
        text = equality("description", value)
    except UnicodeEncodeError:
        return
    assert matches(text, entry(description=[raw]))


def test_dn_keys_undo_escapes_and_case() -> None:
    assert dn_key("CN=Smith\\2C J,OU=People,DC=lab") == dn_key("cn=smith\\, j,ou=PEOPLE,dc=LAB")
    assert dn_key("CN=\\#Hash,DC=x") == dn_key("CN=\\23hash,DC=x")
    assert dn_key("CN=Zo\\C3\\AB,DC=x") == dn_key("cn=ZOË,dc=x")
    assert dn_key("CN=a+SN=b,DC=x") == dn_key("SN=B+CN=A,DC=x")
    assert dn_key("CN=a\\+b,DC=x") != dn_key("CN=a+SN=b,DC=x")
    assert dn_key("") == ()
    with pytest.raises(ValueError, match="not a DN"):
        dn_key("no equals sign")
