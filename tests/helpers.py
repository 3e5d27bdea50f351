"""Helpers shared by the CLI and integration tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from poolsync.cli.main import cli


def run(*args: str | Path) -> Result:
    """Run the poolsync CLI in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def run_json(*args: str | Path) -> dict[str, Any]:
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc
