"""The config file: loading, defaults, and an exact message for every mistake.

Also covers the shared YAML machinery (poolsync.yamlfile) the config is built on.
"""

from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolsync.config import (
    Config,
    Endpoint,
    default_config_path,
    forest_base_dn,
    is_dns_name,
    load_config,
)
from poolsync.errors import ConfigError, UserError
from poolsync.secrets import SecretRef
from poolsync.yamlfile import Node, describe, load_yaml_mapping
from tests.support.config_docs import base_doc, load_error, write

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "poolsync.yaml"


def set_key(doc: dict[str, Any], dotted: str, value: object) -> dict[str, Any]:
    node = doc
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return doc


def del_key(doc: dict[str, Any], dotted: str) -> dict[str, Any]:
    node = doc
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    return doc


# -- the example ----------------------------------------------------------------------


def test_example_config_loads_with_its_referenced_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = tmp_path / "conf" / "poolsync.yaml"
    config_path.parent.mkdir()
    shutil.copy(EXAMPLE, config_path)
    (tmp_path / "conf" / "tls").mkdir()
    (tmp_path / "conf" / "tls" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    secret = tmp_path / "conf" / "secrets" / "admin.password"
    secret.parent.mkdir()
    secret.write_text("Passw0rd-lab\n")
    secret.chmod(0o600)
    monkeypatch.chdir(tmp_path)  # relative paths must not depend on the current directory

    config = load_config(config_path)

    assert config.forest == "lab.example.com"
    assert config.directory.dc == Endpoint(
        url="ldaps://127.0.0.2:636",
        scheme="ldaps",
        host="127.0.0.2",
        port=636,
        use_ssl=True,
        base_dn="DC=lab,DC=example,DC=com",
    )
    assert config.directory.gc.port == 3269
    assert config.directory.gc.base_dn == ""
    assert config.directory.bind.method == "simple"
    assert config.directory.bind.user == "Administrator@lab.example.com"
    assert config.directory.bind.password == SecretRef("file", str(secret))
    assert config.directory.bind.password.resolve() == "Passw0rd-lab"
    assert config.directory.tls.ca_file == tmp_path / "conf" / "tls" / "ca.pem"
    assert config.directory.tls.validate is True
    assert config.directory.tls.starttls is False
    assert config.directory.page_size == 1000
    assert (config.directory.timeouts.connect, config.directory.timeouts.operation) == (10, 120)
    retries = config.directory.retries
    assert (retries.attempts, retries.initial_wait, retries.max_wait) == (4, 0.5, 10)
    assert config.profile == "cisco-unity"
    assert config.store == tmp_path / "conf" / "poolsync.db"
    assert config.plaintext is False
    unity_a, unity_b = config.servers
    assert unity_a.http is not None and unity_a.snmp is not None
    assert unity_a.http.url == "https://127.38.0.2:8443/avxml/effectivelicense.asp"
    assert unity_a.http.ca_file == tmp_path / "conf" / "tls" / "ca.pem"
    assert (unity_a.snmp.version, unity_a.snmp.port, unity_a.snmp.user) == ("3", 1161, "poolsync")
    assert unity_b.http is None and unity_b.snmp is not None
    assert unity_b.snmp.community == SecretRef(
        "file", str(tmp_path / "conf" / "secrets" / "snmp-community")
    )


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    for key in (
        "forest",
        "directory",
        "dc",
        "url",
        "base_dn",
        "gc",
        "bind",
        "method",
        "user",
        "password",
        "tls",
        "ca_file",
        "validate",
        "insecure",
        "starttls",
        "page_size",
        "timeouts",
        "connect",
        "operation",
        "pass",
        "retries",
        "attempts",
        "initial_wait",
        "max_wait",
        "profile",
        "store",
        "servers",
        "http",
        "auth",
        "timeout",
        "snmp",
        "host",
        "port",
        "version",
        "community",
        "priv",
        "protocol",
    ):
        assert f"{key}:" in text, key


def test_configuration_doc_names_every_key() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    for key in (
        "forest",
        "directory.dc.url",
        "directory.tls.ca_file",
        "retries.max_wait",
        "servers.NAME.http.url",
        "servers.NAME.snmp.version",
        "servers.NAME.snmp.priv",
    ):
        assert key in text, key


# -- defaults ---------------------------------------------------------------------------


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base_doc()))
    assert isinstance(config, Config)
    directory = config.directory
    assert directory.dc.port == 636
    assert directory.dc.base_dn == "DC=lab,DC=example,DC=com"
    # No gc section: the DC host on the GC port of the same scheme.
    assert directory.gc == Endpoint(
        url="ldaps://dc1.lab.example.com:3269",
        scheme="ldaps",
        host="dc1.lab.example.com",
        port=3269,
        use_ssl=True,
        base_dn="",
    )
    assert directory.tls.ca_file is None
    assert directory.tls.validate is True
    assert directory.page_size == 1000
    assert directory.timeouts.connect == 10.0
    assert directory.timeouts.operation == 120.0
    assert directory.timeouts.pass_ == 3600.0
    assert directory.retries.attempts == 4
    assert config.profile == "cisco-unity"
    assert config.store == tmp_path / "poolsync.db"
    assert config.base_dir == tmp_path


@pytest.mark.parametrize(
    ("url", "port", "gc_port"),
    [("ldap://dc", 389, 3268), ("ldaps://dc", 636, 3269), ("LDAP://DC:1389", 1389, 3268)],
)
def test_default_ports(tmp_path: Path, url: str, port: int, gc_port: int) -> None:
    doc = set_key(base_doc(), "directory.dc.url", url)
    directory = load_config(write(tmp_path, doc)).directory
    assert directory.dc.port == port
    assert directory.dc.host == "dc"
    assert directory.gc.port == gc_port


def test_gc_default_port_when_url_has_none(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "directory.gc", {"url": "ldap://gc.lab.example.com"})
    gc = load_config(write(tmp_path, doc)).directory.gc
    assert (gc.host, gc.port, gc.use_ssl, gc.base_dn) == ("gc.lab.example.com", 3268, False, "")


def test_ipv6_host(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "directory.dc.url", "ldaps://[::1]:1636")
    directory = load_config(write(tmp_path, doc)).directory
    assert (directory.dc.host, directory.dc.port) == ("::1", 1636)
    assert directory.gc.url == "ldaps://[::1]:3269"


def test_forest_is_lower_cased(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "forest", "Lab.Example.COM")
    config = load_config(write(tmp_path, doc))
    assert config.forest == "lab.example.com"
    assert config.directory.dc.base_dn == "DC=lab,DC=example,DC=com"


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.yaml").write_text("x: 1\n")
    doc = base_doc()
    set_key(doc, "directory.tls.ca_file", "ca.pem")
    set_key(doc, "directory.bind.password", {"file": "pw.txt"})
    doc["profile"] = "profiles/mine.yaml"
    doc["store"] = "data/poolsync.db"
    path = write(tmp_path, doc)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(Path("..") / path.name)

    base = elsewhere / ".."
    assert config.directory.tls.ca_file == base / "ca.pem"
    assert config.directory.bind.password == SecretRef("file", str(base / "pw.txt"))
    assert config.profile == str(base / "profiles" / "mine.yaml")
    assert config.store == base / "data" / "poolsync.db"


def test_anonymous_bind(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "directory.bind", {"method": "anonymous"})
    bind = load_config(write(tmp_path, doc)).directory.bind
    assert (bind.method, bind.user, bind.password) == ("anonymous", None, None)


@pytest.mark.parametrize(
    ("dc_url", "gc_url", "starttls", "plaintext"),
    [
        ("ldaps://dc", "ldaps://dc", False, False),
        ("ldap://dc", "ldaps://dc", False, True),
        ("ldaps://dc", "ldap://dc", False, True),
        ("ldap://dc", "ldap://dc", True, False),
    ],
)
def test_plaintext(
    tmp_path: Path, dc_url: str, gc_url: str, starttls: bool, plaintext: bool
) -> None:
    doc = base_doc()
    set_key(doc, "directory.dc.url", dc_url)
    set_key(doc, "directory.gc.url", gc_url)
    set_key(doc, "directory.tls.starttls", starttls)
    assert load_config(write(tmp_path, doc)).plaintext is plaintext


def test_validate_off_with_insecure(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "directory.tls", {"validate": False, "insecure": True})
    assert load_config(write(tmp_path, doc)).directory.tls.validate is False


def test_numbers_accept_ints_and_floats(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "directory.timeouts", {"connect": 2.5, "operation": 30, "pass": 90})
    set_key(doc, "directory.retries", {"attempts": 1, "initial_wait": 0, "max_wait": 0})
    directory = load_config(write(tmp_path, doc)).directory
    assert directory.timeouts.connect == 2.5
    assert directory.timeouts.operation == 30.0
    assert directory.timeouts.pass_ == 90.0
    assert directory.retries.max_wait == 0.0


def test_forest_base_dn() -> None:
    assert forest_base_dn("lab.example.com") == "DC=lab,DC=example,DC=com"
    assert forest_base_dn("corp") == "DC=corp"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("lab.example.com", True),
        ("a-b.c0", True),
        ("corp", True),
        ("-lab.example.com", False),
        ("lab_x.example.com", False),
        ("lab..com", False),
        ("lab.example.com.", False),
        ("lab.example.com\n", False),
        ("10.0.0.1", False),
        ("\u212a.example.com", False),  # KELVIN SIGN matches [a-z] under IGNORECASE
        ("a" * 64 + ".com", False),
    ],
)
def test_is_dns_name(name: str, ok: bool) -> None:
    assert is_dns_name(name) is ok


def test_default_config_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POOLSYNC_CONFIG", raising=False)
    assert default_config_path() == Path("poolsync.yaml")
    monkeypatch.setenv("POOLSYNC_CONFIG", "/etc/poolsync/poolsync.yaml")
    assert default_config_path() == Path("/etc/poolsync/poolsync.yaml")
    monkeypatch.setenv("POOLSYNC_CONFIG", "")
    assert default_config_path() == Path("poolsync.yaml")


# -- file-level errors ----------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert load_error(path) == f"{path}: cannot read: No such file or directory"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: cannot read: Is a directory"


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "forest: lab.example.com\ndirectory:\n  dc: [unclosed\n")
    message = load_error(path)
    assert message.startswith(f"{path}: line 4, column 1: not valid YAML: ")
    assert "expected ',' or ']'" in message


def test_yaml_tab_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "forest: x\n\tdirectory: {}\n")
    assert load_error(path).startswith(f"{path}: line 2, column 1: not valid YAML: ")


def test_impossible_timestamp_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "forest: 2024-13-45\n")
    assert load_error(path) == f"{path}: not valid YAML: month must be in 1..12"


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "forest: !!python/object/apply:os.system ['true']\n")
    assert "not valid YAML: could not determine a constructor" in load_error(path)


def test_two_documents(tmp_path: Path) -> None:
    path = write(tmp_path, "forest: a.b\n---\nforest: c.d\n")
    assert load_error(path) == (
        f"{path}: line 2, column 1: not valid YAML: "
        "expected a single document in the stream, but found another document"
    )


@pytest.mark.parametrize(
    ("text", "got"),
    [("", "an empty document"), ("- a\n- b\n", "a list"), ("just text\n", "'just text'")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path) == f"{path}: expected a mapping at the top level, got {got}"


def test_non_string_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "forest: a.b\n1: x\n")
    assert load_error(path) == f"{path}: expected a mapping with string keys, got key 1"


# -- one message per mistake ------------------------------------------------------------


def test_unknown_key_names_it_and_lists_allowed(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "directory.tls", {"vaildate": True})
    path = write(tmp_path, doc)
    assert load_error(path) == (
        f"{path}: directory.tls: unknown key 'vaildate' "
        "(allowed: ca_file, insecure, starttls, validate)"
    )


def test_unknown_top_level_keys(tmp_path: Path) -> None:
    doc = base_doc()
    doc["stroe"] = "x.db"
    doc["profil"] = "y"
    path = write(tmp_path, doc)
    assert load_error(path) == (
        f"{path}: unknown keys 'stroe', 'profil' "
        "(allowed: capacity, compliance, directory, doctor, forest, profile, servers, store, sync)"
    )


@pytest.mark.parametrize(
    "dotted",
    [
        "forest",
        "directory",
        "directory.dc",
        "directory.dc.url",
        "directory.bind",
        "directory.bind.user",
        "directory.bind.password",
    ],
)
def test_required_key_missing(tmp_path: Path, dotted: str) -> None:
    path = write(tmp_path, del_key(base_doc(), dotted))
    assert load_error(path) == f"{path}: {dotted}: required key is missing"


BAD_VALUES: list[tuple[str, object, str]] = [
    (
        "forest",
        "not a dns name",
        "expected a DNS name such as lab.example.com, got 'not a dns name'",
    ),
    ("forest", 42, "expected a non-empty string (quote it), got 42"),
    ("forest", "", "expected a non-empty string, got an empty string"),
    ("forest", None, "expected a non-empty string, got null"),
    ("directory", ["dc"], "expected a mapping, got a list"),
    ("directory.dc", "ldaps://dc", "expected a mapping, got 'ldaps://dc'"),
    (
        "directory.dc.url",
        "http://dc.lab.example.com",
        "expected an ldap:// or ldaps:// URL, got 'http://dc.lab.example.com'",
    ),
    (
        "directory.dc.url",
        "dc.lab.example.com",
        "expected an ldap:// or ldaps:// URL, got 'dc.lab.example.com'",
    ),
    ("directory.dc.url", "ldap:dc", "expected an ldap:// or ldaps:// URL, got 'ldap:dc'"),
    (
        "directory.dc.url",
        "ldaps://",
        "expected an ldap:// or ldaps:// URL with a host, got 'ldaps://'",
    ),
    (
        "directory.dc.url",
        "ldaps://dc:99999",
        "expected an ldap:// or ldaps:// URL with a port from 1 to 65535, got 'ldaps://dc:99999'",
    ),
    (
        "directory.dc.url",
        "ldaps://dc:0",
        "expected an ldap:// or ldaps:// URL with a port from 1 to 65535, got 'ldaps://dc:0'",
    ),
    (
        "directory.dc.url",
        "ldaps://dc:ldap",
        "expected an ldap:// or ldaps:// URL with a port from 1 to 65535, got 'ldaps://dc:ldap'",
    ),
    (
        "directory.dc.url",
        "ldaps://dc/DC=lab",
        "expected an ldap:// or ldaps:// URL without a path, query or user name, "
        "got 'ldaps://dc/DC=lab'",
    ),
    (
        "directory.dc.url",
        "ldaps://admin@dc",
        "expected an ldap:// or ldaps:// URL without a path, query or user name, "
        "got 'ldaps://admin@dc'",
    ),
    (
        "directory.dc.url",
        "ldaps://bad_host",
        "expected an ldap:// or ldaps:// URL whose host is a DNS name or IP address, "
        "got 'ldaps://bad_host'",
    ),
    (
        "directory.dc.base_dn",
        "lab.example.com",
        "expected a DN such as DC=lab,DC=example,DC=com, got 'lab.example.com'",
    ),
    (
        "directory.dc.base_dn",
        "",
        "expected a DN such as DC=lab,DC=example,DC=com, got an empty string",
    ),
    (
        "directory.gc.base_dn",
        "DC=lab,,DC=com",
        'expected a DN such as DC=lab,DC=example,DC=com or "" for the whole forest, '
        "got 'DC=lab,,DC=com'",
    ),
    (
        "directory.bind.method",
        "digest",
        "expected one of simple, anonymous, kerberos, ntlm, got 'digest'",
    ),
    ("directory.bind.user", "", "expected a non-empty string, got an empty string"),
    ("directory.tls.validate", "yes please", "expected true or false, got 'yes please'"),
    ("directory.tls.starttls", 1, "expected true or false, got 1"),
    ("directory.page_size", 0, "expected an integer from 1 to 1000, got 0"),
    ("directory.page_size", 1001, "expected an integer from 1 to 1000, got 1001"),
    ("directory.page_size", True, "expected an integer from 1 to 1000, got true"),
    ("directory.page_size", "500", "expected an integer from 1 to 1000, got '500'"),
    ("directory.page_size", 10.0, "expected an integer from 1 to 1000, got 10.0"),
    ("directory.timeouts.connect", 0, "expected a number > 0, got 0"),
    ("directory.timeouts.operation", -1.5, "expected a number > 0, got -1.5"),
    ("directory.timeouts.operation", math.inf, "expected a number > 0, got inf"),
    ("directory.timeouts.pass", 0, "expected a number > 0, got 0"),
    ("directory.timeouts.connect", "10s", "expected a number > 0, got '10s'"),
    ("directory.timeouts.connect", False, "expected a number > 0, got false"),
    ("directory.timeouts", 10, "expected a mapping, got 10"),
    ("directory.retries.attempts", 0, "expected an integer from 1 to 100, got 0"),
    ("directory.retries.initial_wait", -1, "expected a number >= 0, got -1"),
    ("directory.retries.max_wait", 0.1, "expected a number >= initial_wait (0.5), got 0.1"),
    (
        "profile",
        "no such thing",
        "expected a built-in profile name such as cisco-unity or "
        "the path of a profile YAML file, got 'no such thing'",
    ),
    ("store", "", "expected a non-empty string, got an empty string"),
]


@pytest.mark.parametrize(("dotted", "value", "expected"), BAD_VALUES)
def test_bad_value_message(tmp_path: Path, dotted: str, value: object, expected: str) -> None:
    doc = base_doc()
    if dotted.startswith("directory.gc."):
        set_key(doc, "directory.gc.url", "ldaps://gc.lab.example.com")
    set_key(doc, dotted, value)
    path = write(tmp_path, doc)
    assert load_error(path) == f"{path}: {dotted}: {expected}"


def test_long_values_are_shortened_in_messages(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "forest", "x" * 500)
    message = load_error(write(tmp_path, doc))
    assert "x" * 57 + "..." in message
    assert "x" * 58 not in message


def test_validate_off_needs_insecure(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "directory.tls.validate", False)
    path = write(tmp_path, doc)
    assert load_error(path).startswith(
        f"{path}: directory.tls.validate: validate: false also needs insecure: true"
    )


def test_ca_file_must_exist(tmp_path: Path) -> None:
    doc = set_key(base_doc(), "directory.tls.ca_file", "tls/ca.pem")
    path = write(tmp_path, doc)
    assert load_error(path) == (
        f"{path}: directory.tls.ca_file: cannot read CA file {tmp_path / 'tls' / 'ca.pem'}: "
        "No such file or directory"
    )


def test_ca_file_must_be_a_file(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    doc = set_key(base_doc(), "directory.tls.ca_file", "tls")
    path = write(tmp_path, doc)
    assert load_error(path) == (
        f"{path}: directory.tls.ca_file: cannot read CA file {tmp_path / 'tls'}: Is a directory"
    )


def test_profile_path_must_exist(tmp_path: Path) -> None:
    doc = base_doc()
    doc["profile"] = "mine.yaml"
    path = write(tmp_path, doc)
    assert load_error(path) == (
        f"{path}: profile: cannot read profile {tmp_path / 'mine.yaml'}: No such file or directory"
    )


@pytest.mark.parametrize("key", ["user", "password"])
def test_anonymous_takes_no_credentials(tmp_path: Path, key: str) -> None:
    doc = base_doc()
    doc["directory"]["bind"]["method"] = "anonymous"
    doc["directory"]["bind"] = {
        k: v for k, v in doc["directory"]["bind"].items() if k in ("method", key)
    }
    path = write(tmp_path, doc)
    assert load_error(path) == (
        f"{path}: directory.bind.{key}: not used with method: anonymous; remove it"
    )


# -- the password: references only ------------------------------------------------------


@pytest.mark.parametrize("inline", ["hunter2-Secret", 123456, True])
def test_inline_password_is_rejected_without_echoing_it(tmp_path: Path, inline: object) -> None:
    doc = set_key(base_doc(), "directory.bind.password", inline)
    path = write(tmp_path, doc)
    message = load_error(path)
    assert message == (
        f"{path}: directory.bind.password: an inline password is not allowed; refer to it "
        'with {env: VARIABLE}, {file: PATH} or {command: "..."}'
    )
    assert "hunter2" not in message
    assert "123456" not in message


PASSWORD_ERRORS: list[tuple[object, str, str]] = [
    (
        {},
        "directory.bind.password",
        "expected exactly one of env, file, command, got an empty mapping",
    ),
    (
        {"env": "A", "file": "b"},
        "directory.bind.password",
        "expected exactly one of env, file, command, got env and file",
    ),
    (
        {"vault": "x"},
        "directory.bind.password",
        "unknown key 'vault' (allowed: command, env, file)",
    ),
    (
        {"env": ""},
        "directory.bind.password.env",
        "expected a non-empty string, got an empty string",
    ),
    (
        {"env": "1BAD"},
        "directory.bind.password.env",
        "expected an environment variable name (letters, digits, _), got '1BAD'",
    ),
    (
        {"env": "PW\n"},
        "directory.bind.password.env",
        "expected an environment variable name (letters, digits, _), got 'PW\\n'",
    ),
    ({"file": None}, "directory.bind.password.file", "expected a non-empty string, got null"),
    (
        {"command": "pass show 'ad"},
        "directory.bind.password.command",
        'expected a command line, got "pass show \'ad" (No closing quotation)',
    ),
    ({"command": "   "}, "directory.bind.password.command", "expected a command line, got '   '"),
]


@pytest.mark.parametrize(("value", "keypath", "expected"), PASSWORD_ERRORS)
def test_password_reference_errors(
    tmp_path: Path, value: object, keypath: str, expected: str
) -> None:
    doc = set_key(base_doc(), "directory.bind.password", value)
    path = write(tmp_path, doc)
    assert load_error(path) == f"{path}: {keypath}: {expected}"


@pytest.mark.parametrize(
    ("value", "ref"),
    [
        ({"env": "POOLSYNC_PW"}, SecretRef("env", "POOLSYNC_PW")),
        ({"command": "pass show ad/poolsync"}, SecretRef("command", "pass show ad/poolsync")),
        ({"file": "/run/secrets/pw"}, SecretRef("file", "/run/secrets/pw")),
    ],
)
def test_password_references(tmp_path: Path, value: object, ref: SecretRef) -> None:
    doc = set_key(base_doc(), "directory.bind.password", value)
    path = write(tmp_path, doc)
    password = load_config(path).directory.bind.password
    assert password == ref
    assert password is not None
    assert password.origin == f"{path}: directory.bind.password"


def test_unresolvable_password_error_points_at_the_config_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POOLSYNC_PW", raising=False)
    path = write(tmp_path, base_doc())
    password = load_config(path).directory.bind.password
    assert password is not None
    with pytest.raises(UserError) as info:
        password.resolve()
    assert str(info.value) == (
        f"{path}: directory.bind.password: environment variable POOLSYNC_PW is not set"
    )


# -- the yamlfile machinery directly ----------------------------------------------------


def node(data: dict[str, object], keypath: str = "servers[2]") -> Node:
    return Node.wrap(data, file=Path("t.yaml"), keypath=keypath, error_type=ConfigError)


def test_node_paths() -> None:
    n = node({"licenses": {"vm": "x"}})
    with pytest.raises(ConfigError) as info:
        n.child("licenses").required_int("vm")
    assert str(info.value) == "t.yaml: servers[2].licenses.vm: expected an integer, got 'x'"
    assert node({}, keypath="").path_of("forest") == "forest"
    assert node({}, keypath="dcs").path_of(0) == "dcs[0]"


def test_node_mapping_list() -> None:
    n = node({"items": [{"a": 1}, "b"]}, keypath="")
    with pytest.raises(ConfigError) as info:
        n.mapping_list("items")
    assert str(info.value) == "t.yaml: items[1]: expected a mapping, got 'b'"
    with pytest.raises(ConfigError) as info:
        node({"items": []}).mapping_list("items", min_items=1)
    assert str(info.value) == (
        "t.yaml: servers[2].items: expected a list of at least 1 item, got 0"
    )
    assert node({}).mapping_list("items", required=False) == ()


def test_node_optional_accessors_return_defaults() -> None:
    n = node({})
    assert n.optional_str("a") is None
    assert n.optional_str("a", default="d") == "d"
    assert n.optional_int("a", default=3) == 3
    assert n.optional_bool("a", default=True) is True
    assert n.optional_number("a", default=1.5) == 1.5
    assert n.optional_child("a") is None
    assert n.child_or_empty("a").keypath == "servers[2].a"
    assert n.choice("a", ("x", "y"), default="y") == "y"
    with pytest.raises(ConfigError, match=r"^t.yaml: servers\[2\].a: required key is missing$"):
        n.choice("a", ("x", "y"))


def test_node_huge_int_is_described_not_printed() -> None:
    assert describe(10**5000) == "a very large integer"
    with pytest.raises(ConfigError, match="got a very large integer"):
        node({"a": 10**5000}).required_int("a", maximum=10)


def test_node_huge_int_as_number() -> None:
    with pytest.raises(ConfigError, match="expected a number, got a very large integer"):
        node({"a": 10**400}).optional_number("a", default=1.0)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (False, "false"),
        (1.5, "1.5"),
        ({}, "a mapping"),
        ([1], "a list"),
        (b"x", "binary data"),
        ({1, 2}, "a set"),
        ("", "an empty string"),
    ],
)
def test_describe(value: object, text: str) -> None:
    assert describe(value) == text


def test_load_yaml_mapping_uses_the_callers_error_type(tmp_path: Path) -> None:
    class MyError(UserError):
        pass

    path = write(tmp_path, "[1]\n")
    with pytest.raises(MyError):
        load_yaml_mapping(path, error=MyError)
    root = load_yaml_mapping(write(tmp_path, "a: {b: 1}\n"), error=MyError)
    assert root.child("a").required_int("b") == 1


# -- property: arbitrary input raises ConfigError or nothing ----------------------------

yaml_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["ldap://dc", "ldaps://[::1]:0", "DC=a", "", "x/y.yaml", "\x00", "~"])
)
yaml_values = st.recursive(
    yaml_leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
CONFIG_PATHS = [
    "forest",
    "directory",
    "directory.dc",
    "directory.dc.url",
    "directory.dc.base_dn",
    "directory.gc",
    "directory.gc.url",
    "directory.gc.base_dn",
    "directory.bind",
    "directory.bind.method",
    "directory.bind.user",
    "directory.bind.password",
    "directory.bind.password.env",
    "directory.bind.password.file",
    "directory.bind.password.command",
    "directory.tls",
    "directory.tls.ca_file",
    "directory.tls.validate",
    "directory.tls.insecure",
    "directory.tls.starttls",
    "directory.page_size",
    "directory.timeouts",
    "directory.timeouts.connect",
    "directory.retries",
    "directory.retries.max_wait",
    "profile",
    "store",
]


def _mutate(doc: dict[str, Any], dotted: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node: Any = doc
    *parents, last = dotted.split(".")
    for part in parents:
        if not isinstance(node, dict):
            return doc
        node = node.setdefault(part, {})
    if isinstance(node, dict):
        node[last] = value
    return doc


def _check_only_config_errors(path: Path) -> None:
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)), str(exc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.characters(codec="utf-8")))
def test_arbitrary_text_raises_only_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "poolsync.yaml"
    path.write_text(text, encoding="utf-8")
    _check_only_config_errors(path)


@settings(max_examples=100, deadline=None)
@given(data=st.binary())
def test_arbitrary_bytes_raise_only_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "poolsync.yaml"
    path.write_bytes(data)
    _check_only_config_errors(path)


@settings(max_examples=300, deadline=None)
@given(
    mutations=st.lists(st.tuples(st.sampled_from(CONFIG_PATHS), yaml_values), max_size=3),
)
def test_mutated_config_raises_only_config_error(
    tmp_path_factory: pytest.TempPathFactory, mutations: list[tuple[str, object]]
) -> None:
    doc = base_doc()
    for dotted, value in mutations:
        doc = _mutate(doc, dotted, value)
    path = tmp_path_factory.mktemp("fuzz") / "poolsync.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    _check_only_config_errors(path)


# -- failover lists, sync and compliance sections ---------------------------------------


def test_url_lists_give_endpoints_in_failover_order(tmp_path: Path) -> None:
    doc = set_key(
        base_doc(),
        "directory.dc.url",
        ["ldaps://dc1.lab.example.com", "ldaps://dc2.lab.example.com:1636"],
    )
    directory = load_config(write(tmp_path, doc)).directory
    assert [(e.host, e.port) for e in directory.dcs] == [
        ("dc1.lab.example.com", 636),
        ("dc2.lab.example.com", 1636),
    ]
    assert directory.dc == directory.dcs[0]
    # Without a gc section each DC is its own GC, in the same order.
    assert [(e.host, e.port, e.base_dn) for e in directory.gcs] == [
        ("dc1.lab.example.com", 3269, ""),
        ("dc2.lab.example.com", 3269, ""),
    ]
    assert {e.base_dn for e in directory.dcs} == {"DC=lab,DC=example,DC=com"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "directory.dc.url: expected a URL or a non-empty list of URLs, got an empty list"),
        (["ldaps://dc1", 7], "directory.dc.url[1]: expected an ldap:// or ldaps:// URL, got 7"),
        (
            ["ldaps://dc1", "http://dc2"],
            "directory.dc.url[1]: expected an ldap:// or ldaps:// URL, got 'http://dc2'",
        ),
    ],
)
def test_bad_url_lists_name_the_item(tmp_path: Path, value: object, message: str) -> None:
    path = write(tmp_path, set_key(base_doc(), "directory.dc.url", value))
    assert load_error(path) == f"{path}: {message}"


def test_sync_and_compliance_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base_doc()))
    assert (config.sync.method, config.sync.max_age) == ("usn", 7 * 86400)
    assert (config.sync.deletions.max_objects, config.sync.deletions.max_percent) == (500, None)
    assert (
        config.compliance.max_voice_ports,
        config.compliance.max_subscribers,
        config.compliance.grace_days,
    ) == (72, None, 28)


def test_sync_and_compliance_keys(tmp_path: Path) -> None:
    doc = base_doc()
    doc["sync"] = {
        "method": "dirsync",
        "max_age": "12h",
        "deletions": {"max_objects": 50, "max_percent": 10},
    }
    doc["compliance"] = {
        "max_voice_ports": None,
        "max_subscribers_per_server": 2000,
        "grace_days": 14,
    }
    config = load_config(write(tmp_path, doc))
    assert (config.sync.method, config.sync.max_age) == ("dirsync", 12 * 3600)
    assert config.sync.deletions.limit(1000) == 50 and config.sync.deletions.limit(100) == 10
    assert (
        config.compliance.max_voice_ports,
        config.compliance.max_subscribers,
        config.compliance.grace_days,
    ) == (None, 2000, 14)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sync.method", "poll", "sync.method: expected one of"),
        ("sync.max_age", "soon", "sync.max_age: expected a duration such as 12h or 7d, got 'soon'"),
        ("sync.max_age", 0, "sync.max_age: expected a duration such as 12h or 7d, got 0"),
        ("sync.max_age", True, "sync.max_age: expected a duration"),
        ("sync.deletions.max_objects", -1, "sync.deletions.max_objects: expected"),
        ("sync.deletions.max_percent", 150, "sync.deletions.max_percent: expected"),
        ("sync.deletes", 5, "unknown key"),
        ("compliance.max_voice_ports", 0, "compliance.max_voice_ports: expected"),
        ("compliance.grace_days", "a month", "compliance.grace_days: expected"),
    ],
)
def test_bad_sync_and_compliance_keys(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    path = write(tmp_path, set_key(base_doc(), key, value))
    error = load_error(path)
    assert error.startswith(f"{path}: ") and message in error


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("24h", 86400),
        ("7d", 604800),
        ("2w", 1209600),
        ("30", 30),
        (" 1.5h ", 5400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    from poolsync.config import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "5 minutes", "-1h", "h", "1y", "5m5s"])
def test_bad_durations(text: str) -> None:
    from poolsync.config import parse_duration

    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_doctor_section(tmp_path: Path) -> None:
    doc = base_doc()
    doc["doctor"] = {
        "servers": {
            "UNITY-A": {"dc": "DC1", "gc": "dc2.lab.example.com"},
            "UNITY-B": {"gc": "DC2"},
        },
        "expected": ["UNITY-Z"],
        "other_forests": ["other/poolsync.yaml"],
    }
    path = write(tmp_path, doc)
    config = load_config(path)
    assert [(m.server, m.dc, m.gc) for m in config.doctor.servers] == [
        ("UNITY-A", "DC1", "dc2.lab.example.com"),
        ("UNITY-B", None, "DC2"),
    ]
    assert config.doctor.expected == ("UNITY-Z",)
    assert config.doctor.other_forests == (tmp_path / "other" / "poolsync.yaml",)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"servers": {"UNITY-A": {"site": "HQ"}}},
            "doctor.servers.UNITY-A: unknown key 'site' (allowed: dc, gc)",
        ),
        (
            {"servers": {"UNITY-A": {}, "unity-a": {}}},
            "doctor.servers.unity-a: 'unity-a' is listed twice (names are case-insensitive)",
        ),
        (
            {"expected": "UNITY-Z"},
            "doctor.expected: expected a list of non-empty strings, got 'UNITY-Z'",
        ),
        ({"colour": 1}, "doctor: unknown key 'colour' (allowed: expected, other_forests, servers)"),
    ],
)
def test_bad_doctor_section(tmp_path: Path, section: dict[str, object], expected: str) -> None:
    doc = base_doc()
    doc["doctor"] = section
    path = write(tmp_path, doc)
    assert load_error(path) == f"{path}: {expected}"


def test_capacity_section(tmp_path: Path) -> None:
    doc = base_doc()
    doc["capacity"] = {
        "window": "60d",
        "horizon": "2w",
        "license_files": {"UNITY-A": {"files": ["lic/a.lic"], "mac": "00-0B-CD-12-34-56"}},
    }
    config = load_config(write(tmp_path, doc))
    assert (config.capacity.window_days, config.capacity.horizon_days) == (60, 14)
    (entry,) = config.capacity.license_files
    assert (entry.server, entry.files, entry.mac) == (
        "UNITY-A",
        (tmp_path / "lic" / "a.lic",),
        "000BCD123456",
    )
    assert load_config(write(tmp_path, base_doc())).capacity.window_days == 90


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"window": "12h"},
            "capacity.window: expected a whole number of days from 1d to 3650d, got '12h'",
        ),
        (
            {"horizon": "100000d"},
            "capacity.horizon: expected a whole number of days from 1d to 3650d, got '100000d'",
        ),
        (
            {"license_files": {"UNITY-A": {"files": ["a.lic"], "mac": "zz"}}},
            "capacity.license_files.UNITY-A.mac: ",
        ),
        (
            {"license_files": {"UNITY-A": {"files": ["a.lic", "./a.lic"]}}},
            "capacity.license_files.UNITY-A.files: a license file is listed twice; each counts "
            "once",
        ),
        (
            {"horizon": "soon"},
            "capacity.horizon: expected a number of days such as 90d, got 'soon'",
        ),
        (
            {"license_files": {"UNITY-A": {"files": []}}},
            "capacity.license_files.UNITY-A.files: expected at least one license file path, "
            "got an empty list (or none)",
        ),
    ],
)
def test_bad_capacity_section(tmp_path: Path, section: dict[str, object], expected: str) -> None:
    doc = base_doc()
    doc["capacity"] = section
    path = write(tmp_path, doc)
    assert load_error(path).startswith(f"{path}: {expected}")
