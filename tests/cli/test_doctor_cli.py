"""doctor and graph from the command line, where no directory answers."""

from __future__ import annotations

from pathlib import Path

from tests.support.fakes import write_config
from tests.support.helpers import run


def test_doctor_with_no_reachable_endpoint_exits_5(tmp_path: Path) -> None:
    config = write_config(tmp_path, dc_url="ldaps://127.0.0.1:1")
    result = run("-c", config, "doctor")
    assert result.exit_code == 5
    assert "poolsync: error: no DC or Global Catalog could be read:" in result.stderr
    assert "ldaps://127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_graph_needs_a_synced_store(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run("-c", config, "graph")
    assert result.exit_code == 1
    assert "resync --total" in result.stderr


def test_doctor_and_graph_reject_unknown_formats(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    for command in ("doctor", "graph"):
        result = run("-c", config, command, "--format", "xml")
        assert result.exit_code == 2
        assert "'xml' is not one of" in result.stderr


def test_help_names_the_causes() -> None:
    result = run("doctor", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split()).replace("- ", "-")  # undo click's wrapping
    for word in ("replication-pending", "no-replication-path", "stale-mirror", "doctor.servers"):
        assert word in text


def test_lab_replicate_needs_both_ends(tmp_path: Path) -> None:
    result = run("lab", "replicate", "--dir", tmp_path, "--from", "DC1")
    assert result.exit_code == 2
    assert "give both --from and --to, or neither" in result.stderr
