"""Bad input against the real lab: one clear line on stderr, exit 1, store untouched."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from poolsync.lab import certs
from tests.support.helpers import run, run_json

pytestmark = pytest.mark.integration


def variant(lab: Path, name: str, change: dict[str, Any]) -> Path:
    """A copy of the lab's config with some directory keys changed, next to it."""
    doc = yaml.safe_load((lab / "poolsync.yaml").read_text())
    doc["directory"].update(change)
    doc["directory"]["retries"] = {"attempts": 2, "initial_wait": 0.1, "max_wait": 0.2}
    doc["directory"]["timeouts"] = {"connect": 2, "operation": 10}
    path = lab / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def pool_state(config: Path) -> dict[str, Any]:
    doc = run_json("--config", config, "pool", "--format", "json")
    doc.pop("meta")
    return doc


@pytest.fixture(scope="module")
def baseline(exclusions_lab: Path) -> dict[str, Any]:
    config = exclusions_lab / "poolsync.yaml"
    assert run("--config", config, "resync", "--total").exit_code == 0
    return pool_state(config)


def assert_fails_cleanly(lab: Path, config: Path, baseline: dict[str, Any], *needles: str) -> None:
    result = run("--config", config, "resync", "--total")
    assert result.exit_code == 5  # the directory could not be read
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("poolsync: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.stderr
    # The store is as it was, and the run history says what happened.
    assert pool_state(lab / "poolsync.yaml") == baseline
    with sqlite3.connect(lab / "poolsync.db") as db:
        status, detail = db.execute(
            "SELECT status, detail FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert status == "failed"
    assert json.loads(detail)["error"] in lines[0]


def test_unreachable_dc(exclusions_lab: Path, baseline: dict[str, Any]) -> None:
    doc = yaml.safe_load((exclusions_lab / "poolsync.yaml").read_text())
    address = doc["directory"]["dc"]["url"].split("//")[1].split(":")[0]
    config = variant(exclusions_lab, "unreachable", {"dc": {"url": f"ldaps://{address}:1"}})
    assert_fails_cleanly(exclusions_lab, config, baseline, "cannot connect", f"{address}:1")


def test_bad_credentials(exclusions_lab: Path, baseline: dict[str, Any]) -> None:
    wrong = exclusions_lab / "secrets" / "wrong.password"
    wrong.write_text("not-the-password")
    wrong.chmod(0o600)
    doc = yaml.safe_load((exclusions_lab / "poolsync.yaml").read_text())
    bind = {**doc["directory"]["bind"], "password": {"file": str(wrong)}}
    config = variant(exclusions_lab, "badcreds", {"bind": bind})
    assert_fails_cleanly(exclusions_lab, config, baseline, "invalid credentials", "directory.bind")
    result = run("--config", config, "resync", "--total")
    assert "not-the-password" not in result.stderr


def test_untrusted_certificate(
    exclusions_lab: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    other_ca = certs.make_ca(tmp_path / "other-ca")
    doc = yaml.safe_load((exclusions_lab / "poolsync.yaml").read_text())
    tls = {**doc["directory"]["tls"], "ca_file": str(other_ca)}
    config = variant(exclusions_lab, "untrusted", {"tls": tls})
    # The CA file is set already: the message names it and who issued the certificate.
    assert_fails_cleanly(
        exclusions_lab,
        config,
        baseline,
        f"not trusted by directory.tls.ca_file ({other_ca}:",
        "its certificate was issued by CN=poolsync lab CA",
        "point directory.tls.ca_file at the file of the CA that issued it",
    )


def test_system_store_does_not_trust_the_lab(
    exclusions_lab: Path, baseline: dict[str, Any]
) -> None:
    doc = yaml.safe_load((exclusions_lab / "poolsync.yaml").read_text())
    tls = {k: v for k, v in doc["directory"]["tls"].items() if k != "ca_file"}
    config = variant(exclusions_lab, "systemca", {"tls": tls})
    assert_fails_cleanly(
        exclusions_lab,
        config,
        baseline,
        "not trusted by the system's trust store",
        "its certificate was issued by CN=poolsync lab CA",
        "set directory.tls.ca_file to the CA that issued it",
    )


def test_a_search_past_max_entries_stops_the_run(
    exclusions_lab: Path, baseline: dict[str, Any]
) -> None:
    """directory.max_entries bounds every search, Samba's included: the run stops
    (exit 5, not retried) and the store keeps its previous state."""
    config = variant(exclusions_lab, "max-entries", {"max_entries": 2})
    assert_fails_cleanly(
        exclusions_lab,
        config,
        baseline,
        "stopped the search under",
        "more than 2 entries (directory.max_entries is 2)",
        "nothing was changed",
    )


def test_store_from_a_newer_poolsync(
    exclusions_lab: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    store = tmp_path / "newer.db"
    with sqlite3.connect(exclusions_lab / "poolsync.db") as src, sqlite3.connect(store) as dst:
        src.backup(dst)
        dst.execute("PRAGMA user_version = 99")
    before = store.read_bytes()
    doc = yaml.safe_load((exclusions_lab / "poolsync.yaml").read_text())
    doc["store"] = str(store)
    config = exclusions_lab / "newer.yaml"
    config.write_text(yaml.safe_dump(doc))
    for args in (("resync", "--total"), ("pool",)):
        result = run("--config", config, *args)
        assert result.exit_code == 1
        assert "newer poolsync" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert store.read_bytes() == before
