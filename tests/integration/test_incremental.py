"""Incremental sync equals a fresh total resync, object for object, on real Samba.

A hypothesis state machine applies random sequences of administrator changes to a
running lab DC over LDAP (adds, modifies of license classes and home servers,
renames, moves between OUs, deletes, subscribers that stop and start being
subscribers, Locations added, changed, renamed and deleted), sometimes several between
two passes. After every pass the incrementally synced store must equal a store built
by a fresh total resync of the same directory.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from poolsync.config import Config, load_config
from poolsync.directory.source import LiveSource
from poolsync.lab.edit import Add, Change, Delete, LabEditor, Rename, Replace
from poolsync.profile import Profile, load_profile
from poolsync.secrets import SecretRef
from poolsync.store import Store
from poolsync.sync.engine import SyncResult, run_sync
from tests.support.helpers import LICENSE_CLASS_PROFILE, named
from tests.support.lab import TOPOLOGIES, bring_up

BASE = "DC=incr,DC=example,DC=org"
LOCATIONS_OU = f"OU=Locations,OU=Unity,{BASE}"
COUNTER = itertools.count(1)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def incr_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    lab = tmp_path_factory.mktemp("labs") / "incremental"
    yield from bring_up(TOPOLOGIES / "incremental.yaml", lab, profile=str(LICENSE_CLASS_PROFILE))


def store_rows(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with Store.open(path, create=False) as store:
        return store.rows("locations"), store.rows("subscribers")


def sync(config: Config, profile: Profile, store: Path, *, total: bool = False) -> SyncResult:
    source = LiveSource(config.directory, password=config.directory.bind.resolve_password())
    return run_sync(
        replace(config, store=store),
        profile,
        source=source,
        total=total,
        now=now,
        allow_deletes=10_000,
    )


@pytest.mark.parametrize("method", ["usn", "dirsync"])
def test_incremental_sync_equals_a_fresh_total_resync(
    incr_lab: Path, tmp_path: Path, method: str
) -> None:
    config = load_config(incr_lab / "poolsync.yaml")
    config = replace(config, sync=replace(config.sync, method=method))  # type: ignore[arg-type]
    profile = load_profile(str(LICENSE_CLASS_PROFILE))
    editor = LabEditor(incr_lab)
    loc, sub = profile.location, profile.subscriber
    # The lab's license-class profile names the optional roles this test changes.
    aux_class, license_class = named(sub.aux_class), named(sub.license_class)
    version_attr = named(loc.version)
    examples = itertools.count()
    passes = {"incremental": 0, "compared": 0}

    class IncrementalSync(RuleBasedStateMachine):
        """Each example works on objects of its own (two OUs, two Locations, three
        subscribers it creates), so what it may do next depends only on its own steps,
        not on what earlier examples left in the shared directory. Every pass still
        reads (and compares) the whole directory."""

        def __init__(self) -> None:
            super().__init__()
            n = next(COUNTER)
            self.store = tmp_path / f"incremental-{method}-{next(examples)}.db"
            self.ous = (f"OU=ex{n}a,OU=Unity,{BASE}", f"OU=ex{n}b,OU=Unity,{BASE}")
            self.subscribers: list[str] = []  # DNs of live subscribers
            self.demoted: list[str] = []  # users that are no longer subscribers
            self.locations: list[tuple[str, str]] = []  # (DN, object id)
            self.dirty = True  # changes made since the last pass

        @initialize()
        def first_pass(self) -> None:
            editor.apply([Add(ou, (("objectClass", "organizationalUnit"),)) for ou in self.ous])
            for version in ("4.0(5)", "4.2(1)"):
                self.add_location(check=False, version=version)
            for home, classes in ((0, set()), (1, {sub.um_value}), (0, {sub.inbox_value})):
                self.add_subscriber(check=False, ou=0, home=home, classes=classes)
            result = sync(config, profile, self.store)
            self.dirty = False
            assert {p.mode for p in result.passes} == {"total"}  # no watermark yet

        def change(self, *changes: Change, check: bool) -> None:
            """Apply the changes; with ``check``, then sync and compare."""
            editor.apply(list(changes))
            self.dirty = True
            if check:
                self.incremental_equals_total()

        # -- subscribers ---------------------------------------------------------
        @rule(
            check=st.booleans(),
            ou=st.integers(0, 1),
            home=st.integers(0, 20),
            classes=st.sets(st.sampled_from([sub.um_value, sub.inbox_value])),
        )
        def add_subscriber(self, check: bool, ou: int, home: int, classes: set[str]) -> None:
            n = next(COUNTER)
            home_id = (
                self.locations[home % len(self.locations)][1]
                if self.locations
                else "no-such-location"
            )
            dn = f"CN=sub-{n},{self.ous[ou]}"
            self.change(
                Add(
                    dn,
                    (
                        ("objectClass", sub.object_class),
                        ("objectClass", aux_class),
                        ("sAMAccountName", f"sub{n}"),
                        (sub.object_type, str(sub.object_type_values[0])),
                        (sub.home, home_id),
                        (sub.dtmf_id, str(70000 + n)),
                        *((license_class, c) for c in sorted(classes)),
                    ),
                ),
                check=check,
            )
            self.subscribers.append(dn)

        @precondition(lambda self: self.subscribers)
        @rule(check=st.booleans(), data=st.data(), classes=st.sets(st.sampled_from(["UM", "VMI"])))
        def change_license_classes(
            self, check: bool, data: st.DataObject, classes: set[str]
        ) -> None:
            dn = data.draw(st.sampled_from(self.subscribers))
            self.change(Replace(dn, license_class, tuple(sorted(classes))), check=check)

        @precondition(lambda self: self.subscribers)
        @rule(check=st.booleans(), data=st.data(), unknown=st.booleans())
        def change_home_server(self, check: bool, data: st.DataObject, unknown: bool) -> None:
            dn = data.draw(st.sampled_from(self.subscribers))
            home = (
                "unknown-location"
                if unknown or not self.locations
                else data.draw(st.sampled_from(self.locations))[1]
            )
            self.change(Replace(dn, sub.home, (home,)), check=check)

        @precondition(lambda self: self.subscribers)
        @rule(check=st.booleans(), data=st.data())
        def rename_subscriber(self, check: bool, data: st.DataObject) -> None:
            dn = data.draw(st.sampled_from(self.subscribers))
            parent = dn.split(",", 1)[1]
            new_rdn = f"CN=renamed-{next(COUNTER)}"
            self.change(Rename(dn, new_rdn), check=check)
            self.subscribers[self.subscribers.index(dn)] = f"{new_rdn},{parent}"

        @precondition(lambda self: self.subscribers)
        @rule(check=st.booleans(), data=st.data())
        def move_subscriber(self, check: bool, data: st.DataObject) -> None:
            dn = data.draw(st.sampled_from(self.subscribers))
            rdn, parent = dn.split(",", 1)
            target = self.ous[1] if parent == self.ous[0] else self.ous[0]
            self.change(Rename(dn, rdn, new_parent=target), check=check)
            self.subscribers[self.subscribers.index(dn)] = f"{rdn},{target}"

        @precondition(lambda self: self.subscribers)
        @rule(check=st.booleans(), data=st.data())
        def delete_subscriber(self, check: bool, data: st.DataObject) -> None:
            dn = data.draw(st.sampled_from(self.subscribers))
            self.change(Delete(dn), check=check)
            self.subscribers.remove(dn)

        @precondition(lambda self: self.subscribers)
        @rule(check=st.booleans(), data=st.data())
        def stop_being_a_subscriber(self, check: bool, data: st.DataObject) -> None:
            dn = data.draw(st.sampled_from(self.subscribers))
            self.change(Replace(dn, sub.object_type, ()), check=check)
            self.subscribers.remove(dn)
            self.demoted.append(dn)

        @precondition(lambda self: self.demoted)
        @rule(check=st.booleans(), data=st.data())
        def become_a_subscriber_again(self, check: bool, data: st.DataObject) -> None:
            dn = data.draw(st.sampled_from(self.demoted))
            self.change(
                Replace(dn, sub.object_type, (str(sub.object_type_values[0]),)), check=check
            )
            self.demoted.remove(dn)
            self.subscribers.append(dn)

        # -- Locations -------------------------------------------------------------
        @rule(check=st.booleans(), version=st.sampled_from(["4.0(5)", "4.2(1)", "5.0(1)"]))
        def add_location(self, check: bool, version: str) -> None:
            n = next(COUNTER)
            dn, object_id = f"CN=UNITY-N{n},{LOCATIONS_OU}", str(uuid.uuid4())
            self.change(
                Add(
                    dn,
                    (
                        ("objectClass", loc.object_class),
                        (loc.name, f"UNITY-N{n}"),
                        (loc.object_id, object_id),
                        (version_attr, version),
                    ),
                ),
                check=check,
            )
            self.locations.append((dn, object_id))

        @precondition(lambda self: self.locations)
        @rule(
            check=st.booleans(),
            data=st.data(),
            version=st.sampled_from(["4.0(5)", "4.2(1)", "3.1(6)"]),
        )
        def change_location_version(self, check: bool, data: st.DataObject, version: str) -> None:
            dn, _ = data.draw(st.sampled_from(self.locations))
            self.change(Replace(dn, version_attr, (version,)), check=check)

        @precondition(lambda self: self.locations)
        @rule(check=st.booleans(), data=st.data())
        def rename_location(self, check: bool, data: st.DataObject) -> None:
            index = data.draw(st.integers(0, len(self.locations) - 1))
            dn, object_id = self.locations[index]
            new_rdn = f"CN=LOC-R{next(COUNTER)}"
            self.change(Rename(dn, new_rdn), check=check)
            self.locations[index] = (f"{new_rdn},{LOCATIONS_OU}", object_id)

        @precondition(lambda self: len(self.locations) > 1)
        @rule(check=st.booleans(), data=st.data())
        def delete_location(self, check: bool, data: st.DataObject) -> None:
            entry = data.draw(st.sampled_from(self.locations))
            self.change(Delete(entry[0]), check=check)
            self.locations.remove(entry)

        # -- the check ---------------------------------------------------------------
        @rule()
        def another_pass(self) -> None:
            """A pass with no change in between must change nothing."""
            result = sync(config, profile, self.store)
            assert result.plan.empty or self.dirty, result.plan
            self.dirty = False

        def teardown(self) -> None:
            self.incremental_equals_total()

        def incremental_equals_total(self) -> None:
            result = sync(config, profile, self.store)
            self.dirty = False
            assert [p.mode for p in result.passes] == ["incremental", "incremental"], [
                (p.name, p.why) for p in result.passes
            ]
            fresh = tmp_path / f"fresh-{next(COUNTER)}.db"
            sync(config, profile, fresh, total=True)
            assert store_rows(self.store) == store_rows(fresh)
            fresh.unlink()
            passes["compared"] += 1

    # The directory is shared state that each example changes further, so replaying
    # or shrinking an example cannot reproduce it: generate only, report as found.
    run_state_machine_as_test(
        IncrementalSync,
        settings=settings(
            max_examples=4,
            stateful_step_count=12,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
    # At least the teardown of every example compared; steps with check=True add more.
    assert passes["compared"] >= 4
    print(f"{method}: {passes['compared']} passes compared with a fresh total resync")


def test_a_refused_dirsync_cookie_falls_back_to_a_total_resync(
    incr_lab: Path, tmp_path: Path
) -> None:
    import base64
    import json
    import sqlite3

    config = load_config(incr_lab / "poolsync.yaml")
    config = replace(config, sync=replace(config.sync, method="dirsync"))
    profile = load_profile(str(LICENSE_CLASS_PROFILE))
    store = tmp_path / "dirsync.db"
    sync(config, profile, store)
    assert [p.mode for p in sync(config, profile, store).passes] == ["incremental"] * 2
    with sqlite3.connect(store) as db:
        (raw,) = db.execute("SELECT cookie FROM passes WHERE pass = 'domain'").fetchone()
        # Truncated by a byte: the DC cannot parse it (an overwritten header it would
        # parse, and answer with everything it cannot rule out).
        cookies = {
            nc: base64.b64encode(base64.b64decode(c)[:-1]).decode()
            for nc, c in json.loads(raw).items()
        }
        db.execute(
            "UPDATE passes SET cookie = ? WHERE pass = 'domain'", (json.dumps(cookies).encode(),)
        )
    result = sync(config, profile, store)
    assert [(p.name, p.mode, p.reason) for p in result.passes] == [
        ("domain", "total", "cookie-refused"),
        ("gc", "incremental", None),
    ]
    assert [p.mode for p in sync(config, profile, store).passes] == ["incremental"] * 2
    fresh = tmp_path / "fresh.db"
    sync(config, profile, fresh, total=True)
    assert store_rows(store) == store_rows(fresh)


def lab_sub(n: str, ou: str, profile: Profile) -> Add:
    sub = profile.subscriber
    assert sub.aux_class is not None and sub.license_class is not None  # the lab's profile
    return Add(
        f"CN={n},{ou}",
        (
            ("objectClass", sub.object_class),
            ("objectClass", sub.aux_class),
            ("sAMAccountName", n),
            (sub.object_type, str(sub.object_type_values[0])),
            (sub.home, "x"),
        ),
    )


def test_deletions_are_seen_when_the_base_is_an_ou(incr_lab: Path, tmp_path: Path) -> None:
    """Tombstones move to CN=Deleted Objects, outside any OU a pass is based on."""
    config = load_config(incr_lab / "poolsync.yaml")
    dcs = tuple(replace(e, base_dn=f"OU=Unity,{BASE}") for e in config.directory.dcs)
    config = replace(config, directory=replace(config.directory, dcs=dcs))
    profile = load_profile(str(LICENSE_CLASS_PROFILE))
    editor = LabEditor(incr_lab)
    ou = f"OU=Subscribers,OU=Unity,{BASE}"
    editor.apply([lab_sub("ou-base-1", ou, profile)])
    store = tmp_path / "ou.db"
    sync(config, profile, store)
    editor.apply([Delete(f"CN=ou-base-1,{ou}")])
    result = sync(config, profile, store)
    assert [(p.mode, p.removals >= 1) for p in result.passes] == [("incremental", True)] * 2
    assert result.plan.counts["subscribers"].removed == 1
    fresh = tmp_path / "fresh.db"
    sync(config, profile, fresh, total=True)
    assert store_rows(store) == store_rows(fresh)


def test_a_bind_account_that_cannot_see_tombstones_gets_total_resyncs(
    incr_lab: Path, tmp_path: Path
) -> None:
    password = "Read-0nly-" + uuid.uuid4().hex[:8]
    LabEditor(incr_lab).apply(
        [
            Add(
                f"CN=svc-read,OU=Unity,{BASE}",
                (
                    ("objectClass", "user"),
                    ("sAMAccountName", "svc-read"),
                    # unicodePwd: the quoted password in UTF-16LE (ASCII here, so latin-1 is exact)
                    ("unicodePwd", f'"{password}"'.encode("utf-16-le").decode("latin-1")),
                    ("userAccountControl", "512"),
                ),
            )
        ]
    )
    secret = tmp_path / "svc-read.password"
    secret.write_text(password)
    secret.chmod(0o600)
    config = load_config(incr_lab / "poolsync.yaml")
    bind = replace(
        config.directory.bind,
        user="svc-read@incr.example.org",
        password=SecretRef(kind="file", value=str(secret)),
    )
    config = replace(config, directory=replace(config.directory, bind=bind))
    profile = load_profile(str(LICENSE_CLASS_PROFILE))
    store = tmp_path / "svc.db"
    sync(config, profile, store)
    result = sync(config, profile, store)
    assert [p.reason for p in result.passes] == ["deleted-objects-unreadable"] * 2
    assert "List Contents" in (result.passes[0].why or "")
