"""Where a store may live: never where another user can plant or rename its files.

The red team's case: ``poolsync.db -> elsewhere`` (dangling) planted in a directory
``nobody`` owns; root created the link's target 0644 and ``nobody`` read every
subscriber's DN from it. Now a store in a directory another user owns or can write
(not sticky) is refused before SQLite sees the path, with the directory, its owner and
mode and the command that fixes it; a new store's file is created with O_CREAT |
O_EXCL | O_NOFOLLOW; missing directories are created 0700 whatever the umask.

As root, ``nobody`` plays the other user (tests.support.helpers.give_away); the tests that
need one are skipped without root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.errors import StoreError, StoreLockedError
from poolsync.store import Store
from tests.support.helpers import give_away

ME = "root" if os.geteuid() == 0 else None  # the fix names the running user


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def refusal(path: Path, *, create: bool = True) -> str:
    with pytest.raises(StoreError) as info:
        Store.open(path, create=create)
    assert not isinstance(info.value, StoreLockedError)
    assert info.value.exit_code == 1
    return str(info.value)


@pytest.fixture(params=[0o000, 0o022, 0o277], ids=["umask-000", "umask-022", "umask-277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_the_red_teams_dangling_link_in_another_users_directory(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    elsewhere = theirs / "elsewhere"
    (theirs / "poolsync.db").symlink_to(elsewhere)
    give_away(theirs, theirs / "poolsync.db")
    for create in (True, False):
        message = refusal(theirs / "poolsync.db", create=create)
        assert message == (
            f"the store {theirs}/poolsync.db is in a directory another user can change: "
            f"{theirs} is owned by nobody (uid {theirs.stat().st_uid}), mode 0755. poolsync "
            f"keeps its store only where no one but you ({ME}) and root can create, rename "
            "or remove files (a directory others can write must be sticky, like /tmp): "
            f"chown {ME} {theirs}, or set store: in the config to a directory of your own"
        )
    assert not elsewhere.exists()


def test_another_users_directory_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    give_away(theirs)
    assert "is owned by nobody" in refusal(theirs / "poolsync.db")
    assert "is owned by nobody" in refusal(theirs / "new" / "deeper" / "poolsync.db")
    assert list(theirs.iterdir()) == []


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    message = refusal(shared / "poolsync.db")
    assert f"{shared} is mode 0777, writable by group and others." in message
    assert f": chmod go-w {shared}, or set store:" in message
    shared.chmod(0o775)
    assert f"{shared} is mode 0775, writable by group." in refusal(shared / "poolsync.db")
    assert list(shared.iterdir()) == []


def test_a_directory_above_it_counts_too(tmp_path: Path) -> None:
    """Whoever can write a directory higher up can rename the store's away and put one
    of their own in its place."""
    above = tmp_path / "above"
    (above / "mine").mkdir(parents=True)
    (above / "mine").chmod(0o700)
    above.chmod(0o777)
    message = refusal(above / "mine" / "poolsync.db")
    assert f"is in a directory another user can change: {above} is mode 0777" in message


def test_a_link_to_a_directory_is_judged_by_where_it_leads(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (tmp_path / "alias").symlink_to(shared)
    assert f"{shared} is mode 0777" in refusal(tmp_path / "alias" / "poolsync.db")


def test_a_sticky_directory_is_fine_and_gets_the_store_files_first(tmp_path: Path) -> None:
    """Like /tmp: others can create names there, but not rename or remove ours. So
    poolsync creates -wal and -shm itself before SQLite would, with the store's mode."""
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    path = sticky / "poolsync.db"
    with Store.open(path) as store:
        store.lock()
        with store.transaction() as db:
            db.execute("INSERT INTO seats_by_home (home, vm, um, inbox) VALUES ('x', 1, 0, 0)")
        modes = {p.name: mode(p) for p in sticky.iterdir()}
    assert modes == dict.fromkeys(
        ["poolsync.db", "poolsync.db-wal", "poolsync.db-shm", "poolsync.db.lock"], 0o600
    )
    with Store.open(path, create=False) as store:
        assert store.homed_seats()["x"].vm == 1


@pytest.mark.parametrize(
    "name", ["poolsync.db", "poolsync.db-wal", "poolsync.db-shm", "poolsync.db.lock"]
)
def test_a_store_file_another_user_planted_in_a_sticky_directory(tmp_path: Path, name: str) -> None:
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    path = sticky / "poolsync.db"
    if name != "poolsync.db":
        Store.open(path).close()
    planted = sticky / name
    planted.touch()
    planted.chmod(0o666)
    uid = give_away(planted)
    message = refusal(path)
    assert message == (
        f"{planted} is owned by nobody (uid {uid}), mode 0666, writable by group and "
        f"others: another user can change the store. If it is yours: chown {ME} {planted} "
        f"&& chmod go-w {planted}; if not, remove it (rm {planted}), and run poolsync as "
        "the user that owns the store"
    )


def test_a_store_others_can_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "poolsync.db"
    Store.open(path).close()
    path.chmod(0o666)
    for create in (True, False):
        assert f"{path} is mode 0666, writable by group and others" in refusal(path, create=create)


def test_a_lock_planted_after_the_check_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "poolsync.db"
    with Store.open(path) as store:
        lock = tmp_path / "poolsync.db.lock"
        lock.touch()
        give_away(lock)
        with pytest.raises(StoreError, match=r"poolsync\.db\.lock is owned by nobody"):
            store.lock()


def test_a_link_planted_between_the_check_and_the_creation_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: the link appears after poolsync looked, just before it creates the
    file. O_EXCL | O_NOFOLLOW makes the creation fail on it, and the link is refused
    instead of followed (SQLite would have created its target)."""
    path = tmp_path / "poolsync.db"
    elsewhere = tmp_path / "elsewhere"
    real_open = os.open

    def plant_first(file: str | os.PathLike[str], flags: int, *args: int, **kwargs: object) -> int:
        if Path(file) == path and flags & os.O_CREAT and not path.is_symlink():
            path.symlink_to(elsewhere)
        return real_open(file, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", plant_first)
    message = refusal(path)
    assert message.startswith(f"{path} is a symbolic link (to {elsewhere})")
    assert not elsewhere.exists()


def test_missing_directories_are_created_0700_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    path = tmp_path / "a" / "b" / "c" / "poolsync.db"
    Store.open(path).close()
    assert [mode(tmp_path / d) for d in ("a", "a/b", "a/b/c")] == [0o700] * 3
    assert mode(path) == 0o600


def test_reading_a_store_in_a_missing_directory_creates_nothing(tmp_path: Path) -> None:
    message = refusal(tmp_path / "missing" / "poolsync.db", create=False)
    assert message.startswith("no store at")
    assert not (tmp_path / "missing").exists()


def test_the_users_own_directory_and_roots_are_fine(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o755)
    with Store.open(mine / "poolsync.db") as store:
        assert not store.has_data()
    assert sorted(p.name for p in mine.iterdir()) == ["poolsync.db"]  # no stray -wal/-shm
