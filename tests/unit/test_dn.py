"""The one DN parser (poolsync/dn.py): RFC 4514 escapes, as each former parser read them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync import dn


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", []),
        ("DC=lab,DC=example", [(("DC", "lab"),), (("DC", "example"),)]),
        (r"CN=Loc\, One,OU=x", [(("CN", "Loc, One"),), (("OU", "x"),)]),
        (r"CN=Plus\+Sign,OU=x", [(("CN", "Plus+Sign"),), (("OU", "x"),)]),
        (r"CN=\#Hash,OU=x", [(("CN", "#Hash"),), (("OU", "x"),)]),
        (r"CN=Z\C3\A9,OU=x", [(("CN", "Zé"),), (("OU", "x"),)]),  # hex: UTF-8 bytes
        ("CN=Zoë,OU=x", [(("CN", "Zoë"),), (("OU", "x"),)]),
        (r"CN=a\2Cb,OU=x", [(("CN", "a,b"),), (("OU", "x"),)]),
        ("CN=a+SN=b,OU=x", [(("CN", "a"), ("SN", "b")), (("OU", "x"),)]),  # multi-valued
        (r"CN=a\ ,OU=x", [(("CN", "a "),), (("OU", "x"),)]),  # escaped space kept
        (r"CN=a\\ ,OU=x", [(("CN", "a\\"),), (("OU", "x"),)]),  # escaped backslash
        ("CN = a , OU = x", [(("CN", "a"),), (("OU", "x"),)]),  # spaces around
        (
            r"CN=x\0ADEL:1234,CN=Deleted Objects,DC=x",  # a tombstone's
            [(("CN", "x\nDEL:1234"),), (("CN", "Deleted Objects"),), (("DC", "x"),)],
        ),
        ("1.2.840.113556.1.4.1=v", [(("1.2.840.113556.1.4.1", "v"),)]),
    ],
)
def test_parse(text: str, parsed: list[dn.Rdn]) -> None:
    assert dn.parse(text) == parsed


@pytest.mark.parametrize("text", ["foo", "CN=a,x", r"CN=a\q", "=a", "C N=a", "CN=a,,DC=x"])
def test_a_malformed_dn_says_so(text: str) -> None:
    with pytest.raises(ValueError, match="not a DN"):
        dn.parse(text)
    assert dn.rdns(text) == []  # the lenient reading used for names


def test_parent_and_first_keep_the_text_as_written() -> None:
    assert dn.split_first(r"CN=a\,b,OU=x,DC=y") == (r"CN=a\,b", "OU=x,DC=y")
    assert dn.parent(r"CN=a\,b,OU=x,DC=y") == "OU=x,DC=y"
    assert dn.parent("DC=y") == ""
    assert dn.rdns(r"CN=NTDS Settings,CN=DC\,1,CN=Servers") == [
        ("cn", "NTDS Settings"),
        ("cn", "DC,1"),
        ("cn", "Servers"),
    ]


def test_keys_compare_as_a_dc_does() -> None:
    assert dn.key("CN=a+SN=b,DC=X") == dn.key("sn=B+cn=A,dc=x")
    assert dn.key(r"CN=a\2Cb,DC=x") == dn.key(r"cn=A\,B,DC=x")
    assert dn.key("CN=a,DC=x") != dn.key("CN=a,DC=y")


@given(st.text(min_size=1, max_size=30).filter(lambda v: "\x00" not in v))
def test_an_escaped_value_parses_back_to_itself(value: str) -> None:
    assert dn.parse(f"CN={dn.escape(value)},DC=x") == [(("CN", value),), (("DC", "x"),)]
