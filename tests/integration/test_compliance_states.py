"""Compliance states on the real lab: a violation's first sighting survives resyncs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poolsync.lab.edit import Add, Delete, LabEditor
from poolsync.lab.ldif import subscriber_attributes
from poolsync.profile import load_profile
from poolsync.store import Store
from tests.support.helpers import lab_config_copy, run

pytestmark = pytest.mark.integration
OU = "OU=Subscribers,OU=Unity,DC=tiny,DC=example,DC=org"


def test_an_over_licensed_pool_is_in_four_hour_shutdown_since_first_seen(
    tiny_lab: Path, tmp_path: Path
) -> None:
    config = lab_config_copy(tiny_lab, tmp_path / "states.yaml", store=tmp_path / "states.db")
    assert run("--config", config, "resync", "--total").exit_code == 0
    with Store.open(tmp_path / "states.db", create=False) as store:
        (unity,) = store.locations()
    profile = load_profile("cisco-unity")
    extra = [f"CN=over-{n},{OU}" for n in range(6)]  # 5 + 6 = 11 of 10 VM seats
    editor = LabEditor(tiny_lab)
    editor.apply(
        [
            Add(
                dn,
                subscriber_attributes(
                    profile, sam=dn[3 : dn.index(",")], home=unity.object_id, dtmf_id=None
                ),
            )
            for dn in extra
        ]
    )
    try:
        metrics = tmp_path / "poolsync.prom"
        first = run("--config", config, "resync", "--metrics-file", metrics)
        assert first.exit_code == 3, first.stderr  # synced, with findings
        assert (
            'poolsync_compliance_state{scope="pool",name="tiny.example.org",'
            'state="four-hour-shutdown"} 1'
        ) in metrics.read_text()
        report = run("--config", config, "pool", "--format", "json")
        assert report.exit_code == 3
        (pool,) = json.loads(report.stdout)["pools"]
        state = pool["state"]
        assert state["state"] == "four-hour-shutdown"
        assert state["violations"][0]["key"] == "pool:tiny.example.org:vm"
        assert "add 1 VM seats" in state["violations"][0]["remedy"]
        since = state["since"]
        assert run("--config", config, "resync", "--total").exit_code == 3
        again = json.loads(run("--config", config, "pool", "--format", "json").stdout)
        assert again["pools"][0]["state"]["since"] == since  # first seen, not last
        table = run("--config", config, "pool")
        assert "four-hour-shutdown since" in table.stdout
        assert "to end it: add 1 VM seats" in table.stdout
        history = json.loads(run("--config", config, "history", "--format", "json").stdout)
        assert [r["status"] for r in history["runs"][:2]] == ["findings", "findings"]
    finally:
        editor.apply([Delete(dn) for dn in extra])
    assert run("--config", config, "resync").exit_code == 0
    with Store.open(tmp_path / "states.db", create=False) as store:
        assert store.violations() == {}  # resolved: forgotten
