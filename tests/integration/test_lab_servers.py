"""The lab's Unity servers answering for themselves, checked with the system's own
tools: each license page with ``curl --cacert`` (and poolsync's parser), each SNMP
agent with ``snmpget`` (v2c and v3 authPriv), the unreachable server unreachable, the
error modes, and ``lab down`` leaving nothing running.

One lab for the module (tests/topologies/servers.yaml); the last test takes it down.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poolsync.attachment import LicenseData, parse_attachment
from poolsync.config import load_config
from poolsync.lab import build, process, unity
from poolsync.lab.ldif import attachment_text, directory_data, live_data
from poolsync.lab.pass_persist import LICENSE_OBJECTS
from poolsync.profile import load_profile
from poolsync.servers.config import ServerEndpoints
from tests.support.helpers import run, run_json
from tests.support.lab import TOPOLOGIES, require_samba, require_tools
from topology.spec import Topology, load_topology

pytestmark = pytest.mark.integration

TOPOLOGY = TOPOLOGIES / "servers.yaml"
MIB = ".1.3.6.1.4.1.9.9.385"
SYS_NAME = ".1.3.6.1.2.1.1.5.0"
#: Every license scalar (ciscoUnityGlobalInfo.8.0 to .23.0), one GET.
LICENSE_OIDS = [f"{MIB}.1.2.{column}.0" for column in LICENSE_OBJECTS]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_samba()
    require_tools({"curl": "curl", "snmpget": "snmp"})
    lab_dir = tmp_path_factory.mktemp("labs") / "servers"
    build.up(
        load_topology(TOPOLOGY),
        load_profile("cisco-unity"),
        lab_dir,
        step=lambda _msg: None,
        progress=lambda _done, _total: None,
    )
    try:
        yield lab_dir
    finally:
        if (lab_dir / build.STATE_FILE).exists():  # the last test takes it down itself
            build.down(lab_dir)


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(TOPOLOGY)


@pytest.fixture(scope="module")
def status(lab: Path) -> dict[str, Any]:
    return run_json("lab", "status", "--dir", lab, "--format", "json")


@pytest.fixture(scope="module")
def endpoints(lab: Path) -> dict[str, ServerEndpoints]:
    return {s.name: s for s in load_config(lab / build.CONFIG_FILE).servers}


def curl(lab: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "5", "--cacert", str(lab / "tls" / "ca.pem"), *extra, url],
        capture_output=True,
        text=True,
        check=False,
    )


def snmpget(
    tmp_path: Path, host: str, port: int, *args: str, oids: list[str]
) -> subprocess.CompletedProcess[str]:
    """snmpget with numeric output, no MIB files and no user config or state of the
    machine's (its v3 engine cache goes to ``tmp_path``)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "MIBS": "",
        "SNMPCONFPATH": str(tmp_path),
        "SNMP_PERSISTENT_DIR": str(tmp_path),
    }
    return subprocess.run(
        ["snmpget", "-On", *args, f"{host}:{port}", *oids],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def v3_args(endpoint: ServerEndpoints) -> list[str]:
    snmp = endpoint.snmp
    assert snmp is not None and snmp.auth is not None and snmp.priv is not None
    assert snmp.user is not None
    return [
        "-v3",
        "-l",
        "authPriv",
        "-u",
        snmp.user,
        "-a",
        snmp.auth.protocol,
        "-A",
        snmp.auth.password.resolve(),
        "-x",
        snmp.priv.protocol,
        "-X",
        snmp.priv.password.resolve(),
    ]


def expected_values(data: LicenseData) -> dict[str, str]:
    """What snmpget must print for each license scalar, from the server's live data."""
    expected = {}
    for column, (section, name, syntax) in LICENSE_OBJECTS.items():
        value = getattr(data, section).get(name)
        oid = f"{MIB}.1.2.{column}.0"
        if value is None:
            expected[oid] = "No Such Instance currently exists at this OID"
        elif syntax == "truth":
            expected[oid] = f"INTEGER: {1 if value else 2}"
        else:
            expected[oid] = f"Gauge32: {value}"
    return expected


def parsed(output: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in output.strip().splitlines())


# -- what runs, and where the config points ----------------------------------------------


def test_status_lists_each_servers_endpoints(status: dict[str, Any], lab: Path) -> None:
    servers = {s["name"]: s for s in status["servers"]}
    # A failover secondary (UNITY-OK2) has no license of its own to serve.
    assert list(servers) == ["UNITY-OK", "UNITY-STALE", "UNITY-NEW", "UNITY-DOWN"]
    assert status["running"]
    addresses = {s["address"] for s in servers.values()}
    assert len(addresses) == 4 and status["dcs"][0]["address"] not in addresses
    for name in ("UNITY-OK", "UNITY-STALE", "UNITY-NEW"):
        server = servers[name]
        assert (server["http"], server["snmp"], server["running"]) == ("up", "up", True)
        assert server["url"] == f"https://{server['address']}:8443/avxml/effectivelicense.asp"
        assert server["plain_url"] == f"http://{server['address']}:8080/avxml/effectivelicense.asp"
        assert server["snmp_port"] == 1161
        for kind, comm in (("http", "lighttpd"), ("snmp", "snmpd")):
            assert Path(f"/proc/{server[f'{kind}_pid']}/comm").read_text().strip() == comm
    down = servers["UNITY-DOWN"]
    assert (down["http"], down["snmp"], down["http_pid"], down["snmp_pid"], down["running"]) == (
        "down",
        "down",
        None,
        None,
        True,
    )
    table = run("lab", "status", "--dir", lab)
    assert table.exit_code == 0 and "UNITY-STALE" in table.stdout
    assert "try: curl --cacert" in table.stdout and "try: snmpget -v2c" in table.stdout


def test_the_config_points_at_each_endpoint(
    endpoints: dict[str, ServerEndpoints], status: dict[str, Any], lab: Path
) -> None:
    assert list(endpoints) == ["UNITY-OK", "UNITY-STALE", "UNITY-NEW", "UNITY-DOWN"]
    for server in status["servers"]:
        endpoint = endpoints[server["name"]]
        assert endpoint.http is not None and endpoint.snmp is not None
        assert endpoint.http.url == server["url"]
        assert endpoint.http.ca_file == lab / "tls" / "ca.pem" and endpoint.http.validate
        assert (endpoint.snmp.host, endpoint.snmp.port, endpoint.snmp.version) == (
            server["address"],
            1161,
            "3",
        )
    # The secrets are files in the lab, readable by their owner only.
    snmp = endpoints["UNITY-OK"].snmp
    assert snmp is not None and snmp.auth is not None and snmp.priv is not None
    for ref in (snmp.auth.password, snmp.priv.password):
        assert Path(ref.value).parent == lab / "secrets"
        assert Path(ref.value).stat().st_mode & 0o777 == 0o600
    assert (lab / unity.COMMUNITY_FILE).stat().st_mode & 0o777 == 0o600


# -- the pages ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["UNITY-OK", "UNITY-STALE", "UNITY-NEW"])
def test_each_page_serves_exactly_its_live_license(
    lab: Path, status: dict[str, Any], topology: Topology, tmp_path: Path, name: str
) -> None:
    server = next(s for s in status["servers"] if s["name"] == name)
    spec = topology.server(name)
    page = tmp_path / "page.xml"
    got = curl(lab, server["url"], "-o", str(page), "-w", "%{http_code} %{content_type}")
    assert got.returncode == 0, got.stderr
    assert got.stdout == "200 text/xml; charset=utf-8"
    body = page.read_text()
    assert parse_attachment(body) == live_data(spec)
    plain = curl(lab, server["plain_url"], "--fail")
    assert plain.returncode == 0 and plain.stdout == body


def test_pages_and_directory_copies_differ_exactly_where_the_topology_says(
    lab: Path, status: dict[str, Any], topology: Topology
) -> None:
    pages = {s["name"]: curl(lab, s["url"], "--fail").stdout for s in status["servers"][:3]}
    # In sync: the page is the Location's attachment, byte for byte.
    assert pages["UNITY-OK"] == attachment_text(topology.server("UNITY-OK"))
    # Stale: the server says more seats and more use than its directory copy.
    stale = parse_attachment(pages["UNITY-STALE"])
    copy = directory_data(topology.server("UNITY-STALE"))
    assert (stale.licensed.vm, copy.licensed.vm) == (60, 40)
    assert stale.published_used is not None and copy.published_used is not None
    assert (stale.published_used.vm, copy.published_used.vm) == (4, 3)
    # Never published: no attachment in the directory, pooling enabled on the server.
    assert attachment_text(topology.server("UNITY-NEW")) is None
    assert parse_attachment(pages["UNITY-NEW"]).pooling_enabled


# -- the SNMP agents ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["UNITY-OK", "UNITY-STALE", "UNITY-NEW"])
def test_each_agent_serves_exactly_its_live_license(
    lab: Path,
    status: dict[str, Any],
    topology: Topology,
    endpoints: dict[str, ServerEndpoints],
    tmp_path: Path,
    name: str,
) -> None:
    server = next(s for s in status["servers"] if s["name"] == name)
    expected = expected_values(live_data(topology.server(name)))
    community = (lab / unity.COMMUNITY_FILE).read_text()
    for args in (["-v2c", "-c", community], v3_args(endpoints[name])):
        got = snmpget(
            tmp_path,
            server["snmp_host"],
            server["snmp_port"],
            *args,
            oids=[*LICENSE_OIDS, SYS_NAME],
        )
        assert got.returncode == 0, got.stderr
        values = parsed(got.stdout)
        assert values.pop(SYS_NAME) == f'STRING: "{name}"'
        assert values == expected, args[0]


def test_v3_refuses_a_wrong_passphrase_and_no_privacy(
    lab: Path, status: dict[str, Any], endpoints: dict[str, ServerEndpoints], tmp_path: Path
) -> None:
    server = status["servers"][0]
    args = v3_args(endpoints[server["name"]])
    wrong = [a if a != args[args.index("-A") + 1] else "not-the-passphrase" for a in args]
    got = snmpget(
        tmp_path, server["snmp_host"], server["snmp_port"], *wrong, oids=[LICENSE_OIDS[2]]
    )
    assert got.returncode != 0 and "Authentication failure" in got.stderr
    no_priv = args[: args.index("-x")]  # authNoPriv, for a user that needs privacy
    no_priv[no_priv.index("authPriv")] = "authNoPriv"
    got = snmpget(
        tmp_path, server["snmp_host"], server["snmp_port"], *no_priv, oids=[LICENSE_OIDS[2]]
    )
    assert "authorizationError" in got.stdout + got.stderr


# -- unreachable and erring servers --------------------------------------------------------


def test_the_unreachable_server_is_unreachable(
    lab: Path, status: dict[str, Any], tmp_path: Path
) -> None:
    down = next(s for s in status["servers"] if s["name"] == "UNITY-DOWN")
    for url in (down["url"], down["plain_url"]):
        got = curl(lab, url)
        assert got.returncode == 7, got.stderr  # CURLE_COULDNT_CONNECT: refused
    community = (lab / unity.COMMUNITY_FILE).read_text()
    got = snmpget(
        tmp_path,
        down["snmp_host"],
        down["snmp_port"],
        "-v2c",
        "-c",
        community,
        "-t",
        "0.3",
        "-r",
        "0",
        oids=[LICENSE_OIDS[2]],
    )
    assert got.returncode != 0 and "Timeout" in got.stderr


def test_endpoints_that_answer_with_errors(lab: Path, topology: Topology, tmp_path: Path) -> None:
    """``endpoints: {http: error, snmp: error}``, served beside the lab (no second Samba
    needed): the page answers 500, the agent answers without any license object."""
    where = tmp_path / "erring"
    (where / "secrets").mkdir(parents=True, mode=0o700)
    (where / "tls").mkdir(mode=0o700)
    for name in ("ca.pem", "ca.key"):
        shutil.copy(lab / "tls" / name, where / "tls" / name)
    [address] = unity.choose_addresses(where, 1, avoid=set())
    server = unity.LabServer(
        name="UNITY-OK",
        address=address,
        dir=str(where / "unity" / "ok"),
        http="error",
        snmp="error",
    )
    unity.prepare(where, topology, (server,), step=lambda _msg: None)
    try:
        assert len(unity.start(where, (server,), step=lambda _msg: None)) == 2
        got = curl(where, server.url, "-o", "/dev/null", "-w", "%{http_code}")
        assert got.stdout == "500", got.stderr
        community = (where / unity.COMMUNITY_FILE).read_text()
        got = snmpget(
            tmp_path,
            address,
            server.snmp_port,
            "-v2c",
            "-c",
            community,
            oids=[*LICENSE_OIDS, SYS_NAME],
        )
        assert got.returncode == 0, got.stderr
        values = parsed(got.stdout)
        assert values.pop(SYS_NAME) == 'STRING: "UNITY-OK"'  # it answers
        assert set(values.values()) == {"No Such Instance currently exists at this OID"}
    finally:
        assert unity.stop_all(where) == ["UNITY-OK (web server, SNMP agent)"]
    assert process.running_pid(server.lighttpd) is None
    assert process.running_pid(server.snmpd) is None


# -- down ----------------------------------------------------------------------------------


def lab_processes(lab: Path) -> list[str]:
    """Processes still running (not zombies) whose command line names the lab."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(lab) in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_lab_down_leaves_nothing_running(lab: Path, status: dict[str, Any], tmp_path: Path) -> None:
    """Last in the module: it takes the lab down."""
    # Every agent has started its handler by now (the tests above asked each one).
    assert any("pass_persist.py" in p for p in lab_processes(lab))
    pids = [
        s[f"{kind}_pid"]
        for s in status["servers"]
        for kind in ("http", "snmp")
        if s[f"{kind}_pid"] is not None
    ]
    assert len(pids) == 6
    down = run("lab", "down", "--dir", lab)
    assert down.exit_code == 0, down.stderr
    assert down.stdout.rstrip().endswith(
        "; stopped DC1, UNITY-OK (web server, SNMP agent), UNITY-STALE (web server, SNMP "
        "agent), UNITY-NEW (web server, SNMP agent)"
    )
    assert not lab.exists()
    assert lab_processes(lab) == []
    for pid in pids:  # gone, or an exited zombie whose parent has not collected it yet
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
