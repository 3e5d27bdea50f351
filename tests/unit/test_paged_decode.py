"""The lean SearchResultEntry decoder gives what ldap3's own decoder gives, and fails
only with MalformedPdu on bad input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3.operation.search import search_result_entry_response_to_dict_fast
from ldap3.protocol.rfc4511 import (
    LDAPDN,
    AttributeDescription,
    AttributeValue,
    LDAPMessage,
    MessageID,
    PartialAttribute,
    PartialAttributeList,
    ProtocolOp,
    SearchResultEntry,
    Vals,
)
from ldap3.utils.asn1 import decode_message_fast, encode

from poolsync.directory.paged import MalformedPdu, decode_entry, header
from tests.support.fuzzing import fuzz_settings


def encode_entry(
    dn: bytes, attributes: list[tuple[str, list[bytes]]], *, message_id: int = 7
) -> bytes:
    """A SearchResultEntry LDAPMessage encoded by ldap3's own (pyasn1) encoder."""
    entry = SearchResultEntry()
    entry["object"] = LDAPDN(dn)
    parts = PartialAttributeList()
    for i, (name, values) in enumerate(attributes):
        attribute = PartialAttribute()
        attribute["type"] = AttributeDescription(name)
        vals = Vals()
        for j, value in enumerate(values):
            vals.setComponentByPosition(j, AttributeValue(value))
        attribute["vals"] = vals
        parts.setComponentByPosition(i, attribute)
    entry["attributes"] = parts
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchResEntry", entry)
    return bytes(encode(message))


def ldap3_view(pdu: bytes) -> tuple[str, dict[str, list[bytes]]]:
    decoded = decode_message_fast(pdu)
    result = search_result_entry_response_to_dict_fast(decoded["payload"], None, None, False)
    # As the old ldap3 path did: no values (None from ldap3) is an empty list.
    return result["dn"], {k.lower(): list(v or ()) for k, v in result["raw_attributes"].items()}


NAMES = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-;=", min_size=1, max_size=40
)
VALUES = st.lists(st.binary(max_size=300), max_size=5)


@pytest.mark.fuzz
@fuzz_settings(3)
@given(
    dn=st.text(max_size=200).map(lambda t: t.encode()),
    attributes=st.dictionaries(NAMES.map(str.lower), VALUES, max_size=8),
    message_id=st.integers(min_value=1, max_value=2**31 - 1),
)
def test_decode_entry_matches_ldap3(
    dn: bytes, attributes: dict[str, list[bytes]], message_id: int
) -> None:
    pdu = encode_entry(dn, list(attributes.items()), message_id=message_id)
    entry = decode_entry(pdu)
    expected_dn, expected = ldap3_view(pdu)
    assert entry.dn == expected_dn
    assert dict(entry.attributes) == expected
    assert header(pdu)[0] == message_id


def test_long_lengths_and_many_values() -> None:
    big = b"x" * 70_000  # a three-byte BER length
    values = [str(i).encode() for i in range(5_000)]  # a long-form SET length
    pdu = encode_entry(b"CN=big,DC=example", [("jpegPhoto", [big]), ("member", values)])
    entry = decode_entry(pdu)
    assert entry.first("jpegphoto") == big
    assert entry.attributes["member"] == values


def test_names_are_lower_cased_and_repeats_merged() -> None:
    pdu = encode_entry(b"CN=a", [("objectGUID", [b"1"]), ("OBJECTGUID", [b"2"]), ("empty", [])])
    entry = decode_entry(pdu)
    assert entry.attributes == {"objectguid": [b"1", b"2"], "empty": []}


def test_a_dn_that_is_not_utf8_is_read_as_latin1_like_ldap3() -> None:
    pdu = encode_entry(b"CN=caf\xe9,DC=example", [])
    assert decode_entry(pdu).dn == ldap3_view(pdu)[0] == "CN=café,DC=example"


@pytest.mark.parametrize("cut", [1, 2, 5, 10, -1])
def test_truncated_pdus_are_malformed(cut: int) -> None:
    pdu = encode_entry(b"CN=a,DC=example", [("cn", [b"a"]), ("sn", [b"b"])])
    with pytest.raises(MalformedPdu):
        decode_entry(pdu[:cut])


def test_a_search_done_is_not_an_entry() -> None:
    done = bytes.fromhex("300c02010265070a010004000400")
    assert header(done)[:2] == (2, 0x65)
    with pytest.raises(MalformedPdu, match="not a SearchResultEntry"):
        decode_entry(done)


@pytest.mark.fuzz
@fuzz_settings(5)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedPdu):
        decode_entry(data)


@pytest.mark.fuzz
@fuzz_settings(5)
@given(st.data())
def test_mutated_entries_raise_only_malformed(data: st.DataObject) -> None:
    pdu = bytearray(encode_entry(b"CN=a,DC=example", [("cn", [b"abc"]), ("x", [b"1", b"2"])]))
    for _ in range(data.draw(st.integers(1, 4))):
        pdu[data.draw(st.integers(0, len(pdu) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(MalformedPdu):
        decode_entry(bytes(pdu))
