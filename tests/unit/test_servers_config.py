"""The config's ``servers:`` section: the endpoints of each Unity server, their
defaults, and an exact message for every mistake (file, key path, what was expected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from poolsync.config import load_config
from poolsync.secrets import SecretRef
from poolsync.servers.config import (
    DEFAULT_PATH,
    HttpEndpoint,
    ServerEndpoints,
    SnmpAuth,
    SnmpEndpoint,
)
from tests.support.config_docs import base_doc, load_error, write

PAGE = "https://unity-a.example.com/avxml/effectivelicense.asp"


def with_servers(servers: object) -> dict[str, Any]:
    doc = base_doc()
    doc["servers"] = servers
    return doc


def servers_of(tmp_path: Path, servers: object) -> tuple[ServerEndpoints, ...]:
    return load_config(write(tmp_path, with_servers(servers))).servers


def error_of(tmp_path: Path, servers: object) -> str:
    path = write(tmp_path, with_servers(servers))
    message = load_error(path)
    assert message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


def v3(**change: object) -> dict[str, object]:
    snmp: dict[str, object] = {
        "host": "127.38.0.2",
        "version": "3",
        "user": "poolsync",
        "auth": {"protocol": "SHA", "password": {"file": "secrets/snmp-auth"}},
        "priv": {"protocol": "AES", "password": {"file": "secrets/snmp-priv"}},
    }
    snmp.update(change)
    return {"UNITY-A": {"snmp": snmp}}


# -- what loads -----------------------------------------------------------------------


def test_no_servers_section_means_none(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, base_doc())).servers == ()
    assert servers_of(tmp_path, {}) == ()


def test_the_issues_shape_with_its_defaults(tmp_path: Path) -> None:
    [server] = servers_of(tmp_path, {"UNITY-A": {"http": {"url": PAGE}}})
    assert server == ServerEndpoints(
        name="UNITY-A",
        http=HttpEndpoint(
            url=PAGE, ca_file=None, validate=True, user=None, password=None, timeout=10.0
        ),
        snmp=None,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://unity-a.example.com", PAGE),
        ("https://unity-a.example.com/", PAGE),
        ("HTTPS://unity-a.example.com:8443", f"https://unity-a.example.com:8443{DEFAULT_PATH}"),
        ("http://127.38.0.2:8080", f"http://127.38.0.2:8080{DEFAULT_PATH}"),
        ("https://[::1]:8443", f"https://[::1]:8443{DEFAULT_PATH}"),
        (
            "https://unity-a.example.com/custom/page.asp",
            "https://unity-a.example.com/custom/page.asp",
        ),
    ],
)
def test_a_url_without_a_path_gets_the_effective_license_page(
    tmp_path: Path, url: str, expected: str
) -> None:
    [server] = servers_of(tmp_path, {"UNITY-A": {"http": {"url": url}}})
    assert server.http is not None and server.http.url == expected


def test_every_http_key_and_paths_relative_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    (conf / "certs").mkdir(parents=True)
    (conf / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.chdir(tmp_path)  # not the config's directory
    [server] = servers_of(
        conf,
        {
            "UNITY-A": {
                "http": {
                    "url": PAGE,
                    "ca_file": "certs/ca.pem",
                    "validate": True,
                    "insecure": False,
                    "auth": {"user": "reader", "password": {"file": "secrets/http.password"}},
                    "timeout": 2.5,
                }
            }
        },
    )
    assert server.http == HttpEndpoint(
        url=PAGE,
        ca_file=conf / "certs" / "ca.pem",
        validate=True,
        user="reader",
        password=SecretRef("file", str(conf / "secrets" / "http.password")),
        timeout=2.5,
    )


def test_validation_off_with_consent(tmp_path: Path) -> None:
    [server] = servers_of(
        tmp_path, {"UNITY-A": {"http": {"url": PAGE, "validate": False, "insecure": True}}}
    )
    assert server.http is not None and server.http.validate is False


def test_snmp_v2c_with_its_defaults(tmp_path: Path) -> None:
    [server] = servers_of(
        tmp_path,
        {
            "unity-b": {
                "snmp": {
                    "host": "unity-b.example.com",
                    "version": "2c",
                    "community": {"env": "UNITY_COMMUNITY"},
                }
            }
        },
    )
    assert server == ServerEndpoints(
        name="unity-b",
        http=None,
        snmp=SnmpEndpoint(
            host="unity-b.example.com",
            port=161,
            version="2c",
            community=SecretRef("env", "UNITY_COMMUNITY"),
            user=None,
            auth=None,
            priv=None,
            timeout=5.0,
        ),
    )


def test_snmp_v3_auth_priv(tmp_path: Path) -> None:
    [server] = servers_of(tmp_path, v3(port=1161, timeout=1))
    assert server.snmp == SnmpEndpoint(
        host="127.38.0.2",
        port=1161,
        version="3",
        community=None,
        user="poolsync",
        auth=SnmpAuth("SHA", SecretRef("file", str(tmp_path / "secrets" / "snmp-auth"))),
        priv=SnmpAuth("AES", SecretRef("file", str(tmp_path / "secrets" / "snmp-priv"))),
        timeout=1.0,
    )


def test_snmp_v3_auth_without_priv_and_sha256(tmp_path: Path) -> None:
    [server] = servers_of(
        tmp_path,
        v3(priv=None)
        | {
            "UNITY-A": {
                "snmp": {
                    "host": "127.38.0.2",
                    "version": "3",
                    "user": "poolsync",
                    "auth": {"protocol": "SHA256", "password": {"command": "pass show unity"}},
                }
            }
        },
    )
    assert server.snmp is not None
    assert server.snmp.auth == SnmpAuth("SHA256", SecretRef("command", "pass show unity"))
    assert server.snmp.priv is None


def test_both_endpoints_and_the_file_order(tmp_path: Path) -> None:
    servers = servers_of(
        tmp_path,
        {
            "UNITY-B": {"snmp": {"host": "::1", "version": "2c", "community": {"env": "C"}}},
            "UNITY-A": {
                "http": {"url": PAGE},
                "snmp": {"host": "10.0.0.7", "version": "2c", "community": {"env": "C"}},
            },
        },
    )
    assert [s.name for s in servers] == ["UNITY-B", "UNITY-A"]
    assert servers[1].http is not None and servers[1].snmp is not None


# -- mistakes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ([], "servers: expected a mapping, got a list"),
        ({"UNITY-A": None}, "servers.UNITY-A: expected a mapping, got null"),
        ({"UNITY-A": {}}, "servers.UNITY-A: expected http and/or snmp, got neither"),
        ({"UNITY-A": {"https": {}}}, "servers.UNITY-A: unknown key 'https' (allowed: http, snmp)"),
        (
            {"UNITY-A": {"http": {"url": PAGE}}, "unity-a": {"http": {"url": PAGE}}},
            "servers.unity-a: 'unity-a' is listed twice (also as 'UNITY-A'; names are "
            "case-insensitive)",
        ),
        (
            {" ": {"http": {"url": PAGE}}},
            "servers: expected a server name (its Location's name), got ' '",
        ),
        (
            {"A\nB": {"http": {"url": PAGE}}},
            "servers: expected a server name (its Location's name), got 'A\\nB'",
        ),
    ],
)
def test_section_mistakes(tmp_path: Path, servers: object, message: str) -> None:
    assert error_of(tmp_path, servers) == message


@pytest.mark.parametrize(
    ("http", "message"),
    [
        ({}, "url: required key is missing"),
        ({"url": 8443}, "url: expected a non-empty string (quote it), got 8443"),
        ({"url": "ftp://unity-a"}, "url: expected an http:// or https:// URL, got 'ftp://unity-a'"),
        (
            {"url": "unity-a.example.com"},
            "url: expected an http:// or https:// URL, got 'unity-a.example.com'",
        ),
        (
            {"url": "https://"},
            "url: expected an http:// or https:// URL whose host is a DNS name or IP address, "
            "got 'https://'",
        ),
        (
            {"url": "https://unity_a"},
            "url: expected an http:// or https:// URL whose host is a DNS name or IP address, "
            "got 'https://unity_a'",
        ),
        (
            {"url": "https://unity-a:0"},
            "url: expected an http:// or https:// URL with a port from 1 to 65535, "
            "got 'https://unity-a:0'",
        ),
        (
            {"url": "https://unity-a:99999"},
            "url: expected an http:// or https:// URL with a port from 1 to 65535, "
            "got 'https://unity-a:99999'",
        ),
        (
            {"url": "https://unity-a/page.asp?x=1"},
            "url: expected an http:// or https:// URL without a query or fragment, "
            "got 'https://unity-a/page.asp?x=1'",
        ),
        (
            {"url": "https://unity-a/pa ge"},
            "url: expected an http:// or https:// URL without spaces or control characters, "
            "got 'https://unity-a/pa ge'",
        ),
        (
            {"url": "https://unity-a\n.example.com"},
            "url: expected an http:// or https:// URL without spaces or control characters, "
            "got 'https://unity-a\\n.example.com'",
        ),
        (
            {"url": PAGE, "validate": False},
            "validate: validate: false also needs insecure: true (without certificate validation "
            "anyone on the path can pose as the server and read its answers and the password)",
        ),
        ({"url": PAGE, "validate": "no"}, "validate: expected true or false, got 'no'"),
        ({"url": PAGE, "timeout": 0}, "timeout: expected a number > 0 and <= 3600.0, got 0"),
        (
            {"url": PAGE, "timeout": 1e9},
            "timeout: expected a number > 0 and <= 3600.0, got 1000000000.0",
        ),
        (
            {"url": PAGE, "verify": True},
            ": unknown key 'verify' (allowed: auth, ca_file, insecure, timeout, url, validate)",
        ),
        (
            {"url": PAGE, "auth": {"user": "reader", "password": "hunter2"}},
            "auth.password: an inline password is not allowed; refer to it with {env: VARIABLE}, "
            '{file: PATH} or {command: "..."}',
        ),
        ({"url": PAGE, "auth": {"password": {"env": "P"}}}, "auth.user: required key is missing"),
        (
            {"url": PAGE, "auth": {"user": "a:b", "password": {"env": "P"}}},
            "auth.user: expected a user name without ':' or control characters (HTTP basic auth), "
            "got 'a:b'",
        ),
        (
            {"url": "http://unity-a", "auth": {"user": "reader", "password": {"env": "P"}}},
            "auth: an http:// URL sends the password unencrypted; use https:// or, if you mean "
            "it, set insecure: true",
        ),
    ],
)
def test_http_mistakes(tmp_path: Path, http: dict[str, object], message: str) -> None:
    assert error_of(tmp_path, {"UNITY-A": {"http": http}}) == "servers.UNITY-A.http" + (
        message if message.startswith(":") else f".{message}"
    )


def test_credentials_in_the_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, {"UNITY-A": {"http": {"url": "https://reader:s3cret\n@unity-a.example.com/"}}}
    )
    assert message == (
        "servers.UNITY-A.http.url: expected an http:// or https:// URL without a user name or "
        "password (give them as auth: {user: ..., password: {file: ...}}), got a URL with "
        "credentials in it"
    )
    assert "s3cret" not in message


def test_basic_auth_over_plain_http_with_consent(tmp_path: Path) -> None:
    [server] = servers_of(
        tmp_path,
        {
            "UNITY-A": {
                "http": {
                    "url": "http://unity-a",
                    "insecure": True,
                    "auth": {"user": "reader", "password": {"env": "P"}},
                }
            }
        },
    )
    assert server.http is not None and server.http.user == "reader"


def test_ca_file_must_be_readable_and_only_for_https(tmp_path: Path) -> None:
    assert error_of(tmp_path, {"UNITY-A": {"http": {"url": PAGE, "ca_file": "ca.pem"}}}) == (
        f"servers.UNITY-A.http.ca_file: cannot read CA file {tmp_path / 'ca.pem'}: "
        "No such file or directory"
    )
    assert error_of(tmp_path, {"UNITY-A": {"http": {"url": PAGE, "ca_file": "."}}}) == (
        f"servers.UNITY-A.http.ca_file: cannot read CA file {tmp_path / '.'}: Is a directory"
    )
    (tmp_path / "ca.pem").write_text("x")
    assert error_of(
        tmp_path, {"UNITY-A": {"http": {"url": "http://unity-a", "ca_file": "ca.pem"}}}
    ) == (
        "servers.UNITY-A.http.ca_file: a CA file is only used with an https:// URL; remove it "
        "or use https://"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"host": None}, "host: expected a non-empty string, got null"),
        ({"host": "unity a"}, "host: expected a DNS name or IP address, got 'unity a'"),
        ({"version": 3}, 'version: expected "2c" or "3" (quote it), got 3'),
        ({"version": "v3"}, "version: expected one of 2c, 3, got 'v3'"),
        ({"port": 0}, "port: expected an integer from 1 to 65535, got 0"),
        ({"port": "1161"}, "port: expected an integer from 1 to 65535, got '1161'"),
        (
            {"community": {"env": "C"}},
            'community: not used with version "3" (v3 has users); remove it',
        ),
        (
            {"user": "x" * 33},
            "user: expected a user name of 1 to 32 bytes without control characters, "
            f"got {'x' * 33!r}",
        ),
        (
            {"auth": {"protocol": "MD5", "password": {"env": "A"}}},
            "auth.protocol: expected one of SHA, SHA256, got 'MD5'",
        ),
        ({"auth": {"protocol": "SHA"}}, "auth.password: required key is missing"),
        (
            {"priv": {"protocol": "DES", "password": {"env": "P"}}},
            "priv.protocol: expected one of AES, AES256, got 'DES'",
        ),
        (
            {"priv": {"protocol": "AES", "password": "inline"}},
            "priv.password: an inline password is not allowed; refer to it with {env: VARIABLE}, "
            '{file: PATH} or {command: "..."}',
        ),
        ({"timeout": -1}, "timeout: expected a number > 0 and <= 3600.0, got -1"),
        (
            {"retries": 3},
            ": unknown key 'retries' (allowed: auth, community, host, port, priv, timeout, user, "
            "version)",
        ),
    ],
)
def test_snmp_mistakes(tmp_path: Path, change: dict[str, object], message: str) -> None:
    assert error_of(tmp_path, v3(**change)) == "servers.UNITY-A.snmp" + (
        message if message.startswith(":") else f".{message}"
    )


def test_v3_without_auth_and_v2c_mistakes(tmp_path: Path) -> None:
    no_auth = v3()
    del no_auth["UNITY-A"]["snmp"]["auth"]  # type: ignore[index]
    assert error_of(tmp_path, no_auth) == (
        'servers.UNITY-A.snmp.auth: required with version "3" (poolsync does not use SNMPv3 '
        'without authentication; use version "2c" for that)'
    )
    no_user = v3()
    del no_user["UNITY-A"]["snmp"]["user"]  # type: ignore[index]
    assert error_of(tmp_path, no_user) == "servers.UNITY-A.snmp.user: required key is missing"
    v2c = {"host": "unity-a", "version": "2c"}
    assert (
        error_of(tmp_path, {"UNITY-A": {"snmp": v2c}})
        == "servers.UNITY-A.snmp.community: required key is missing"
    )
    assert error_of(tmp_path, {"UNITY-A": {"snmp": {**v2c, "community": "public"}}}) == (
        "servers.UNITY-A.snmp.community: an inline community is not allowed; refer to it with "
        '{env: VARIABLE}, {file: PATH} or {command: "..."}'
    )
    assert (
        error_of(
            tmp_path, {"UNITY-A": {"snmp": {**v2c, "community": {"env": "C"}, "user": "poolsync"}}}
        )
        == 'servers.UNITY-A.snmp.user: not used with version "2c" (a v3 setting); remove it'
    )
