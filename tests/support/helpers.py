"""Helpers shared by the CLI and integration tests."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from poolsync.cli.main import cli

#: The older subscriber model (a license-class attribute on every subscriber, homes as
#: text): the profile for tests and labs that count UM and Inbox from the directory.
LICENSE_CLASS_PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "license-class.yaml"


#: ``python -c CLI ARGS`` runs the poolsync CLI as a process of its own, with umask 022
#: (as a scheduled run would create its files).
CLI = "import os; os.umask(0o022); from poolsync.cli.main import main; main()"


@dataclass(frozen=True)
class Ran:
    """What a poolsync process did: its arguments, exit code and output."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM (poolsync service's documented stop), then a kill if it outlives 30 s."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run(*args: str | Path) -> Result:
    """Run the poolsync CLI in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def run_json(*args: str | Path) -> dict[str, Any]:
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def lab_config_copy(lab: Path, config: Path, *, store: Path, name: str = "poolsync.yaml") -> Path:
    """The lab's config ``name`` written to ``config`` with its own ``store``; the lab's
    CA and secret files are referenced by absolute path, so the copy works from anywhere."""
    doc = absolute_lab_paths(lab, yaml.safe_load((lab / name).read_text()))
    doc["store"] = str(store)
    config.write_text(yaml.safe_dump(doc))
    return config


def absolute_lab_paths(lab: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """The lab's config document ``doc`` with every file it names (the CA, the bind
    password, the Unity servers' CA and SNMP secrets) as an absolute path in ``lab``."""
    directory = doc["directory"]
    directory["tls"]["ca_file"] = str(lab / directory["tls"]["ca_file"])
    bind = directory["bind"]
    if "file" in bind.get("password", {}):
        bind["password"]["file"] = str(lab / bind["password"]["file"])
    for key in ("keytab", "krb5_conf"):  # the Kerberos config (poolsync-kerberos.yaml)
        if key in bind:
            bind[key] = str(lab / bind[key])
    for server in doc.get("servers", {}).values():
        if "ca_file" in server.get("http", {}):
            server["http"]["ca_file"] = str(lab / server["http"]["ca_file"])
        snmp = server.get("snmp", {})
        for secret in (
            snmp.get("community"),
            *(snmp.get(k, {}).get("password") for k in ("auth", "priv")),
        ):
            if secret and "file" in secret:
                secret["file"] = str(lab / secret["file"])
    return doc


def another_user() -> int:
    """The uid of ``nobody``, to own a file poolsync must not trust.

    Giving a file away takes root: without it the test is skipped (it would prove
    nothing), and fails under CI=true, which runs as root.
    """
    if os.geteuid() != 0:
        reason = "needs root to give a file to another user (nobody)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot run under CI: {reason}")
        pytest.skip(reason)
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def give_away(*paths: Path) -> int:
    """chown ``paths`` (not following links) to :func:`another_user`; its uid."""
    uid = another_user()
    for path in paths:
        os.chown(path, uid, -1, follow_symlinks=False)
    return uid


def named(role: str | None) -> str:
    """An optional profile role's attribute that the test's profile is known to name."""
    assert role is not None, "the test's profile must name this role"
    return role
