"""Whose config, profile and what-if file poolsync reads: the running user's or root's,
and only when no one else can write it.

The red team's case: root ran ``poolsync resync`` in a directory where ``nobody`` had
written ``poolsync.yaml``, and ran ``nobody``'s ``{command:}`` as root; a 0666 config
was accepted too. Now such a file is refused with the file, what was found, what is
expected and the ``chown``/``chmod`` that fixes it. The check is made on the opened
file (fstat), so a link leads nowhere the check does not follow.

As root, ``nobody`` plays the other user (tests.support.helpers.give_away); those tests are
skipped without root. The CLI's side (exit codes, one line on stderr, the command not
run): tests/cli/test_untrusted_files.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.capacity.whatif import ScenarioError, load_scenario
from poolsync.config import load_config
from poolsync.errors import ConfigError, ProfileError, UserError
from poolsync.lab.build import write_file
from poolsync.profile import BUILTIN_DIR, load_profile
from poolsync.trust import make_directories, read_trusted
from tests.support.fakes import write_config
from tests.support.helpers import LICENSE_CLASS_PROFILE, give_away

CONFIG_WHY = "a config names the commands poolsync runs and the servers it sends the password to"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_000() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_config_another_user_owns_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.chmod(0o644)
    uid = give_away(config)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert str(info.value) == (
        f"{config}: refused: owned by nobody (uid {uid}), mode 0644; expected a file owned "
        f"by root that no one else can write, since {CONFIG_WHY}. Check what it says, "
        f"then: chown root {config}"
    )
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("loose", "who"),
    [(0o666, "group and others"), (0o646, "others"), (0o664, "group"), (0o620, "group")],
)
def test_a_config_others_can_write_is_refused(tmp_path: Path, loose: int, who: str) -> None:
    config = write_config(tmp_path)
    config.chmod(loose)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert str(info.value).startswith(
        f"{config}: refused: mode {loose:04o}, writable by {who}; expected a file owned by "
    )
    assert str(info.value).endswith(f"Check what it says, then: chmod go-w {config}")


def test_both_wrongs_are_named_with_both_fixes(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.chmod(0o666)
    uid = give_away(config)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value)
    assert (
        f"refused: owned by nobody (uid {uid}), mode 0666, writable by group and others;" in message
    )
    assert message.endswith(f"then: chown root {config} && chmod go-w {config}")


@pytest.mark.parametrize("safe", [0o600, 0o640, 0o644, 0o400])
def test_a_config_only_its_owner_can_write_is_read(tmp_path: Path, safe: int) -> None:
    config = write_config(tmp_path)
    config.chmod(safe)
    assert load_config(config).forest == "lab.example.com"


def test_a_link_is_judged_by_the_file_it_opens(tmp_path: Path) -> None:
    """The link itself is ours and harmless; what counts is the file read through it."""
    config = write_config(tmp_path)
    config.chmod(0o600)
    link = tmp_path / "link.yaml"
    link.symlink_to(config)
    assert load_config(link).forest == "lab.example.com"
    theirs = tmp_path / "theirs.yaml"
    shutil.copy(config, theirs)
    theirs.chmod(0o644)
    give_away(theirs)
    link.unlink()
    link.symlink_to(theirs)
    with pytest.raises(ConfigError, match="refused: owned by nobody"):
        load_config(link)


def test_the_check_reads_what_it_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One descriptor for both: fstat, then read. A name swapped in between (here,
    right after the open) changes nothing about what is read."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("forest: mine\n")
    mine.chmod(0o600)
    theirs = tmp_path / "theirs.yaml"
    theirs.write_text("forest: theirs\n")
    theirs.chmod(0o666)
    real_open = os.open

    def swap_after_open(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        if Path(path) == mine:
            theirs.replace(mine)
        return fd

    monkeypatch.setattr(os, "open", swap_after_open)
    assert read_trusted(mine, error=ConfigError, kind="config") == b"forest: mine\n"
    monkeypatch.undo()
    assert mine.read_text() == "forest: theirs\n"  # the swap happened


def test_a_profile_file_is_held_to_the_same_rule(tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    shutil.copy(LICENSE_CLASS_PROFILE, profile)
    profile.chmod(0o644)
    assert load_profile(str(profile)).source == profile
    profile.chmod(0o666)
    with pytest.raises(ProfileError) as info:
        load_profile(str(profile))
    assert str(info.value).startswith(
        f"{profile}: refused: mode 0666, writable by group and others; expected a file owned by "
    )
    assert str(info.value).endswith(
        "since a profile decides what poolsync reads from the directory and how it "
        f"counts. Check what it says, then: chmod go-w {profile}"
    )
    profile.chmod(0o644)
    uid = give_away(profile)
    with pytest.raises(ProfileError, match=rf"refused: owned by nobody \(uid {uid}\)"):
        load_profile("profile.yaml", base_dir=tmp_path)


def test_a_built_in_profile_is_part_of_poolsync(tmp_path: Path) -> None:
    """Built-in profiles ship with the code: whoever could change them could change
    poolsync itself, so they are not checked (an installation is as trusted as its
    owner makes it)."""
    assert load_profile("cisco-unity").source == BUILTIN_DIR / "cisco-unity.yaml"


def test_a_what_if_file_is_held_to_the_same_rule(tmp_path: Path) -> None:
    scenario = tmp_path / "spring.yaml"
    scenario.write_text(
        textwrap.dedent("""\
        name: spring
        changes:
          - add_licenses: {server: UNITY-A, vm: 100}
        """)
    )
    scenario.chmod(0o644)
    assert load_scenario(scenario).name == "spring"
    scenario.chmod(0o646)
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario)
    assert str(info.value).startswith(f"{scenario}: refused: mode 0646, writable by others;")
    assert str(info.value).endswith(
        "since a what-if scenario changes what the capacity report recommends. Check what "
        f"it says, then: chmod go-w {scenario}"
    )
    assert isinstance(info.value, UserError)
    scenario.chmod(0o644)
    give_away(scenario)
    with pytest.raises(ScenarioError, match="refused: owned by nobody"):
        load_scenario(scenario)


def test_an_unreadable_file_is_still_said_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read: No such file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="cannot read: Is a directory"):
        load_config(tmp_path)


def test_the_labs_files_are_written_with_exact_modes_whatever_the_umask(
    tmp_path: Path, umask_000: None
) -> None:
    """`poolsync lab up` writes the lab's config, and `lab grow` the capacity demo's:
    under umask 000 they were 0666, which poolsync would now refuse (make demo)."""
    config = tmp_path / "poolsync.yaml"
    write_file(config, "forest: lab.example.com\n")
    assert mode(config) == 0o644
    assert read_trusted(config, error=ConfigError, kind="config")
    (tmp_path / "secret.tmp").write_text("left by an interrupted run")
    (tmp_path / "secret.tmp").chmod(0o666)
    write_file(tmp_path / "secret", "pw", mode=0o600)
    assert mode(tmp_path / "secret") == 0o600


def test_missing_directories_get_an_exact_mode(tmp_path: Path, umask_000: None) -> None:
    make_directories(tmp_path / "lab" / "deeper", mode=0o755)
    assert [mode(tmp_path / "lab"), mode(tmp_path / "lab" / "deeper")] == [0o755, 0o755]
