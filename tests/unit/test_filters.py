"""RFC 4515 filter building with hostile values: every one is escaped, none breaks out.

The parser check uses ldap3's own filter compiler (what encodes the search request), so
"breaks out" means what it would mean on the wire: more than one filter item, or a
substring/presence match where an equality was meant.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3.operation.search import MATCH_EQUAL, MATCH_GREATER_OR_EQUAL, FilterNode, parse_filter
from ldap3.protocol.convert import prepare_filter_for_sending

from poolsync.directory.filters import (
    and_filter,
    at_least,
    equality,
    escape_value,
    guid_equality,
    or_filter,
)
from poolsync.profile import load_profile
from poolsync.sync import decode

HOSTILE = [
    ("*", r"\2a"),
    ("(", r"\28"),
    (")", r"\29"),
    ("\\", r"\5c"),
    ("\x00", r"\00"),
    ("*)(objectClass=*", r"\2a\29\28objectClass=\2a"),
    ("x)(|(cn=*", r"x\29\28|\28cn=\2a"),
    ("\\2a", r"\5c2a"),  # an escape sequence typed in is itself escaped
    ("nul\x00name", r"nul\00name"),
    ("Zürich-ユニティ", "Zürich-ユニティ"),  # RFC 4515 allows UTF-8 as it is
    ("", ""),
    (" ", r"\20"),
    (" UNITY-A\t", r"\20UNITY-A\09"),  # ldap3 would strip them: escaped, they stay
    ("a b", "a b"),
    ("\u3000x\xa0", r"\e3\80\80x\c2\a0"),
    ("a=b", "a=b"),
    ("~=>=<=", "~=>=<="),
]


@pytest.mark.parametrize(("value", "escaped"), HOSTILE)
def test_hostile_values_are_escaped(value: str, escaped: str) -> None:
    assert escape_value(value) == escaped
    assert equality("ciscoEcsbuServerName", value) == f"(ciscoEcsbuServerName={escaped})"


def test_bytes_that_are_utf8_read_as_their_text() -> None:
    assert escape_value("*é".encode()) == r"\2aé"


@pytest.mark.parametrize("raw", [b"oid\xf4\x90\x80\x80", b"s\xed\xa0\x80x", b"\xff*"])
def test_bytes_that_are_not_utf8_go_byte_for_byte(raw: bytes) -> None:
    escaped = escape_value(raw)
    assert escaped.isascii()
    assert bytes.fromhex(escaped.replace("\\", "")) == raw


def test_surrogate_escaped_text_goes_back_to_its_bytes() -> None:
    """What click makes of a non-UTF-8 command-line argument (surrogateescape)."""
    text = b"srv\xff(".decode("utf-8", "surrogateescape")
    assert escape_value(text) == r"\73\72\76\ff\28"


def test_lone_surrogate_does_not_raise() -> None:
    escaped = escape_value("a\ud800")
    assert escaped.isascii() and escaped.startswith(r"\61")


def test_ints_and_bools() -> None:
    assert equality("ciscoEcsbuObjectType", 1) == "(ciscoEcsbuObjectType=1)"
    with pytest.raises(TypeError):
        escape_value(True)


@pytest.mark.parametrize(
    "name", ["cn)(objectClass=*", "cn=x", "", "1cn", "cn\n", "c n", "cn*", "(cn", "cn;range=0-*"]
)
def test_attribute_names_that_are_not_ldap_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not an LDAP attribute name"):
        equality(name, "x")
    with pytest.raises(ValueError, match="not an LDAP attribute name"):
        at_least(name, 1)


@pytest.mark.parametrize(
    "name", ["cn", "ciscoEcsbuServerName", "x-1", "2.5.4.3", "userCertificate;binary"]
)
def test_ldap_attribute_names_accepted(name: str) -> None:
    assert equality(name, "v") == f"({name}=v)"


def test_at_least_takes_only_an_integer() -> None:
    assert at_least("uSNChanged", 42) == "(uSNChanged>=42)"
    with pytest.raises(ValueError):
        at_least("uSNChanged", "1)(x=*")  # type: ignore[arg-type]


def test_guid_equality_is_bytes_in_wire_order() -> None:
    guid = "01234567-89ab-cdef-0123-456789abcdef"
    assert guid_equality(guid) == r"(objectGUID=\67\45\23\01\ab\89\ef\cd\01\23\45\67\89\ab\cd\ef)"
    with pytest.raises(ValueError):
        guid_equality("*)(objectClass=*")


def _items(ldap_filter: str) -> list[tuple[str, int, bytes | None]]:
    """The filter's leaf items as ldap3 compiles them for the wire: (attribute, match
    kind, the value's bytes as sent, None for items without one)."""
    root = parse_filter(ldap_filter, None, False, True, None, False)
    leaves: list[tuple[str, int, bytes | None]] = []

    def walk(node: FilterNode) -> None:
        for child in node.elements:
            if child.elements:
                walk(child)
            else:
                value = child.assertion.get("value")
                sent = None if value is None else prepare_filter_for_sending(value)
                leaves.append((child.assertion["attr"], child.tag, sent))

    walk(root)
    return leaves


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.sampled_from([v for v, _ in HOSTILE])))
def test_no_value_breaks_out_of_its_equality(value: str | bytes) -> None:
    built = and_filter(
        equality("objectClass", "ciscoEcsbuUMLocation"), equality("ciscoEcsbuServerName", value)
    )
    items = _items(built)
    # Two equality items (no substring or presence item smuggled in), and the value on
    # the wire is exactly the value given.
    assert [(a, kind) for a, kind, _ in items] == [
        ("objectClass", MATCH_EQUAL),
        ("ciscoEcsbuServerName", MATCH_EQUAL),
    ]
    expected = value if isinstance(value, bytes) else value.encode("utf-8")
    assert items[1][2] == expected


@pytest.mark.parametrize(("value", "_escaped"), HOSTILE)
def test_hostile_values_reach_the_wire_unchanged(value: str, _escaped: str) -> None:
    [(_, kind, sent)] = _items(equality("ciscoEcsbuServerName", value))
    assert (kind, sent) == (MATCH_EQUAL, value.encode())


def test_or_filter_and_and_filter_keep_one_part_bare() -> None:
    assert or_filter("(a=1)") == "(a=1)" == and_filter("(a=1)")
    assert or_filter("(a=1)", "(b=2)") == "(|(a=1)(b=2))"


def test_every_filter_poolsync_builds_from_the_profile_parses() -> None:
    profile = load_profile("cisco-unity")
    for built in (
        decode.location_filter(profile),
        decode.subscriber_filter(profile),
        decode.changed_filter("user", 10),
        decode.unity_objects_filter(profile),
        decode.tombstone_filter(profile, 10),
        or_filter(*map(guid_equality, [str(uuid.uuid4()) for _ in range(3)])),
    ):
        items = _items(built)
        assert items and all(
            kind in (MATCH_EQUAL, MATCH_GREATER_OR_EQUAL) for _, kind, _ in items
        ), built
