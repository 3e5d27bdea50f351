"""Secret references: resolution rules, and that the secret never leaks."""

from __future__ import annotations

import os
import shlex
import sys
import traceback
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.errors import ConfigError, SecretError
from poolsync.secrets import SecretRef
from poolsync.yamlfile import Node

SECRET = "s3cr3t-Hunter2!"
PY = shlex.quote(sys.executable)
# Python that evaluates to SECRET without the command line containing it.
EMIT = f"''.join(reversed({SECRET[::-1]!r}))"


def python_command(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


def resolve_error(ref: SecretRef, **kwargs: float) -> SecretError:
    with pytest.raises(SecretError) as info:
        ref.resolve(**kwargs)
    assert_no_leak(info.value)
    return info.value


def assert_no_leak(exc: BaseException, secret: str = SECRET) -> None:
    """Neither the message nor a printed traceback (with its chain) shows the secret."""
    assert secret not in str(exc)
    assert secret not in repr(exc)
    assert secret not in "".join(traceback.format_exception(exc))


def secret_file(tmp_path: Path, content: str | bytes = SECRET + "\n", mode: int = 0o600) -> Path:
    path = tmp_path / "admin.password"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    path.chmod(mode)
    return path


# -- str / repr -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "text"),
    [
        (SecretRef("env", "POOLSYNC_PW"), "env:POOLSYNC_PW"),
        (SecretRef("file", "/etc/poolsync/pw"), "file:/etc/poolsync/pw"),
        (SecretRef("command", "pass show ad"), "command:pass show ad"),
    ],
)
def test_str_and_repr_show_only_kind_and_name(ref: SecretRef, text: str) -> None:
    assert str(ref) == text
    assert repr(ref) == f"SecretRef(kind={ref.kind!r}, value={ref.value!r})"


def test_resolved_secret_is_not_in_str_or_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POOLSYNC_PW", SECRET)
    refs = [
        SecretRef("env", "POOLSYNC_PW"),
        SecretRef("file", str(secret_file(tmp_path))),
        SecretRef("command", python_command(f"print({EMIT})")),
    ]
    for ref in refs:
        assert ref.resolve() == SECRET
        assert SECRET not in str(ref)
        assert SECRET not in repr(ref)
        assert SECRET not in f"{ref!s} {ref!r} {[ref]}"


def test_origin_prefixes_messages_but_not_equality() -> None:
    ref = SecretRef("env", "POOLSYNC_NOT_SET_X", origin="conf.yaml: directory.bind.password")
    assert ref == SecretRef("env", "POOLSYNC_NOT_SET_X")
    assert "origin" not in repr(ref)
    message = str(resolve_error(ref))
    assert message == (
        "conf.yaml: directory.bind.password: environment variable POOLSYNC_NOT_SET_X is not set"
    )


def test_secret_ref_is_frozen() -> None:
    ref = SecretRef("env", "A")
    with pytest.raises(AttributeError):
        ref.value = "B"  # type: ignore[misc]


# -- env --------------------------------------------------------------------------------


def test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLSYNC_PW", SECRET)
    assert SecretRef("env", "POOLSYNC_PW").resolve() == SECRET


def test_env_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POOLSYNC_PW", raising=False)
    error = resolve_error(SecretRef("env", "POOLSYNC_PW"))
    assert str(error) == "environment variable POOLSYNC_PW is not set"


def test_env_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLSYNC_PW", "")
    error = resolve_error(SecretRef("env", "POOLSYNC_PW"))
    assert str(error) == "environment variable POOLSYNC_PW is empty"


@given(
    secret=st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
        min_size=1,
    )
)
def test_env_returns_any_value_unchanged(secret: str) -> None:
    name = "POOLSYNC_HYPOTHESIS_PW"
    try:
        os.environ[name] = secret
    except (UnicodeEncodeError, ValueError):
        return  # not representable in the environment
    try:
        assert SecretRef("env", name).resolve() == secret
    finally:
        del os.environ[name]


# -- file -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (SECRET, SECRET),
        (SECRET + "\n", SECRET),
        (SECRET + "\r\n", SECRET),
        (SECRET + "\n\n", SECRET + "\n"),  # only one newline is removed
        (" " + SECRET + " \n", " " + SECRET + " "),  # spaces are part of the secret
    ],
)
def test_file(tmp_path: Path, content: str, expected: str) -> None:
    assert SecretRef("file", str(secret_file(tmp_path, content))).resolve() == expected


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_file_owner_only_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    assert SecretRef("file", str(secret_file(tmp_path, mode=mode))).resolve() == SECRET


@pytest.mark.parametrize(
    ("mode", "shown", "wanted"),
    [
        (0o644, "0644", "0600"),
        (0o640, "0640", "0600"),
        (0o604, "0604", "0600"),
        (0o620, "0620", "0600"),
        (0o444, "0444", "0400"),
        (0o777, "0777", "0700"),
    ],
)
def test_file_readable_by_others_is_refused(
    tmp_path: Path, mode: int, shown: str, wanted: str
) -> None:
    path = secret_file(tmp_path, mode=mode)
    error = resolve_error(SecretRef("file", str(path)))
    assert str(error) == (
        f"secret file {path} has mode {shown}; make it {wanted} "
        f"(chmod {wanted[1:]} {path}) so only its owner can read it"
    )


def test_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    error = resolve_error(SecretRef("file", str(path)))
    assert str(error) == f"secret file {path}: No such file or directory"


def test_file_is_a_directory(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    error = resolve_error(SecretRef("file", str(tmp_path)))
    assert str(error) == f"secret file {tmp_path} is not a regular file"


def test_file_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    error = resolve_error(SecretRef("file", str(fifo)))
    assert str(error) == f"secret file {fifo} is not a regular file"


def test_file_symlink_to_a_private_file_is_fine(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(secret_file(tmp_path))
    assert SecretRef("file", str(link)).resolve() == SECRET


@pytest.mark.parametrize("content", ["", "\n"])
def test_file_empty(tmp_path: Path, content: str) -> None:
    path = secret_file(tmp_path, content)
    assert str(resolve_error(SecretRef("file", str(path)))) == f"secret file {path} is empty"


def test_file_not_utf8_does_not_quote_the_bytes(tmp_path: Path) -> None:
    path = secret_file(tmp_path, b"ab\xfe\xffcd")
    error = resolve_error(SecretRef("file", str(path)))
    assert str(error) == f"secret file {path} is not valid UTF-8"
    assert "0xfe" not in "".join(traceback.format_exception(error))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_file_unreadable(tmp_path: Path) -> None:
    path = secret_file(tmp_path, mode=0o000)
    error = resolve_error(SecretRef("file", str(path)))
    assert str(error) == f"secret file {path}: Permission denied"


def test_file_path_with_nul_byte() -> None:
    error = resolve_error(SecretRef("file", "a\x00b"))
    assert str(error) == "secret file 'a\\x00b': not a valid path"


# -- command ----------------------------------------------------------------------------


def test_command_output_with_one_newline_removed() -> None:
    ref = SecretRef("command", python_command(f"print({EMIT})"))
    assert ref.resolve() == SECRET


def test_command_runs_without_a_shell(tmp_path: Path) -> None:
    # With a shell, "; touch ..." would run; shlex.split passes it as arguments.
    marker = tmp_path / "marker"
    command = python_command("import sys; print(sys.argv[1:])") + f" ';' touch {marker}"
    assert SecretRef("command", command).resolve() == f"[';', 'touch', '{marker}']"
    assert not marker.exists()


def test_command_failure_reports_status_not_output() -> None:
    code = f"import sys; print({EMIT}); print({EMIT}, file=sys.stderr); sys.exit(3)"
    command = python_command(code)
    error = resolve_error(SecretRef("command", command))
    assert str(error) == f"secret command {command!r} failed with exit status 3"


def test_command_killed_by_signal() -> None:
    command = python_command("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    error = resolve_error(SecretRef("command", command))
    assert str(error) == f"secret command {command!r} was killed by signal SIGKILL"


def test_command_timeout_kills_it_without_showing_partial_output() -> None:
    code = f"import sys, time; print({EMIT}, flush=True); time.sleep(30)"
    command = python_command(code)
    error = resolve_error(SecretRef("command", command), timeout=0.5)
    assert str(error) == f"secret command {command!r} did not finish within 0.5 s"


def test_command_default_timeout_is_30_seconds() -> None:
    from poolsync import secrets

    assert secrets.COMMAND_TIMEOUT == 30.0


def test_command_not_found() -> None:
    error = resolve_error(SecretRef("command", "/nonexistent/bin/get-password --for ad"))
    assert str(error) == (
        "secret command '/nonexistent/bin/get-password --for ad': cannot run "
        "/nonexistent/bin/get-password: No such file or directory"
    )


def test_command_prints_nothing() -> None:
    command = python_command("print()")
    error = resolve_error(SecretRef("command", command))
    assert str(error) == f"secret command {command!r} printed nothing"


def test_command_not_utf8() -> None:
    command = python_command("import sys; sys.stdout.buffer.write(b'\\xff\\xfe')")
    error = resolve_error(SecretRef("command", command))
    assert str(error) == f"secret command {command!r} printed something that is not valid UTF-8"


def test_command_unparseable() -> None:
    error = resolve_error(SecretRef("command", "pass show 'ad"))
    assert str(error) == 'secret command "pass show \'ad": cannot parse: No closing quotation'


def test_command_empty() -> None:
    assert str(resolve_error(SecretRef("command", "  "))) == "secret command is empty"


def test_command_stdin_is_closed() -> None:
    command = python_command("import sys; print(repr(sys.stdin.read()))")
    assert SecretRef("command", command).resolve() == "''"


# -- parsing from a config node ---------------------------------------------------------


def parent(value: object) -> Node:
    return Node.wrap(
        {"password": value}, file=Path("c.yaml"), keypath="bind", error_type=ConfigError
    )


def test_from_node_file_is_relative_to_base_dir(tmp_path: Path) -> None:
    ref = SecretRef.from_node(parent({"file": "pw"}), "password", base_dir=tmp_path)
    assert ref == SecretRef("file", str(tmp_path / "pw"))
    assert ref.origin == "c.yaml: bind.password"
    absolute = SecretRef.from_node(parent({"file": "/run/pw"}), "password", base_dir=tmp_path)
    assert absolute.value == "/run/pw"


def test_from_node_rejects_inline_without_echo(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        SecretRef.from_node(parent(SECRET), "password", base_dir=tmp_path)
    assert str(info.value).startswith(
        "c.yaml: bind.password: an inline password is not allowed; refer to it with "
    )
    assert_no_leak(info.value)


def test_from_node_list_is_not_a_reference(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="an inline password is not allowed"):
        SecretRef.from_node(parent([{"env": "A"}]), "password", base_dir=tmp_path)
