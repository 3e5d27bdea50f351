"""The command line without a directory: help, usage, config errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from poolsync.attachment import format_attachment, license_data
from poolsync.model import Seats
from tests.support.engine import config_in, resync
from tests.support.fakes import location_entry, memory_for, subscriber_entry, write_config
from tests.support.helpers import run


def test_help_explains_the_commands() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for word in ("resync", "pool", "lab", "Exit codes"):
        assert word in result.stdout
    for sub in (("resync", "--help"), ("pool", "--help"), ("lab", "up", "--help")):
        assert run(*sub).exit_code == 0


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run("--config", missing, "resync", "--total")
    assert result.exit_code == 2  # a configuration error
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("poolsync: error: ")
    assert str(missing) in line


def test_invalid_config_key_names_file_and_key(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace(
            "forest: lab.example.com", "forest: lab.example.com\nstroe: x.db"
        )
    )
    result = run("--config", config, "pool")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert str(config) in line and "stroe" in line


def test_resync_rejects_a_negative_deletion_allowance(tmp_path: Path) -> None:
    result = run("--config", write_config(tmp_path), "resync", "--allow-deletes", "-1")
    assert result.exit_code == 2
    assert "--allow-deletes" in result.stderr


def test_pool_before_any_resync(tmp_path: Path) -> None:
    result = run("--config", write_config(tmp_path), "pool")
    assert result.exit_code == 1
    assert "resync --total" in result.stderr
    assert not (tmp_path / "store.db").exists()


def test_pool_exits_3_when_out_of_compliance(tmp_path: Path) -> None:
    small = format_attachment(
        license_data(
            licensed=Seats(5, 0, 0), pooling=True, secondary=False, ports=2, published=None
        )
    )
    memory = memory_for(
        config_in(tmp_path),
        [
            location_entry(1, "UNITY-S", "loc-s", small),
            *(subscriber_entry(n, "loc-s") for n in range(7)),
        ],
    )
    resync(tmp_path, memory)
    result = run("--config", tmp_path / "poolsync.yaml", "pool", "--format", "json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["pools"][0]["seats"]["vm"] == {
        "licensed": 5,
        "used": 7,
        "available": -2,
        "compliant": False,
        "used_source": "directory",
    }
    table = run("--config", tmp_path / "poolsync.yaml", "pool")
    assert table.exit_code == 3
    assert "NOT COMPLIANT" in table.stdout


def test_a_resync_loads_only_what_it_uses() -> None:
    """Start-up is part of every scheduled run: the resync command must not import the
    doctor, the graph, the lab, the license reader, matplotlib or rich's drawing."""
    import subprocess
    import sys

    heavy = [
        "networkx",
        "matplotlib",
        "jinja2",
        "rich",
        "poolsync.doctor",
        "poolsync.lab",
        "poolsync.licensing.flexlm",
        "poolsync.render",
        "topology",
    ]
    code = (
        "import sys; from poolsync.cli.main import cli; cli.get_command(None, 'resync'); "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
