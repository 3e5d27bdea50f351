"""Unity object ids reduce to the GUID they name, however the directory holds them."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.objectid import reduce_id

GUID = "D8A3C1E2-1111-4A2B-9C3D-0123456789AB"
KEY = GUID.lower()
HEADER = bytes.fromhex("01000700")


def test_the_real_sample_prefix_is_a_header_then_utf16le_text() -> None:
    # The public dump of a real subscriber, cut after 16 bytes: 01 00 07 00 30 00 39 00
    # 3A 00 7B 00 44 00 38 00 = header, then UTF-16LE "09:{D8".
    real = bytes.fromhex("01000700300039003A007B0044003800")
    assert real == HEADER + "09:{D8".encode("utf-16-le")
    cut = reduce_id(real)
    assert (cut.how, cut.key, cut.encoding) == ("text", "09:{D8", "utf-16le")


def test_the_full_real_layout_reduces_to_the_guid() -> None:
    reduced = reduce_id(HEADER + f"09:{{{GUID}}}".encode("utf-16-le"))
    assert (reduced.key, reduced.how, reduced.encoding) == (KEY, "guid", "utf-16le")


@pytest.mark.parametrize(
    "raw",
    [
        f"{{{GUID}}}".encode(),  # braced text
        GUID.encode(),  # bare text
        GUID.lower().encode(),  # lower case
        f"09:{{{GUID}}}".encode(),  # type prefix, UTF-8
        f"09:{{{GUID}}}".encode("utf-16-le"),  # no header
        b"\x01\x00" + f"09:{{{GUID}}}".encode("utf-16-le"),  # a 2-byte header
        b"\x07" + f"{{{GUID}}}".encode("utf-16-le"),  # an odd-length header
        b"\xff\xfe" + f"{{{GUID}}}".encode("utf-16-le"),  # a byte-order mark
        HEADER + f"09:{{{GUID}}}".encode("utf-16-le") + b"\x00\x00",  # NUL-terminated
        f"  {{{GUID}}}  ".encode(),  # padding
    ],
)
def test_every_layout_of_one_guid_is_one_key(raw: bytes) -> None:
    assert reduce_id(raw).key == KEY
    assert reduce_id(raw).how == "guid"


def test_text_values_reduce_the_same_way() -> None:
    assert reduce_id(f"09:{{{GUID}}}".encode()).key == KEY
    assert reduce_id(b"loc-a").key == "loc-a"
    assert reduce_id(b"loc-a").how == "text"


def test_an_object_guid_reads_as_the_same_key() -> None:
    value = uuid.UUID(GUID)  # an objectGUID prints as decode reads it (entry.guid())
    assert str(value) == KEY == reduce_id(str(value).encode()).key


def test_values_without_a_guid_compare_as_exact_text() -> None:
    assert reduce_id(b"UNITY-A").key == "UNITY-A"
    assert reduce_id(b"unity-a").key != reduce_id(b"UNITY-A").key
    assert reduce_id("UNITY-A".encode("utf-16-le")).key == "UNITY-A"
    # A GUID that is part of a longer hex run is not a GUID.
    assert reduce_id(f"{GUID}0".encode()).how == "text"


def test_garbage_is_shown_as_hex_and_never_matches() -> None:
    garbage = b"\xff\x00\x81\xfe\x01"
    reduced = reduce_id(garbage)
    assert (reduced.how, reduced.key) == ("hex", "0xff0081fe01")
    big = bytes(range(256)) * 4
    shown = reduce_id(big)
    assert shown.how == "hex" and "1024 bytes" in shown.key and len(shown.key) < 200
    assert reduce_id(big[:-1] + b"\x00").key != shown.key  # a digest tells them apart


def test_empty_values() -> None:
    assert reduce_id(b"").how == "empty"
    assert reduce_id(b"").key == ""


def test_a_guid_far_into_a_huge_value_is_not_searched() -> None:
    huge = b"x" * 10_000 + GUID.encode()
    assert reduce_id(huge).how == "text"


@given(
    st.uuids(),
    st.binary(max_size=6),
    st.sampled_from(["", "09:", "07:"]),
    st.booleans(),
    st.booleans(),
)
def test_any_header_prefix_case_and_braces_give_the_guid(
    value: uuid.UUID, header: bytes, prefix: str, braced: bool, upper: bool
) -> None:
    text = str(value).upper() if upper else str(value)
    text = f"{{{text}}}" if braced else text
    # A header of printable hex digits could extend the GUID: the header is binary.
    header = bytes(b for b in header if not chr(b).isalnum() and chr(b) not in "-{}")
    assert reduce_id(header + (prefix + text).encode("utf-16-le")).key == str(value)
    assert reduce_id((prefix + text).encode()).key == str(value)


@given(st.binary(max_size=200))
def test_any_bytes_reduce_without_error_to_a_stable_key(raw: bytes) -> None:
    first, second = reduce_id(raw), reduce_id(bytes(raw))
    assert first == second
    assert first.how in ("guid", "text", "hex", "empty")
