"""The lab's Unity servers answering for themselves, without starting anything: what
the SNMP agent serves, the handler's protocol, the daemons' configs, the generated
``servers:`` config section, addresses, and the daemon records of poolsync.lab.process.
(The topology keys behind them: test_topology_live.py.)"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from poolsync.attachment import format_attachment, parse_attachment
from poolsync.config import load_config
from poolsync.errors import LabError
from poolsync.lab import pass_persist, process, unity
from poolsync.lab.ldif import live_data
from poolsync.secrets import SecretRef
from poolsync.servers.config import HttpEndpoint, SnmpAuth, SnmpEndpoint
from topology.spec import load_topology

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / "tests" / "topologies" / "servers.yaml"
GLOBAL = ".1.3.6.1.4.1.9.9.385.1.2"


# -- what each server serves ------------------------------------------------------------


def test_every_server_with_a_license_of_its_own_is_served() -> None:
    assert [s.name for s in unity.served(load_topology(SERVERS))] == [
        "UNITY-OK",
        "UNITY-STALE",
        "UNITY-NEW",
        "UNITY-DOWN",
    ]


def test_what_the_agent_serves(tmp_path: Path) -> None:
    topology = load_topology(SERVERS)
    spec = topology.server("UNITY-STALE")
    server = unity.LabServer(name=spec.name, address="127.9.9.2", dir=str(tmp_path))
    doc = unity.agent_document(spec, server)
    assert doc["server"] == "UNITY-STALE" and doc["version"] == "4.0(5)"
    assert doc["licenses"]["LicSubscribersMax"] == 60
    assert doc["utilization"]["AvLicUtilizationSubscribers"] == 4
    erring = unity.LabServer(name=spec.name, address="127.9.9.2", dir=str(tmp_path), snmp="error")
    assert unity.agent_document(spec, erring)["licenses"] == {}


# -- the SNMP handler -------------------------------------------------------------------


def agent(tmp_path: Path, doc: dict[str, Any]) -> pass_persist.Source:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(doc))
    return pass_persist.Source(path)


def talk(source: pass_persist.Source, requests: str) -> str:
    out = io.StringIO()
    pass_persist.serve(source, io.StringIO(requests), out)
    return out.getvalue()


DOC = {
    "server": "UNITY-A",
    "version": "4.0(5)",
    "licenses": {
        "LicSubscribersMax": 500,
        "LicUMSubscribersMax": 200,
        "LicPoolingIsEnabled": 1,
        "LicSecondaryServerIsLicensed": 0,
        "LicTTSSessionsMax": 4,
        "SomethingNew": 9,
    },
    "utilization": {"AvLicUtilizationSubscribers": 412, "AvLicUtilizationUMSubscribers": 100},
}


def test_handler_answers_gets_with_mib_types(tmp_path: Path) -> None:
    source = agent(tmp_path, DOC)
    assert talk(
        source,
        f"PING\nget\n{GLOBAL}.10.0\nget\n{GLOBAL}.17.0\nget\n{GLOBAL}.20.0\n"
        f"get\n{GLOBAL}.22.0\nget\n{GLOBAL}.1.0\n",
    ) == (
        "PONG\n"
        f"{GLOBAL}.10.0\ngauge\n500\n"
        f"{GLOBAL}.17.0\ninteger\n1\n"  # TruthValue true(1)
        f"{GLOBAL}.20.0\ninteger\n2\n"  # TruthValue false(2), never 0
        f"{GLOBAL}.22.0\ngauge\n412\n"
        f"{GLOBAL}.1.0\ninteger\n3\n"
    )  # ciscoUnityServerState running(3)


def test_handler_has_no_instance_for_what_is_not_published(tmp_path: Path) -> None:
    source = agent(tmp_path, DOC)
    # 12: no LicVMISubscribersMax; 23: no VMI use; .10 without .0; 99: no such object.
    # Nothing serves the UM use poolsync's attachment carries: the MIB has no object.
    for oid in (f"{GLOBAL}.12.0", f"{GLOBAL}.23.0", f"{GLOBAL}.10", f"{GLOBAL}.99.0", "x.y"):
        assert talk(source, f"get\n{oid}\n") == "NONE\n", oid


def test_handler_walks_in_oid_order(tmp_path: Path) -> None:
    source = agent(tmp_path, DOC)
    oid, seen = ".1.3.6.1.4.1.9.9.385", []
    while True:
        reply = talk(source, f"getnext\n{oid}\n")
        if reply == "NONE\n":
            break
        oid = reply.splitlines()[0]
        seen.append(oid)
    # ciscoUnityTable's row (.1.1) comes before the scalars of ciscoUnityGlobalInfo (.1.2).
    assert seen == [".1.3.6.1.4.1.9.9.385.1.1.1.1.2.1", ".1.3.6.1.4.1.9.9.385.1.1.1.1.3.1"] + [
        f"{GLOBAL}.{n}.0" for n in (1, 9, 10, 11, 17, 20, 22)
    ]
    assert (
        talk(source, "getnext\n.1.3.6.1.4.1.9.9.385.1.1.1.1.2.1\n")
        == ".1.3.6.1.4.1.9.9.385.1.1.1.1.3.1\nstring\n4.0(5)\n"
    )


def test_handler_refuses_sets_and_stops_at_eof(tmp_path: Path) -> None:
    source = agent(tmp_path, DOC)
    assert (
        talk(source, f"set\n{GLOBAL}.10.0\ngauge 1\nbogus\n\nget\n{GLOBAL}.10.0\n")
        == "not-writable\nNONE\n"
    )  # the empty line ends it, as EOF does


def test_handler_reads_its_data_again_when_it_changes(tmp_path: Path) -> None:
    source = agent(tmp_path, DOC)
    assert talk(source, f"get\n{GLOBAL}.10.0\n").endswith("\n500\n")
    (tmp_path / "agent.json").write_text(
        json.dumps({**DOC, "licenses": {"LicSubscribersMax": 650}})
    )
    assert talk(source, f"get\n{GLOBAL}.10.0\n").endswith("\n650\n")
    (tmp_path / "agent.json").write_text("{broken")
    assert talk(source, f"get\n{GLOBAL}.10.0\n").endswith("\n650\n")  # the last good read


def test_handler_skips_values_a_mib_type_cannot_carry(tmp_path: Path) -> None:
    source = agent(
        tmp_path,
        {
            "licenses": {
                "LicSubscribersMax": 2**32,
                "LicVoicePortsMax": True,
                "LicUMSubscribersMax": -1,
            }
        },
    )
    for column in (10, 11, 13):
        assert talk(source, f"get\n{GLOBAL}.{column}.0\n") == "NONE\n"


def test_handler_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert pass_persist.main(["pass_persist.py"]) == 2
    assert "usage" in capsys.readouterr().err


# -- the daemons' configs and the lab config's servers section -------------------------


def lab_server(tmp_path: Path, **change: Any) -> unity.LabServer:
    return unity.LabServer(
        **{
            "name": "UNITY-A",
            "address": "127.9.9.2",
            "dir": str(tmp_path / "unity" / "unity-a"),
            **change,
        }
    )


def test_lighttpd_conf(tmp_path: Path) -> None:
    text = unity.lighttpd_conf(lab_server(tmp_path))
    root = tmp_path / "unity" / "unity-a"
    assert 'server.bind = "127.9.9.2"' in text and "server.port = 8080" in text
    assert '$SERVER["socket"] == "127.9.9.2:8443" {' in text
    assert f'ssl.pemfile = "{root}/server.pem"' in text
    assert '".asp" => "text/xml; charset=utf-8"' in text
    assert "cgi" not in text
    erring = unity.lighttpd_conf(lab_server(tmp_path, http="error"))
    assert '"mod_cgi"' in erring and 'cgi.assign = (".asp" => "/bin/sh")' in erring


def test_lighttpd_conf_quotes_paths(tmp_path: Path) -> None:
    text = unity.lighttpd_conf(lab_server(tmp_path, dir='/tmp/a"b\\c'))
    assert 'server.document-root = "/tmp/a\\"b\\\\c/docroot"' in text


def test_snmpd_conf_and_its_secrets(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    server = lab_server(tmp_path)
    text = unity.snmpd_conf(server, tmp_path)
    secrets = {
        name: (tmp_path / name).read_text()
        for name in (unity.COMMUNITY_FILE, unity.AUTH_FILE, unity.PRIV_FILE)
    }
    for name in secrets:
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
        assert len(secrets[name]) >= 20
    assert "agentAddress udp:127.9.9.2:1161" in text
    assert f"rocommunity {secrets[unity.COMMUNITY_FILE]} 127.0.0.0/8" in text
    assert (
        f'createUser poolsync SHA "{secrets[unity.AUTH_FILE]}" AES "{secrets[unity.PRIV_FILE]}"'
    ) in text
    assert "rouser poolsync priv" in text
    assert (
        f"pass_persist .1.3.6.1.4.1.9.9.385 {sys.executable} -I -S {unity.HANDLER} "
        f"{server.agent_data}"
    ) in text
    assert unity.snmpd_conf(server, tmp_path) == text  # the same secrets every time


def test_the_config_section_loads_as_the_contract_says(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_text("x")
    servers = (
        lab_server(tmp_path),
        lab_server(tmp_path, name="UNITY-B", address="127.9.9.3", http="down", snmp="error"),
    )
    doc = {
        "forest": "lab.example.com",
        "directory": {
            "dc": {"url": "ldaps://127.9.9.1"},
            "bind": {"user": "a@lab.example.com", "password": {"env": "P"}},
        },
        "servers": unity.config_section(servers),
    }
    (tmp_path / "poolsync.yaml").write_text(yaml.safe_dump(doc))
    a, b = load_config(tmp_path / "poolsync.yaml").servers
    assert a.name == "UNITY-A" and b.name == "UNITY-B"  # a down endpoint is still listed
    assert a.http == HttpEndpoint(
        url="https://127.9.9.2:8443/avxml/effectivelicense.asp",
        ca_file=tmp_path / "tls" / "ca.pem",
        validate=True,
        user=None,
        password=None,
        timeout=10.0,
    )
    assert a.snmp == SnmpEndpoint(
        host="127.9.9.2",
        port=1161,
        version="3",
        community=None,
        user="poolsync",
        auth=SnmpAuth("SHA", SecretRef("file", str(tmp_path / unity.AUTH_FILE))),
        priv=SnmpAuth("AES", SecretRef("file", str(tmp_path / unity.PRIV_FILE))),
        timeout=5.0,
    )


def test_addresses_are_consecutive_stable_and_avoid_the_dcs(tmp_path: Path) -> None:
    first = unity.choose_addresses(tmp_path, 3, avoid=set())
    assert first == unity.choose_addresses(tmp_path, 3, avoid=set())
    head = first[0].rsplit(".", 1)[0]
    assert first == [f"{head}.{int(first[0].rsplit('.', 1)[1]) + i}" for i in range(3)]
    assert all(a.startswith("127.") and not a.startswith("127.0.") for a in first)
    moved = unity.choose_addresses(tmp_path, 3, avoid={first[1]})
    assert first[1] not in moved
    assert unity.choose_addresses(tmp_path, 0, avoid=set()) == []
    with pytest.raises(LabError, match="at most 250 servers"):
        unity.choose_addresses(tmp_path, 251, avoid=set())


def test_plan_serves_every_server_with_a_license_of_its_own(tmp_path: Path) -> None:
    servers = unity.plan(load_topology(SERVERS), tmp_path, avoid=set())
    assert [(s.name, s.http, s.snmp) for s in servers] == [
        ("UNITY-OK", "up", "up"),
        ("UNITY-STALE", "up", "up"),
        ("UNITY-NEW", "up", "up"),
        ("UNITY-DOWN", "down", "down"),
    ]
    assert servers[0].dir == str(tmp_path / "unity" / "unity-ok")
    assert servers[3].daemons() == []
    assert servers[0].url == f"https://{servers[0].address}:8443/avxml/effectivelicense.asp"
    assert len({s.address for s in servers}) == 4


def test_the_page_a_server_serves_parses_as_its_live_license(tmp_path: Path) -> None:
    topology = load_topology(SERVERS)
    spec = topology.server("UNITY-STALE")
    assert parse_attachment(format_attachment(live_data(spec))) == live_data(spec)
    assert unity.ERROR_PAGE.startswith("#!/bin/sh\n")
    assert "Status: 500" in unity.ERROR_PAGE


# -- daemon records ---------------------------------------------------------------------


def sleeper(tmp_path: Path) -> process.Daemon:
    return process.Daemon("sleep", tmp_path / "sleep.pid", tmp_path / "sleep.out")


def test_a_daemon_is_started_known_again_and_stopped(tmp_path: Path) -> None:
    daemon = sleeper(tmp_path)
    pid, seconds = process.start(daemon, ["sleep", "60"], ready=lambda: True)
    assert seconds < 5 and process.running_pid(daemon) == pid
    assert process.rss_kib(pid)
    with pytest.raises(LabError, match="already running"):
        process.start(daemon, ["sleep", "60"], ready=lambda: True)
    took = process.stop(daemon)
    assert took is not None and took < 5
    assert not Path(f"/proc/{pid}").exists()  # our child: collected, not a zombie
    assert process.running_pid(daemon) is None and not daemon.pid_file.exists()
    assert process.stop(daemon) is None


def test_a_record_of_another_process_is_not_ours(tmp_path: Path) -> None:
    daemon = sleeper(tmp_path)
    daemon.pid_file.write_text(f"{os.getpid()} 1\n")  # a live PID, another start time
    assert process.running_pid(daemon) is None
    assert process.stop(daemon) is None  # and it is not signalled


def test_a_daemon_that_exits_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    daemon = process.Daemon("sh", tmp_path / "sh.pid", tmp_path / "sh.out")
    with pytest.raises(LabError, match=r"sh exited during start-up \(exit 3\).*bad config"):
        process.start(daemon, ["sh", "-c", "echo bad config; exit 3"], ready=lambda: False)
    assert not daemon.pid_file.exists()


def test_a_daemon_that_never_gets_ready_is_stopped(tmp_path: Path) -> None:
    daemon = sleeper(tmp_path)
    started = time.monotonic()
    with pytest.raises(LabError, match=r"did not become ready within 0\.2 s"):
        process.start(daemon, ["sleep", "60"], ready=lambda: False, timeout=0.2)
    assert time.monotonic() - started < 5
    assert not daemon.pid_file.exists()


# -- the suite's own guard ------------------------------------------------------------------


def test_missing_lab_tools_skip_locally_but_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.lab import LAB_TOOLS, require_tools, tools_missing_reason

    assert {"lighttpd", "snmpd"} <= set(LAB_TOOLS)
    assert tools_missing_reason({"sh": "dash"}) is None
    missing = {"no-such-daemon": "no-such-package"}
    assert tools_missing_reason(missing) == "needs no-such-daemon (apt-get install no-such-package)"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_tools(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI"):
        require_tools(missing)
