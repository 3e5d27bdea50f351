"""The lab's reading of ldbsearch output never crashes: random, LDIF-like and mutated
text (hypothesis).

``ntds_guid``, ``share_spns`` and ``live_link`` (with ``_dsa_options``) parse what
``ldbsearch`` prints (``_unfold`` joins its folded lines). Here ``samba.run`` returns
the fuzzed text instead of running a tool, and the functions are called as ``lab up``
and ``lab replicate`` call them; the only outcome allowed besides a result is a
LabError. Example counts: tests/support/fuzzing.py; figures: docs/reliability.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.errors import LabError
from poolsync.lab import samba
from poolsync.lab.replication import LabNet, Peer, dsa_dn, live_link, ntds_guid, share_spns
from tests.support.fuzzing import LONG_STRINGS, TEXT, expect_only, fuzz_settings, mutated_bytes

pytestmark = pytest.mark.fuzz

BASE = "DC=lab,DC=example,DC=com"
DC1 = Peer(
    name="DC1", address="127.0.0.2", site="HQ", paths=samba.DcPaths(Path("/nonexistent/dc1"))
)
DC2 = Peer(
    name="DC2", address="127.0.0.3", site="BRANCH", paths=samba.DcPaths(Path("/nonexistent/dc2"))
)
NET = LabNet(
    Path("/nonexistent"), forest="lab.example.com", password_file=Path("/nonexistent/pw")
).credentials(user="Administrator", netbios="LAB")
GUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SEEDS = [
    f"# record 1\ndn: {dsa_dn(DC1, BASE)}\nobjectGUID: {GUID}\n\n# returned 1 records\n"
    "# 1 entries\n# 0 referrals\n",
    f"# record 1\ndn: CN=DC2,OU=Domain Controllers,{BASE}\nservicePrincipalName: GC/dc2.lab.e\n"
    " xample.com/lab.example.com\nservicePrincipalName: HOST/dc2\nservicePrincipalName: ldap/"
    "dc2.lab.example.com\n\n# returned 1 records\n",
    f"# record 1\ndn: CN=from DC1,{dsa_dn(DC2, BASE)}\nfromServer: {dsa_dn(DC1, BASE)[:40]}\n"
    f" {dsa_dn(DC1, BASE)[40:]}\nenabledConnection: FALSE\n\n# record 2\ndn: CN=x,"
    f"{dsa_dn(DC2, BASE)}\nfromServer: CN=NTDS Settings,CN=DC9\nenabledConnection: TRUE\n\n"
    "# returned 2 records\n",
    f"# record 1\ndn: {dsa_dn(DC2, BASE)}\noptions: 3\n\n# returned 1 records\n",
]
LDIF_TOKENS = st.sampled_from(
    [
        "\n",
        "\n",
        "\n ",
        "\n\n",
        "\r\n",
        ": ",
        ":: ",
        ":",
        " ",
        "#",
        "dn",
        "dn: ",
        "objectGUID",
        "objectGUID: ",
        GUID,
        "-" * 36,
        "0" * 36,
        "options",
        "options: ",
        "-",
        "1",
        "2",
        "4",
        "4294967295",
        "-2147483648",
        "servicePrincipalName: ",
        "servicePrincipalName",
        "fromServer: ",
        dsa_dn(DC1, BASE),
        dsa_dn(DC1, BASE).lower(),
        "enabledConnection: ",
        "TRUE",
        "FALSE",
        "false",
        "\x00",
        "\x85",
        "\u2028",
        "\u0663",
        "é",
    ]
)
LDIF_TEXT = st.one_of(
    TEXT,
    st.lists(LDIF_TOKENS | LONG_STRINGS, max_size=60).map("".join),
    mutated_bytes([s.encode() for s in SEEDS]).map(lambda b: b.decode("utf-8", "replace")),
)


@contextmanager
def ldbsearch_prints(outputs: list[str]) -> Iterator[None]:
    """samba.run returns ``outputs`` in turn (then ""): what ldbsearch printed."""
    queue = list(outputs)
    with mock.patch.object(
        samba, "run", side_effect=lambda *_a, **_k: queue.pop(0) if queue else ""
    ):
        yield


def test_the_seeds_parse() -> None:
    with ldbsearch_prints([SEEDS[0]]):
        assert ntds_guid(NET, DC1, BASE) == GUID
    with ldbsearch_prints([SEEDS[1]]):
        share_spns(NET, DC2, DC1, BASE)
    with ldbsearch_prints([SEEDS[2], SEEDS[3], SEEDS[3]]):
        link = live_link(NET, DC1, DC2, BASE)
    assert (link.connection, link.enabled, link.inbound_disabled) == (True, False, True)


@fuzz_settings(3)
@given(text=LDIF_TEXT)
def test_ntds_guid_raises_only_lab_error(text: str) -> None:
    with ldbsearch_prints([text]):
        guid = expect_only(LabError, None, lambda: ntds_guid(NET, DC1, BASE))
    if guid is not None:
        assert str(uuid.UUID(guid)) == guid


@fuzz_settings(3)
@given(text=LDIF_TEXT)
def test_share_spns_raises_only_lab_error(text: str) -> None:
    with ldbsearch_prints([text]):
        expect_only(LabError, None, lambda: share_spns(NET, DC2, DC1, BASE))


@fuzz_settings(3)
@given(outputs=st.lists(LDIF_TEXT, min_size=3, max_size=3))
def test_live_link_raises_only_lab_error(outputs: list[str]) -> None:
    with ldbsearch_prints(outputs):
        link = expect_only(LabError, None, lambda: live_link(NET, DC1, DC2, BASE))
    if link is not None:
        assert link.enabled <= link.connection


@pytest.mark.parametrize(
    "text",
    [
        # Found by the fuzzer (long run): 36 characters of hex digits and '-' that are not
        # a GUID made uuid.UUID raise ValueError.
        "objectGUID: 000000000000000000000000000000000000",
        "objectGUID: ------------------------------------",
    ],
)
def test_a_malformed_guid_is_no_guid(text: str) -> None:
    with ldbsearch_prints([text]), pytest.raises(LabError, match="no NTDS Settings objectGUID"):
        ntds_guid(NET, DC1, BASE)


@pytest.mark.parametrize(
    "options",
    [
        # Found by a hostile-input probe: int() raised ValueError over 4300 digits, and
        # read other scripts' digits ("\u0663" is 3: inbound replication disabled).
        "1" * 5000,
        "\u0663",
        "99999999999",
        "0x2",
        "",
    ],
)
def test_options_that_are_not_an_integer_are_a_lab_error(options: str) -> None:
    with (
        ldbsearch_prints(["", f"options: {options}\n"]),
        pytest.raises(LabError, match="DC2's NTDS Settings on DC2: expected an integer"),
    ):
        live_link(NET, DC1, DC2, BASE)
