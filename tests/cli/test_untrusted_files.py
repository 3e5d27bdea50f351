"""The CLI refuses files another user controls: a config, profile or what-if file (exit
2, a configuration error) and a store in a directory another user can change (exit 1,
an unusable store), each with one line on stderr that says what to run.

As root, ``nobody`` plays the other user (tests.support.helpers.give_away); those tests are
skipped without root. The checks themselves: tests/unit/test_security_trusted_files.py
and tests/unit/test_security_store_place.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fakes import write_config
from tests.support.helpers import LICENSE_CLASS_PROFILE, give_away, run

HISTORY = """date,pool,server,class,licensed,used
2026-09-01,lab.example.com,UNITY-A,vm,500,400
2026-10-01,lab.example.com,UNITY-A,vm,500,430
2026-11-01,lab.example.com,UNITY-A,vm,500,460
"""


def planted_config(directory: Path, marker: Path) -> Path:
    """A config whose password is a command that leaves ``marker`` behind when run."""
    config = directory / "poolsync.yaml"
    config.write_text(f"""forest: lab.example.com
directory:
  dc: {{url: "ldaps://dc.invalid:636"}}
  bind:
    method: simple
    user: a@lab.example.com
    password: {{command: "sh -c 'id -u > {marker}; echo pw'"}}
store: store.db
""")
    return config


def only_error(result_stderr: str) -> str:
    [line] = result_stderr.strip().splitlines()
    assert line.startswith("poolsync: error: ")
    return line.removeprefix("poolsync: error: ")


def test_the_red_teams_config_planted_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """root runs `poolsync resync` where nobody wrote poolsync.yaml: nobody's command
    must not run (it did, as root)."""
    marker = tmp_path / "ran"
    config = planted_config(tmp_path, marker)
    config.chmod(0o644)
    uid = give_away(config)
    monkeypatch.chdir(tmp_path)
    result = run("resync")
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert only_error(result.stderr) == (
        f"poolsync.yaml: refused: owned by nobody (uid {uid}), mode 0644; expected a file "
        "owned by root that no one else can write, since a config names the commands "
        "poolsync runs and the servers it sends the password to. Check what it says, "
        "then: chown root poolsync.yaml"
    )
    assert not marker.exists()


@pytest.mark.parametrize("args", [("resync",), ("doctor",), ("service",), ("pool",), ("history",)])
def test_a_config_others_can_write_is_refused_by_every_command(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    marker = tmp_path / "ran"
    config = planted_config(tmp_path, marker)
    config.chmod(0o666)
    result = run("--config", config, *args)
    assert result.exit_code == 2, result.stderr
    assert only_error(result.stderr).startswith(
        f"{config}: refused: mode 0666, writable by group and others; expected a file "
    )
    assert result.stderr.strip().endswith(f"then: chmod go-w {config}")
    assert not marker.exists()


def test_a_profile_others_can_write_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    profile = tmp_path / "profile.yaml"
    profile.write_bytes(LICENSE_CLASS_PROFILE.read_bytes())
    profile.chmod(0o666)
    config.write_text(config.read_text() + "profile: profile.yaml\n")
    result = run("--config", config, "resync")
    assert result.exit_code == 2, result.stderr
    assert only_error(result.stderr).startswith(f"{profile}: refused: mode 0666")
    assert result.stderr.strip().endswith(f"then: chmod go-w {profile}")


def test_a_what_if_file_another_user_owns_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    history = tmp_path / "old.csv"
    history.write_text(HISTORY)
    assert run("--config", config, "history", "import", history).exit_code == 0
    scenario = tmp_path / "spring.yaml"
    scenario.write_text("changes:\n  - add_licenses: {server: UNITY-A, vm: 100}\n")
    args = (
        "--config",
        config,
        "report",
        "capacity",
        "--today",
        "2026-11-02",
        "--what-if",
        scenario,
    )
    scenario.chmod(0o644)
    assert run(*args).exit_code in (0, 3)  # 3: a pool runs out (a finding)
    uid = give_away(scenario)
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert only_error(result.stderr).startswith(
        f"{scenario}: refused: owned by nobody (uid {uid}), mode 0644; expected"
    )
    assert result.stderr.strip().endswith(f"then: chown root {scenario}")


def test_a_store_in_another_users_directory_is_an_unusable_store(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "poolsync.db").symlink_to(theirs / "elsewhere")  # the red team's link
    uid = give_away(theirs, theirs / "poolsync.db")
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("store: store.db", "store: theirs/poolsync.db"))
    history = tmp_path / "old.csv"
    history.write_text(HISTORY)
    for args in (("history", "import", history), ("pool",), ("history",)):
        result = run("--config", config, *args)
        assert result.exit_code == 1, (args, result.stderr)  # an unusable store, not 6
        assert only_error(result.stderr).startswith(
            f"the store {theirs}/poolsync.db is in a directory another user can change: "
            f"{theirs} is owned by nobody (uid {uid}), mode 0755."
        )
        assert f"chown root {theirs}, or set store: in the config" in result.stderr
    assert not (theirs / "elsewhere").exists()


def test_a_store_directory_others_can_write_is_an_unusable_store(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    config.write_text(config.read_text().replace("store: store.db", "store: shared/poolsync.db"))
    history = tmp_path / "old.csv"
    history.write_text(HISTORY)
    result = run("--config", config, "history", "import", history)
    assert result.exit_code == 1, result.stderr
    assert f"{shared} is mode 0777, writable by group and others." in result.stderr
    assert f": chmod go-w {shared}, or set store:" in result.stderr
    assert list(shared.iterdir()) == []
