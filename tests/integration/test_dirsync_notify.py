"""DirSync and change notifications against the real Samba lab.

The tests write to the lab with ldap3 as the lab's administrator (over LDAPS, with
the lab CA) and only touch users they create, named ``ds-*``, so they can share the
session's tiny lab.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest

from poolsync.config import Config, load_config
from poolsync.directory import LiveSource
from poolsync.directory.connection import DirectoryConnection
from poolsync.directory.dirsync import DirSyncRead, is_tombstone
from poolsync.directory.notify import ChangeWatcher
from poolsync.errors import DirSyncCookieRefused
from poolsync.model import Entry

pytestmark = pytest.mark.integration

NOTIFY_BOUND = 5.0  # seconds from a write to the trigger; measured ~0.03 s in the lab


@dataclass
class Lab:
    config: Config
    password: str | None
    admin: ldap3.Connection

    @property
    def base(self) -> str:
        return self.config.directory.dc.base_dn

    @property
    def subscribers(self) -> str:
        return f"OU=Subscribers,OU=Unity,{self.base}"

    def connect(self) -> DirectoryConnection:
        source = LiveSource(self.config.directory, password=self.password)
        return source.open(self.config.directory.dc)  # type: ignore[return-value]

    def add_user(self, name: str, **attributes: str) -> str:
        dn = f"CN={name},{self.subscribers}"
        # Real-shaped: the Unity attributes are on the user class, no Cisco class.
        self.admin.add(dn, ["user"], {"sAMAccountName": name[:20], **attributes})
        return dn

    def guid(self, dn: str) -> str:
        self.admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
        entry = self.admin.response[0]
        return Entry(entry["dn"], {"objectguid": entry["raw_attributes"]["objectGUID"]}).guid()


@pytest.fixture(scope="module")
def lab(tiny_lab: Path) -> Iterator[Lab]:
    config = load_config(tiny_lab / "poolsync.yaml")
    password = config.directory.bind.resolve_password()
    state = json.loads((tiny_lab / "lab.json").read_text())
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(tiny_lab / "tls" / "ca.pem"))
    server = ldap3.Server(
        state["dcs"][0]["address"],
        port=state["dcs"][0]["ldaps_port"],
        use_ssl=True,
        tls=tls,
        get_info=ldap3.NONE,
    )
    admin = ldap3.Connection(
        server,
        user=state["bind_user"],
        password=(tiny_lab / "secrets" / "admin.password").read_text(),
        auto_bind=True,
        raise_exceptions=True,
    )
    yield Lab(config, password, admin)
    admin.unbind()


def read_all(ds: DirSyncRead) -> dict[str, Entry]:
    return {entry.guid(): entry for entry in ds}


# --- DirSync -----------------------------------------------------------------------------


def test_full_read_returns_the_unity_subscribers(lab: Lab) -> None:
    with lab.connect() as conn:
        ds = DirSyncRead(
            conn, lab.base, "(objectClass=user)", ["ciscoEcsbuUMLocationObjectId", "name"]
        )
        entries = list(ds)
    assert ds.full and ds.done and ds.rounds == 1  # Samba answers in one round
    assert ds.cookie.startswith(b"MSDS")
    subscribers = {e.dn: e for e in entries if e.dn.endswith("," + lab.subscribers)}
    assert sorted(subscribers) == [f"CN=UNITY-T {n:06d},{lab.subscribers}" for n in range(5)]
    for entry in subscribers.values():
        assert entry.first("ciscoEcsbuUMLocationObjectId")
        assert len(entry.guid()) == 36
        assert not is_tombstone(entry)


def test_changes_since_a_cookie_are_exactly_the_modify_and_the_delete(lab: Lab) -> None:
    keep = lab.add_user("ds-keep", description="before")
    gone = lab.add_user("ds-gone")
    attributes = ["description", "ciscoEcsbuDtmfId", "uSNChanged"]
    with lab.connect() as conn:
        before = DirSyncRead(conn, lab.base, "(objectClass=user)", attributes)
        assert {lab.guid(keep), lab.guid(gone)} <= set(read_all(before))
        keep_guid, gone_guid = lab.guid(keep), lab.guid(gone)

        lab.admin.modify(keep, {"ciscoEcsbuDtmfId": [(ldap3.MODIFY_REPLACE, ["4242"])]})
        lab.admin.delete(gone)
        delta = DirSyncRead(conn, lab.base, "(objectClass=user)", attributes, cookie=before.cookie)
        changed = read_all(delta)
        assert set(changed) == {keep_guid, gone_guid}

        modified = changed[keep_guid]
        assert modified.dn == keep and not is_tombstone(modified)
        assert modified.text("ciscoEcsbuDtmfId") == "4242"
        # Only changed attributes come back, and never uSNChanged: re-read in full.
        assert "description" not in modified.attributes
        assert "usnchanged" not in modified.attributes

        tombstone = changed[gone_guid]
        assert is_tombstone(tombstone)
        assert tombstone.dn.startswith("CN=ds-gone\\0ADEL:")
        assert tombstone.dn.endswith(f",CN=Deleted Objects,{lab.base}")

        # Nothing changed since: the new cookie returns nothing.
        after = DirSyncRead(conn, lab.base, "(objectClass=user)", attributes, cookie=delta.cookie)
        assert list(after) == [] and after.cookie


def test_a_cleared_attribute_comes_back_without_values(lab: Lab) -> None:
    dn = lab.add_user("ds-clear", description="to be cleared")
    with lab.connect() as conn:
        before = DirSyncRead(conn, lab.base, "(objectClass=user)", ["description"])
        list(before)
        lab.admin.modify(dn, {"description": [(ldap3.MODIFY_DELETE, [])]})
        [entry] = DirSyncRead(
            conn, lab.base, "(objectClass=user)", ["description"], cookie=before.cookie
        )
    assert entry.dn == dn and entry.attributes["description"] == []


def test_corrupt_and_truncated_cookies_are_refused(lab: Lab) -> None:
    with lab.connect() as conn:
        good = DirSyncRead(conn, lab.base, "(objectClass=user)", [])
        list(good)
        for cookie in (b"not a cookie at all", good.cookie[:-1], good.cookie[:20]):
            ds = DirSyncRead(conn, lab.base, "(objectClass=user)", [], cookie=cookie)
            with pytest.raises(DirSyncCookieRefused) as info:
                list(ds)
            message = str(info.value)
            assert "unavailableCriticalExtension" in message
            assert "Unable to unmarshall cookie" in message
            assert "resynchronize in full" in message
        # The fallback, a read without a cookie, works on the same connection.
        assert list(DirSyncRead(conn, lab.base, "(objectClass=user)", []))


def test_samba_answers_a_foreign_dcs_cookie_with_a_full_read(lab: Lab) -> None:
    with lab.connect() as conn:
        dse = conn.root_dse()
        invocation = conn.invocation_id(dse.ds_service_name)
        good = DirSyncRead(conn, lab.base, "(objectClass=user)", [])
        everything = read_all(good)
        # The cookie names the DC's invocationId; another DC's would differ.
        mine = uuid.UUID(invocation).bytes_le
        assert mine in good.cookie
        foreign = good.cookie.replace(mine, uuid.uuid4().bytes_le)
        again = read_all(DirSyncRead(conn, lab.base, "(objectClass=user)", [], cookie=foreign))
    assert set(again) == set(everything)


# --- change notifications ----------------------------------------------------------------


@pytest.fixture
def watcher(lab: Lab) -> Iterator[ChangeWatcher]:
    w = ChangeWatcher(
        LiveSource(lab.config.directory, password=lab.password),
        lab.config.directory.dc,
        containers=[lab.subscribers, f"OU=Locations,OU=Unity,{lab.base}"],
    )
    w.start()
    try:
        assert w.wait_registered(10)
        assert w.registrations == 1 and w.changed.is_set()  # fired once on registering
        yield w
    finally:
        started = time.monotonic()
        assert w.stop(timeout=2)
        assert time.monotonic() - started < 2
        assert all(worker.session is None for worker in w._workers)  # sockets closed


def fired_within(w: ChangeWatcher, bound: float) -> float:
    started = time.monotonic()
    assert w.changed.wait(bound), f"no trigger within {bound} s"
    return time.monotonic() - started


def settle(w: ChangeWatcher) -> None:
    """Let stragglers of the last change arrive, then clear the trigger."""
    time.sleep(0.2)
    w.changed.clear()


def test_watcher_fires_on_add_modify_and_delete(lab: Lab, watcher: ChangeWatcher) -> None:
    settle(watcher)
    dn = lab.add_user("ds-watched")
    assert fired_within(watcher, NOTIFY_BOUND) < NOTIFY_BOUND
    settle(watcher)
    lab.admin.modify(dn, {"description": [(ldap3.MODIFY_REPLACE, ["x"])]})
    fired_within(watcher, NOTIFY_BOUND)
    settle(watcher)
    lab.admin.delete(dn)  # Samba reports it on the Deleted Objects watch only
    fired_within(watcher, NOTIFY_BOUND)


def test_samba_does_not_notify_a_one_level_watch_of_a_deletion(lab: Lab) -> None:
    """Why the watcher also watches Deleted Objects (Windows does notify, per Microsoft)."""
    dn = lab.add_user("ds-deleted-quietly")
    with ChangeWatcher(
        LiveSource(lab.config.directory, password=lab.password),
        lab.config.directory.dc,
        containers=[lab.subscribers],
        watch_deletions=False,
    ) as w:
        assert w.wait_registered(10)
        settle(w)
        lab.admin.delete(dn)
        assert not w.changed.wait(1.5)


def test_watcher_registers_again_after_its_connection_drops(
    lab: Lab, watcher: ChangeWatcher
) -> None:
    session = watcher._workers[0].session
    assert session is not None
    settle(watcher)
    session._ldap.socket.shutdown(socket.SHUT_RDWR)  # the network drops the connection
    # Re-registered after the backoff's first wait (0.5 s here), then fired once.
    fired_within(watcher, 10)
    assert watcher.registrations == 2
    assert watcher._workers[0].session is not session
    settle(watcher)
    lab.add_user("ds-after-drop")
    fired_within(watcher, NOTIFY_BOUND)


def test_polling_fallback_fires_too(lab: Lab) -> None:
    with ChangeWatcher(
        LiveSource(lab.config.directory, password=lab.password),
        lab.config.directory.dc,
        containers=[lab.subscribers],
        mode="poll",
        poll_interval=0.5,
    ) as w:
        assert w.wait_registered(10)
        settle(w)
        lab.add_user("ds-polled")
        assert fired_within(w, 3) < 3
