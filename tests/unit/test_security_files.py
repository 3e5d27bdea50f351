"""What poolsync writes to disk is private whatever the umask: the store (and its -wal,
-shm and lock), reports and exports (``--out``) are created 0600.

The metrics file is the documented exception: node_exporter, another user, must read
it, so it is 0644 exactly (never more, whatever the umask). It holds counts and names,
never a credential. And the other way round: a password file others can read is
refused. Against the real lab (resync, service, graph): tests/integration/test_security.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.errors import UserError
from poolsync.metrics import write_metrics
from poolsync.outfile import write_atomic
from poolsync.store import Store
from tests.support.fakes import write_config
from tests.support.helpers import run

HISTORY = """date,pool,server,class,licensed,used
2026-09-01,lab.example.com,UNITY-A,vm,500,400
2026-10-01,lab.example.com,UNITY-A,vm,500,430
2026-11-01,lab.example.com,UNITY-A,vm,500,460
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o000, 0o022], ids=["umask-000", "umask-022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """A permissive umask for the test (the process's; restored after)."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_a_new_store_and_its_companions_are_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "state" / "poolsync.db"
    with Store.open(path) as store:
        store.lock()
        with store.transaction() as db:  # something in the WAL
            db.execute("INSERT INTO seats_by_home (home, vm, um, inbox) VALUES ('x', 1, 0, 0)")
        files = {p.name: mode(p) for p in path.parent.iterdir()}
    assert {"poolsync.db", "poolsync.db-wal", "poolsync.db-shm", "poolsync.db.lock"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)
    assert mode(path.parent) == 0o700  # created for the store, so it is the store's


def test_an_existing_store_keeps_its_mode(tmp_path: Path, umask: int) -> None:
    """An administrator's choice (e.g. 0640 for a reporting group) is not undone."""
    path = tmp_path / "poolsync.db"
    Store.open(path).close()
    path.chmod(0o640)
    Store.open(path).close()
    with Store.open(path, create=False) as store:
        store.homed_seats()
    assert mode(path) == 0o640


def test_written_files_are_private_and_atomic(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "report.html"
    write_atomic(target, "<p>one</p>")
    assert mode(target) == 0o600
    assert target.read_text() == "<p>one</p>"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left


def test_a_replaced_file_does_not_inherit_a_planted_mode(tmp_path: Path, umask: int) -> None:
    # A file pre-created 0666 (by anyone who can write the directory) must not make the
    # export world-readable: replaced outputs are 0600 too, unless --mode says otherwise.
    target = tmp_path / "export.csv"
    target.write_text("old")
    target.chmod(0o666)
    write_atomic(target, "new")
    assert (mode(target), target.read_text()) == (0o600, "new")
    write_atomic(target, "newer", mode=0o640)
    assert (mode(target), target.read_text()) == (0o640, "newer")


@pytest.mark.parametrize("target", ["/dev/null", "fifo", "dir"])
def test_a_target_that_is_not_a_regular_file_is_refused(tmp_path: Path, target: str) -> None:
    path = Path(target) if target.startswith("/") else tmp_path / target
    if target == "fifo":
        os.mkfifo(path)
    elif target == "dir":
        path.mkdir()
    before = path.stat()
    with pytest.raises(UserError, match="not a regular file"):
        write_atomic(path, "x")
    after = path.stat()
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


def test_a_symlink_is_written_through_only_when_asked(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with pytest.raises(UserError, match="is a symbolic link"):
        write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "old"
    write_atomic(link, "new", follow_symlinks=True)
    assert link.is_symlink() and real.read_text() == "new"
    dev = tmp_path / "stdout"
    dev.symlink_to("/dev/null")
    with pytest.raises(UserError, match="not a regular file"):
        write_atomic(dev, "x", follow_symlinks=True)


def test_a_link_planted_where_the_old_temporary_file_went_is_not_followed(tmp_path: Path) -> None:
    """The temporary name is random and created exclusively: a symlink at the name an
    earlier version used (``.NAME.tmp``) cannot redirect the write."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / ".out.csv.tmp").symlink_to(victim)
    write_atomic(tmp_path / "out.csv", "a,b\n")
    assert victim.read_text() == "precious"
    assert (tmp_path / "out.csv").read_text() == "a,b\n"


def test_an_unwritable_place_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot write"):
        write_atomic(tmp_path / "missing" / "out.csv", "x")


def test_the_metrics_file_is_0644_exactly(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "poolsync.prom"
    write_metrics(target, "poolsync_run_exit_code 0\n")
    assert mode(target) == 0o644


def poolsync(config: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own started with umask 022 (a login shell's)."""
    code = "import os; os.umask(0o022); from poolsync.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "--config", str(config), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
    )


def test_cli_files_are_private_under_umask_022(tmp_path: Path) -> None:
    config = write_config(tmp_path)  # store: store.db beside it
    history = tmp_path / "old.csv"
    history.write_text(HISTORY)
    assert poolsync(config, "history", "import", history).returncode == 0
    written = {
        "history.csv": ("history", "export", "--out"),
        "history.json": ("history", "export", "--format", "json", "--out"),
        "capacity.html": (
            "report",
            "capacity",
            "--format",
            "html",
            "--today",
            "2026-11-02",
            "--out",
        ),
        "capacity.csv": ("report", "capacity", "--format", "csv", "--today", "2026-11-02", "--out"),
    }
    for name, args in written.items():
        proc = poolsync(config, *args, tmp_path / name)
        assert proc.returncode in (0, 3), proc.stderr  # 3: a pool runs out (a finding)
    modes = {
        p.name: mode(p)
        for p in tmp_path.iterdir()
        if p.name.startswith("store.db") or p.name in written
    }
    assert set(written) | {"store.db"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600), modes


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o644])
def test_a_password_file_others_can_read_is_refused_before_connecting(
    tmp_path: Path, loose: int
) -> None:
    config = write_config(tmp_path)
    secret = tmp_path / "pw"
    secret.write_text("S3cret-in-a-loose-file\n")
    secret.chmod(loose)
    for args in (("resync",), ("doctor",), ("service",)):
        result = run("--config", config, *args)
        assert result.exit_code == 2, result.stderr  # a configuration error
        assert result.stderr.splitlines() == [
            f"poolsync: error: {config}: directory.bind.password: secret file {secret} has "
            f"mode {loose:04o}; make it 0600 (chmod 600 {secret}) so only its owner can "
            "read it"
        ]
        assert "S3cret" not in result.stdout + result.stderr
