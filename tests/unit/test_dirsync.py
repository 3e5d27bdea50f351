"""The DirSync control's bytes, its response, and the read loop (no server)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from ldap3.core import exceptions as lex
from ldap3.protocol.microsoft import dir_sync_control

from poolsync.config import Endpoint
from poolsync.directory.connection import SHOW_DELETED_OID, _entry, translate
from poolsync.directory.dirsync import (
    ANCESTORS_FIRST,
    DEFAULT_FLAGS,
    DIRSYNC_OID,
    INCREMENTAL_VALUES,
    OBJECT_SECURITY,
    PUBLIC_DATA_ONLY,
    DirSyncRead,
    DirSyncResponse,
    decode_dirsync_response,
    encode_dirsync_request,
    is_tombstone,
    response_from_controls,
)
from poolsync.errors import DirSyncCookieRefused, QueryError, RunawaySearch
from poolsync.model import Entry

ENDPOINT = Endpoint(
    url="ldaps://dc1.lab.example.com",
    scheme="ldaps",
    host="dc1.lab.example.com",
    port=636,
    use_ssl=True,
    base_dn="DC=lab,DC=example,DC=com",
)
BASE = ENDPOINT.base_dn


# --- the request value -------------------------------------------------------------------


def test_flag_values() -> None:
    assert (OBJECT_SECURITY, ANCESTORS_FIRST, PUBLIC_DATA_ONLY, INCREMENTAL_VALUES) == (
        0x1,
        0x800,
        0x2000,
        0x80000000,
    )
    assert DEFAULT_FLAGS == 0x80000001


@pytest.mark.parametrize(
    ("flags", "max_bytes", "cookie", "expected"),
    [
        # SEQUENCE { INTEGER flags, INTEGER maxBytes, OCTET STRING cookie }
        (0, 0, None, "30080201000201000400"),
        (1, 0, None, "30080201010201000400"),
        (0x80000001, 0, None, "300b0204800000010201000400"),
        (0x80000000, 0, None, "300b0204800000000201000400"),
        (0x80000001, 1 << 20, b"", "300d02048000000102031000000400"),
        (1, 1 << 20, b"MSDS\x03\x00", "3010020101020310000004064d5344530300"),
        (0x800, 0x7FFFFFFF, None, "300c0202080002047fffffff0400"),
    ],
)
def test_request_bytes(flags: int, max_bytes: int, cookie: bytes | None, expected: str) -> None:
    assert encode_dirsync_request(flags, max_bytes, cookie).hex() == expected


def test_long_cookie_uses_long_form_length() -> None:
    cookie = bytes(range(256)) * 2  # 512 bytes
    value = encode_dirsync_request(1, 0, cookie)
    assert value[:2] == b"\x30\x82" and int.from_bytes(value[2:4], "big") == len(value) - 4
    assert value.endswith(b"\x04\x82\x02\x00" + cookie)


def test_ldap3_encodes_the_incremental_flag_in_five_bytes() -> None:
    """Why this module encodes the control itself (ldap3 2.9.1 is pinned)."""

    def ldap3_value(incremental: bool) -> bytes:
        control = dir_sync_control(
            criticality=True,
            object_security=True,
            ancestors_first=False,
            public_data_only=False,
            incremental_values=incremental,
            max_length=1 << 20,
            cookie=None,
        )
        return bytes(control["controlValue"])

    # Without the high bit both agree...
    assert ldap3_value(False) == encode_dirsync_request(OBJECT_SECURITY, 1 << 20, None)
    # ...with it ldap3 sends +2147483649 in five bytes, which Windows AD rejects.
    ours = encode_dirsync_request(OBJECT_SECURITY | INCREMENTAL_VALUES, 1 << 20, None)
    theirs = ldap3_value(True)
    assert ours != theirs
    assert ours[2:8].hex() == "020480000001"
    assert theirs[2:9].hex() == "02050080000001"


@pytest.mark.parametrize(("flags", "max_bytes"), [(-1, 0), (1 << 32, 0), (0, -1), (0, 1 << 31)])
def test_out_of_range_values_are_refused(flags: int, max_bytes: int) -> None:
    with pytest.raises(ValueError, match="32"):
        encode_dirsync_request(flags, max_bytes, None)


# --- the response value ------------------------------------------------------------------


def test_decode_response() -> None:
    cookie = b"MSDS" + bytes(200)
    value = bytes.fromhex("3081d50201010201000481cc") + cookie
    assert decode_dirsync_response(value) == DirSyncResponse(True, cookie, 0)
    short = bytes.fromhex("300b0201000201000403616263")
    assert decode_dirsync_response(short) == DirSyncResponse(False, b"abc", 0)
    # Windows puts a (signed) flag word there; any non-zero value means "more".
    negative = bytes.fromhex("300b0204800000000201000400")
    assert decode_dirsync_response(negative).more_results


@pytest.mark.parametrize(
    "value",
    [
        "",
        "30",
        "3003020100",
        "3009020100020100040461",
        "310902010002010004036162",
        "3009020100040100020100",
        "3009020100020100040361626300",
        "3084ffffffff",
        "3007020100020100040103",
        "3006020002000400",
    ],
)
def test_malformed_responses_are_query_errors(value: str) -> None:
    with pytest.raises(QueryError, match="malformed DirSync response"):
        decode_dirsync_response(bytes.fromhex(value))


def test_response_from_ldap3_dict_or_raw_bytes() -> None:
    decoded = {DIRSYNC_OID: {"value": {"more_results": True, "cookie": b"c1"}}}
    assert response_from_controls(decoded) == DirSyncResponse(True, b"c1")
    raw = {DIRSYNC_OID: {"value": encode_dirsync_like(0, b"c2")}}
    assert response_from_controls(raw) == DirSyncResponse(False, b"c2")
    with pytest.raises(QueryError, match="without the DirSync control"):
        response_from_controls({})
    with pytest.raises(QueryError, match="unreadable"):
        response_from_controls({DIRSYNC_OID: {"value": {"cookie": None}}})


def encode_dirsync_like(flag: int, cookie: bytes) -> bytes:
    """A response value: the same shape as the request (flag, unused, cookie)."""
    return encode_dirsync_request(flag, 0, cookie)


# --- entries -----------------------------------------------------------------------------


def test_cleared_attribute_is_an_empty_list() -> None:
    # ldap3 gives None for an attribute sent with no values (DirSync: "cleared").
    entry = _entry(
        {"dn": "CN=u,DC=x", "raw_attributes": {"description": None, "objectGUID": [b"g" * 16]}}
    )
    assert entry.attributes["description"] == []
    assert entry.first("description") is None


def test_is_tombstone() -> None:
    assert is_tombstone(Entry("CN=x\\0ADEL:1", {"isdeleted": [b"TRUE"]}))
    assert not is_tombstone(Entry("CN=x", {"isdeleted": []}))
    assert not is_tombstone(Entry("CN=x", {}))


# --- the read loop -----------------------------------------------------------------------


class FakeConn:
    """Answers DirSync requests from a script of rounds, recording what was sent."""

    def __init__(
        self, rounds: list[tuple[list[Entry], bool, bytes]], error: Exception | None = None
    ) -> None:
        self.rounds = rounds
        self.error = error
        self.sent: list[dict[str, Any]] = []
        self.max_entries = 1_000_000
        self.endpoint = SimpleNamespace(url="ldaps://fake:636")

    def request(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        scope: str = "subtree",
        controls: list[tuple[str, bool, bytes | None]] | None = None,
    ) -> tuple[list[Entry], dict[str, Any]]:
        self.sent.append(
            {
                "base": base,
                "filter": ldap_filter,
                "attributes": attributes,
                "scope": scope,
                "controls": controls,
            }
        )
        if self.error is not None:
            raise translate(self.error, ENDPOINT, user=None) from self.error
        entries, more, cookie = self.rounds.pop(0)
        return entries, {DIRSYNC_OID: {"value": {"more_results": more, "cookie": cookie}}}


def user(n: int) -> Entry:
    return Entry(f"CN=u{n},{BASE}", {"objectguid": [bytes([n]) * 16]})


def read(conn: FakeConn, **kwargs: Any) -> DirSyncRead:
    return DirSyncRead(conn, BASE, "(objectClass=user)", ["description", "objectguid"], **kwargs)  # type: ignore[arg-type]


def test_rounds_until_no_more_results() -> None:
    conn = FakeConn(
        [([user(1), user(2)], True, b"k1"), ([user(3)], True, b"k2"), ([], False, b"k3")]
    )
    ds = read(conn, cookie=b"k0")
    assert not ds.full
    seen = []
    for entry in ds:
        seen.append(entry.dn)
        with pytest.raises(RuntimeError, match="not exhausted"):
            _ = ds.cookie
    assert seen == [f"CN=u{n},{BASE}" for n in (1, 2, 3)]
    assert ds.cookie == b"k3" and ds.done and ds.rounds == 3 and ds.entries == 3
    # Each round carries the previous round's cookie, critical, with Show Deleted.
    cookies = []
    for sent in conn.sent:
        assert sent["base"] == BASE and sent["scope"] == "subtree"
        (oid, critical, value), show_deleted = sent["controls"]
        assert (oid, critical) == (DIRSYNC_OID, True)
        assert show_deleted == (SHOW_DELETED_OID, False, None)
        assert value[2:8].hex() == "020480000001"  # the default flags
        cookies.append(value[value.rindex(b"\x04") + 2 :])
    assert cookies == [b"k0", b"k1", b"k2"]
    # objectGUID was asked for already (any case); isDeleted and name are added.
    assert conn.sent[0]["attributes"] == ["description", "objectguid", "isDeleted", "name"]


def test_full_read_sends_an_empty_cookie_and_is_single_use() -> None:
    conn = FakeConn([([user(1)], False, b"k1")])
    ds = read(conn, flags=OBJECT_SECURITY, max_bytes=0)
    assert ds.full
    assert list(ds) == [user(1)]
    assert conn.sent[0]["controls"][0][2] == encode_dirsync_request(OBJECT_SECURITY, 0, None)
    with pytest.raises(RuntimeError, match="only once"):
        iter(ds)


def test_bad_flags_fail_at_construction() -> None:
    with pytest.raises(ValueError):
        read(FakeConn([]), flags=1 << 33)


def refusal(code: int, text: str) -> lex.LDAPException:
    return lex.LDAPOperationResult(
        result=code, description=text, message="0000202C: nope", response_type="searchResDone"
    )


@pytest.mark.parametrize("code", [2, 12, 53, 80])
def test_refused_cookie(code: int) -> None:
    conn = FakeConn([], error=refusal(code, "unavailableCriticalExtension"))
    with pytest.raises(DirSyncCookieRefused, match="resynchronize in full") as info:
        list(read(conn, cookie=b"stale"))
    assert isinstance(info.value, QueryError)


def test_errors_without_a_cookie_or_of_other_kinds_are_not_refusals() -> None:
    with pytest.raises(QueryError) as info:
        list(read(FakeConn([], error=refusal(12, "unavailableCriticalExtension"))))
    assert not isinstance(info.value, DirSyncCookieRefused)
    with pytest.raises(QueryError) as info:
        list(read(FakeConn([], error=refusal(50, "insufficientAccessRights")), cookie=b"k"))
    assert not isinstance(info.value, DirSyncCookieRefused)


def test_a_read_past_max_entries_stops() -> None:
    conn = FakeConn(
        [([user(1), user(2)], True, b"k1"), ([user(3)], True, b"k2"), ([], False, b"k3")]
    )
    conn.max_entries = 2
    with pytest.raises(
        RunawaySearch,
        match=r"ldaps://fake:636: stopped the DirSync read "
        r"of .*more than 2 entries",
    ):
        list(read(conn, cookie=b"k0"))
    assert len(conn.sent) == 2
