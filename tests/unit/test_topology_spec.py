"""The lab topology file: loading, defaults, MAC forms and every validation message."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from poolsync.errors import TopologyError
from poolsync.model import Seats
from topology.spec import (
    DcSpec,
    LicenseSpec,
    ServerSpec,
    Topology,
    load_topology,
    normalize_mac,
)

REPO = Path(__file__).resolve().parents[2]

EXAMPLE = """\
forest: lab.example.com
dcs:
  - {name: DC1, gc: true}
servers:
  - name: UNITY-A
    version: "4.0(5)"
    mac: "00-0B-CD-12-34-56"
    pooling: true
    licenses: {vm: 500, um: 200, inbox: 50, ports: 24, secondary: true}
    subscribers: {vm: 520, um: 150, inbox: 30}
    published: {vm: 480}
    attachment: ok
  - name: UNITY-A2
    failover_of: UNITY-A
"""


def write(tmp_path: Path, doc: object, name: str = "lab.yaml") -> Path:
    path = tmp_path / name
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def base_doc() -> dict[str, Any]:
    return {
        "forest": "lab.example.com",
        "servers": [
            {"name": "UNITY-A", "licenses": {"vm": 10}, "subscribers": {"vm": 5}},
            {"name": "UNITY-B"},
            {"name": "UNITY-C", "licenses": {"vm": 1}},
        ],
    }


def load_error(path: Path) -> str:
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    return str(info.value)


def error_for(tmp_path: Path, doc: object) -> tuple[Path, str]:
    path = write(tmp_path, doc)
    return path, load_error(path)


# -- the documented example -------------------------------------------------------------


def test_example_loads_exactly(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    topology = load_topology(path)
    assert topology == Topology(
        path=path,
        forest="lab.example.com",
        netbios="LAB",
        dcs=(DcSpec(name="DC1", gc=True),),
        servers=(
            ServerSpec(
                name="UNITY-A",
                version="4.0(5)",
                mac="000BCD123456",
                pooling=True,
                licenses=LicenseSpec(vm=500, um=200, inbox=50, ports=24, secondary=True),
                subscribers=Seats(vm=520, um=150, inbox=30),
                published=Seats(vm=480, um=150, inbox=30),
                attachment="ok",
                failover_of=None,
            ),
            ServerSpec(
                name="UNITY-A2",
                version="4.0(5)",
                mac=None,
                pooling=True,
                licenses=LicenseSpec(),
                subscribers=Seats(),
                published=None,
                attachment="ok",
                failover_of="UNITY-A",
            ),
        ),
    )
    assert topology.base_dn == "DC=lab,DC=example,DC=com"
    assert topology.total_subscribers == 520
    assert topology.servers[0].licenses.seats == Seats(500, 200, 50)
    assert topology.servers[1].is_secondary
    assert topology.server("unity-a2") is topology.servers[1]
    with pytest.raises(KeyError):
        topology.server("UNITY-Z")


def test_the_yaml_in_docs_topology_md_loads(tmp_path: Path) -> None:
    text = (REPO / "docs" / "topology.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    example = REPO / "examples" / "licenses" / "lab.yaml"
    for block in blocks:
        if "license_files" in block:
            # Its license files live next to the example: the block is that file's
            # topology, comments at the top aside, and loads from there.
            assert block in example.read_text()
            assert load_topology(example).servers
            continue
        topology = load_topology(write(tmp_path, block))
        assert topology.servers


def test_topology_doc_mentions_lab_md_and_what_servers_become() -> None:
    text = (REPO / "docs" / "topology.md").read_text()
    assert "lab.md" in text
    assert "one Location object" in text
    assert "`subscribers.vm` users homed on it" in text


def test_defaults(tmp_path: Path) -> None:
    topology = load_topology(
        write(tmp_path, {"forest": "Pool.Example.NET", "servers": [{"name": "u1"}]})
    )
    assert topology.forest == "pool.example.net"
    assert topology.netbios == "POOL"
    assert topology.dcs == (DcSpec("DC1", True),)
    (server,) = topology.servers
    assert server == ServerSpec(
        name="u1",
        version="4.0(5)",
        mac=None,
        pooling=True,
        licenses=LicenseSpec(0, 0, 0, 0, False),
        subscribers=Seats(0, 0, 0),
        published=None,
        attachment="ok",
        failover_of=None,
    )


def test_empty_server_list(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, {"forest": "a.b", "servers": []}))
    assert topology.servers == ()
    assert topology.total_subscribers == 0


def test_published_missing_classes_are_the_truth(tmp_path: Path) -> None:
    doc = base_doc()
    doc["servers"][0]["subscribers"] = {"vm": 9, "um": 4, "inbox": 2}
    doc["servers"][0]["published"] = {"um": 7}
    doc["servers"][1]["published"] = {}
    servers = load_topology(write(tmp_path, doc)).servers
    assert servers[0].published == Seats(vm=9, um=7, inbox=2)
    assert servers[1].published == Seats(0, 0, 0)
    assert servers[2].published is None


def test_failover_of_may_point_forward_and_ignores_case(tmp_path: Path) -> None:
    doc = base_doc()
    doc["servers"][1]["failover_of"] = "unity-c"
    servers = load_topology(write(tmp_path, doc)).servers
    assert servers[1].failover_of == "UNITY-C"  # the primary's name as written


def test_attachment_values(tmp_path: Path) -> None:
    doc = base_doc()
    for server, value in zip(doc["servers"], ["ok", "missing", "corrupt"], strict=True):
        server["attachment"] = value
    servers = load_topology(write(tmp_path, doc)).servers
    assert [s.attachment for s in servers] == ["ok", "missing", "corrupt"]


def test_total_subscribers_counts_vm(tmp_path: Path) -> None:
    doc = base_doc()
    doc["servers"][1]["subscribers"] = {"vm": 7, "um": 7, "inbox": 7}
    assert load_topology(write(tmp_path, doc)).total_subscribers == 12


def test_the_shared_integration_topologies_load() -> None:
    for path in sorted((REPO / "tests" / "topologies").glob("*.yaml")):
        assert load_topology(path).forest, path


# -- MAC addresses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "00-0B-CD-12-34-56",
        "00:0b:cd:12:34:56",
        "000B.CD12.3456",
        "000bcd123456",
        "00-0b-cd-12-34-56",
        "00:0B:CD:12:34:56",
        "000b.cd12.3456",
        "000BCD123456",
        "  00-0B-CD-12-34-56 ",
    ],
)
def test_mac_forms(text: str) -> None:
    assert normalize_mac(text) == "000BCD123456"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("00-0B-CD-12-34-5", "'00-0B-CD-12-34-5' has 11 hex digits, expected 12"),
        ("00-0B-CD-12-34-567", "'00-0B-CD-12-34-567' has 13 hex digits, expected 12"),
        ("000bcd12345", "'000bcd12345' has 11 hex digits, expected 12"),
        (
            "00-0B-CD-12-34-GG",
            "'00-0B-CD-12-34-GG' contains 'G', which is neither a hex digit nor a separator "
            "(- : .)",
        ),
        (
            "00 0B CD 12 34 56",
            "'00 0B CD 12 34 56' contains ' ', which is neither a hex digit nor a separator "
            "(- : .)",
        ),
        (
            "00-0B:CD-12-34-56",
            "'00-0B:CD-12-34-56' is not written in an accepted form (00-0B-CD-12-34-56, "
            "00:0b:cd:12:34:56, 000B.CD12.3456 or 000bcd123456)",
        ),
        (
            "0-00B-CD-12-34-56",
            "'0-00B-CD-12-34-56' is not written in an accepted form (00-0B-CD-12-34-56, "
            "00:0b:cd:12:34:56, 000B.CD12.3456 or 000bcd123456)",
        ),
        (
            "000B.CD12.3456.",
            "'000B.CD12.3456.' is not written in an accepted form "
            "(00-0B-CD-12-34-56, 00:0b:cd:12:34:56, 000B.CD12.3456 or 000bcd123456)",
        ),
        ("", "a MAC address cannot be empty"),
    ],
)
def test_mac_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_mac(text)
    assert str(info.value) == message


@given(digits=st.text(alphabet="0123456789abcdefABCDEF", min_size=12, max_size=12))
def test_every_accepted_form_normalizes_to_the_same_digits(digits: str) -> None:
    pairs = [digits[i : i + 2] for i in range(0, 12, 2)]
    quads = [digits[i : i + 4] for i in range(0, 12, 4)]
    for form in ("-".join(pairs), ":".join(pairs), ".".join(quads), digits):
        assert normalize_mac(form) == digits.upper()


@given(text=st.text(max_size=24))
def test_normalize_mac_returns_12_hex_digits_or_raises_value_error(text: str) -> None:
    try:
        result = normalize_mac(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert re.fullmatch(r"[0-9A-F]{12}", result)


def test_mac_error_in_topology_names_the_key(tmp_path: Path) -> None:
    doc = base_doc()
    doc["servers"][2]["mac"] = "00-0B-CD-12-34-5"
    path, message = error_for(tmp_path, doc)
    assert message == f"{path}: servers[2].mac: '00-0B-CD-12-34-5' has 11 hex digits, expected 12"


def test_unquoted_numeric_mac_asks_for_quotes(tmp_path: Path) -> None:
    text = "forest: a.b\nservers:\n  - name: U\n    mac: 001122334455\n"
    path, message = error_for(tmp_path, text)
    # YAML 1.1 reads 001122334455 as the octal integer 0o1122334455.
    assert message == (
        f"{path}: servers[0].mac: expected a non-empty string (quote it), got 155826477"
    )


# -- validation messages ----------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    assert load_error(path) == f"{path}: cannot read: No such file or directory"


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "forest: a.b\nservers:\n  - name: U\n   bad: indent\n")
    assert load_error(path).startswith(f"{path}: line 4, column 4: not valid YAML: ")


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, "- a\n")
    assert message == f"{path}: expected a mapping at the top level, got a list"


def set_path(doc: dict[str, Any], keypath: str, value: object) -> dict[str, Any]:
    """A copy of ``doc`` with one key set; ``servers[1].licenses.vm`` style paths."""
    doc = copy.deepcopy(doc)
    node: Any = doc
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", keypath)
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    last = parts[-1]
    node[int(last[1:-1]) if last.startswith("[") else last] = value
    return doc


def with_dc() -> dict[str, Any]:
    doc = base_doc()
    doc["dcs"] = [{"name": "DC1"}]
    return doc


BAD_VALUES: list[tuple[str, object, str]] = [
    (
        "forest",
        "lab",
        "expected a DNS name with at least two labels, such as lab.example.com, got 'lab'",
    ),
    (
        "forest",
        "lab_1.example.com",
        "expected a DNS name with at least two labels, such as "
        "lab.example.com, got 'lab_1.example.com'",
    ),
    (
        "forest",
        "averyveryverylongname.example.com",
        "the first label 'averyveryverylongname' is 21 characters, but it becomes the NetBIOS "
        "domain name, which has at most 15",
    ),
    ("forest", 3, "expected a non-empty string (quote it), got 3"),
    ("servers", {"name": "U"}, "expected a list of mappings, got a mapping"),
    ("servers", None, "expected a list of mappings, got null"),
    ("servers[1]", "UNITY-B", "expected a mapping, got 'UNITY-B'"),
    (
        "servers[1].name",
        "UNITY B",
        "expected a server name of 1 to 64 letters, digits, '-' and '_', got 'UNITY B'",
    ),
    (
        "servers[1].name",
        "x" * 65,
        "expected a server name of 1 to 64 letters, digits, '-' and '_', got '" + "x" * 57 + "...'",
    ),
    ("servers[1].name", "", "expected a non-empty string, got an empty string"),
    ("servers[1].version", 4.0, "expected a non-empty string (quote it), got 4.0"),
    ("servers[1].pooling", "no", "expected true or false, got 'no'"),
    ("servers[1].attachment", "broken", "expected one of ok, missing, corrupt, got 'broken'"),
    ("servers[2].licenses", [1], "expected a mapping, got a list"),
    ("servers[2].licenses.vm", -1, "expected an integer >= 0, got -1"),
    ("servers[2].licenses.vm", True, "expected an integer >= 0, got true"),
    ("servers[2].licenses.um", "200", "expected an integer >= 0, got '200'"),
    ("servers[2].licenses.ports", 2.5, "expected an integer >= 0, got 2.5"),
    ("servers[2].licenses.secondary", 1, "expected true or false, got 1"),
    ("servers[0].subscribers.vm", -5, "expected an integer >= 0, got -5"),
    ("servers[0].subscribers.um", 6, "expected an integer <= vm (5), got 6"),
    ("servers[0].subscribers.inbox", 6, "expected an integer <= vm (5), got 6"),
    ("servers[0].published.vm", -1, "expected an integer >= 0, got -1"),
    ("servers[0].published", 480, "expected a mapping, got 480"),
    ("servers[1].failover_of", 7, "expected a non-empty string (quote it), got 7"),
    ("dcs", [], "expected a list of at least 1 item, got 0"),
    ("dcs[0]", "DC1", "expected a mapping, got 'DC1'"),
    (
        "dcs[0].name",
        "DOMAIN-CONTROLLER-1",
        "expected a computer name of 1 to 15 letters, "
        "digits and inner '-', got 'DOMAIN-CONTROLLER-1'",
    ),
    ("dcs[0].gc", "yes", "expected true or false, got 'yes'"),
]


@pytest.mark.parametrize(("keypath", "value", "expected"), BAD_VALUES)
def test_bad_value_message(tmp_path: Path, keypath: str, value: object, expected: str) -> None:
    path, message = error_for(tmp_path, set_path(with_dc(), keypath, value))
    assert message == f"{path}: {keypath}: {expected}"


@pytest.mark.parametrize(
    ("keypath", "missing"),
    [("", "forest"), ("", "servers"), ("servers[1]", "name"), ("dcs[0]", "name")],
)
def test_required_key_missing(tmp_path: Path, keypath: str, missing: str) -> None:
    doc = with_dc()
    target: Any = doc
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", keypath):
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    del target[missing]
    path, message = error_for(tmp_path, doc)
    full = f"{keypath}.{missing}" if keypath else missing
    assert message == f"{path}: {full}: required key is missing"


@pytest.mark.parametrize(
    ("keypath", "extra", "allowed"),
    [
        (
            "",
            "server",
            "attachment_encoding, dcs, faults, forest, lab_date, license_classes, "
            "replication, servers",
        ),
        ("servers[2].licenses", "vn", "inbox, ports, secondary, um, vm"),
        ("servers[0].subscribers", "voicemail", "inbox, um, vm"),
        ("servers[0].published", "ports", "inbox, um, vm"),
        (
            "servers[1]",
            "licences",
            "attachment, dc, endpoints, failover_of, gc, license_files, "
            "licenses, live, mac, name, pooling, published, subscriber_homes, subscribers, "
            "version",
        ),
        ("dcs[0]", "sites", "gc, name, site"),
    ],
)
def test_unknown_keys(tmp_path: Path, keypath: str, extra: str, allowed: str) -> None:
    doc = with_dc()
    doc["servers"][0]["published"] = {}
    target: Any = doc
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", keypath):
        target = target[int(part[1:-1])] if part.startswith("[") else target.setdefault(part, {})
    target[extra] = 1
    path, message = error_for(tmp_path, doc)
    where = f"{keypath}: " if keypath else ""
    assert message == f"{path}: {where}unknown key '{extra}' (allowed: {allowed})"


def test_duplicate_server_names_case_insensitive(tmp_path: Path) -> None:
    doc = set_path(base_doc(), "servers[2].name", "unity-a")
    path, message = error_for(tmp_path, doc)
    assert message == (
        f"{path}: servers[2].name: duplicate server name 'unity-a' (also servers[0]; "
        "names are compared case-insensitively)"
    )


def test_too_many_dcs(tmp_path: Path) -> None:
    doc = base_doc()
    doc["dcs"] = [{"name": f"DC{i}"} for i in range(1, 10)]
    path, message = error_for(tmp_path, doc)
    assert message == f"{path}: dcs: the lab runs at most 8 DCs (got 9)"


def test_several_dcs_sites_monitors_and_faults(tmp_path: Path) -> None:
    doc = base_doc()
    doc["dcs"] = [{"name": "DC1", "site": "HQ"}, {"name": "DC2", "site": "BRANCH"}]
    doc["replication"] = "auto"
    doc["servers"][0].update({"dc": "dc2", "gc": "DC2"})
    doc["faults"] = [
        {"type": "inbound-replication-disabled", "dc": "DC2"},
        {"type": "connection-disabled", "from": "DC1", "to": "DC2"},
    ]
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(doc))
    topo = load_topology(path)
    assert [(d.name, d.site) for d in topo.dcs] == [("DC1", "HQ"), ("DC2", "BRANCH")]
    assert topo.replication == "auto"
    assert (topo.servers[0].dc, topo.servers[0].gc) == ("DC2", "DC2")
    assert (topo.servers[1].dc, topo.servers[1].gc) == ("DC1", "DC1")
    assert [(f.type, f.dc, f.source, f.target) for f in topo.faults] == [
        ("inbound-replication-disabled", "DC2", None, None),
        ("connection-disabled", None, "DC1", "DC2"),
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"replication": "sometimes"},
            "replication: expected one of manual, auto, got 'sometimes'",
        ),
        (
            {"faults": [{"type": "dc-on-fire", "dc": "DC1"}]},
            "faults[0].type: expected one of inbound-replication-disabled, "
            "outbound-replication-disabled, connection-disabled, connection-missing, "
            "got 'dc-on-fire'",
        ),
        (
            {"faults": [{"type": "connection-missing", "from": "DC1", "to": "DC9"}]},
            "faults[0].to: names no DC of this topology: 'DC9' (dcs: DC1, DC2)",
        ),
        (
            {"faults": [{"type": "connection-missing", "from": "DC1", "to": "DC1"}]},
            "faults[0].to: a connection joins two different DCs",
        ),
        (
            {"faults": [{"type": "inbound-replication-disabled", "from": "DC1"}]},
            "faults[0]: unknown key 'from' (allowed: dc, type)",
        ),
    ],
)
def test_bad_replication_and_faults(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    doc = base_doc()
    doc["dcs"] = [{"name": "DC1"}, {"name": "DC2"}]
    doc.update(change)
    path, message = error_for(tmp_path, doc)
    assert message == f"{path}: {expected}"


def test_faults_need_two_dcs(tmp_path: Path) -> None:
    doc = base_doc()
    doc["faults"] = [{"type": "inbound-replication-disabled", "dc": "DC1"}]
    path, message = error_for(tmp_path, doc)
    assert message == (
        f"{path}: faults: faults break replication between DCs; a lab with one DC has none to break"
    )


def test_server_monitor_names_a_known_dc(tmp_path: Path) -> None:
    doc = base_doc()
    doc["servers"][0]["gc"] = "DC7"
    path, message = error_for(tmp_path, doc)
    assert message == f"{path}: servers[0].gc: names no DC of this topology: 'DC7' (dcs: DC1)"


def test_duplicate_dc_names(tmp_path: Path) -> None:
    doc = base_doc()
    doc["dcs"] = [{"name": "DC1"}, {"name": "dc1"}]
    path, message = error_for(tmp_path, doc)
    assert message == f"{path}: dcs[1].name: duplicate DC name 'dc1' (also dcs[0])"


def test_failover_of_unknown_server(tmp_path: Path) -> None:
    doc = set_path(base_doc(), "servers[1].failover_of", "UNITY-Z")
    path, message = error_for(tmp_path, doc)
    assert message == (
        f"{path}: servers[1].failover_of: names no server in this topology: 'UNITY-Z' "
        "(servers: unity-a, unity-b, unity-c)"
    )


def test_failover_of_itself(tmp_path: Path) -> None:
    doc = set_path(base_doc(), "servers[1].failover_of", "UNITY-B")
    path, message = error_for(tmp_path, doc)
    assert message == (
        f"{path}: servers[1].failover_of: a server cannot be its own failover secondary"
    )


def test_failover_of_a_secondary(tmp_path: Path) -> None:
    doc = base_doc()
    doc["servers"][1]["failover_of"] = "UNITY-A"
    doc["servers"].append({"name": "UNITY-D", "failover_of": "UNITY-B"})
    path, message = error_for(tmp_path, doc)
    assert message == (
        f"{path}: servers[3].failover_of: UNITY-B is itself a failover secondary (of UNITY-A); "
        "point failover_of at a primary"
    )


def test_failover_cycle_is_refused(tmp_path: Path) -> None:
    doc = {
        "forest": "a.b",
        "servers": [{"name": "X", "failover_of": "Y"}, {"name": "Y", "failover_of": "X"}],
    }
    path, message = error_for(tmp_path, doc)
    assert message == (
        f"{path}: servers[0].failover_of: Y is itself a failover secondary (of X); "
        "point failover_of at a primary"
    )


def test_two_secondaries_for_one_primary(tmp_path: Path) -> None:
    doc = base_doc()
    doc["servers"][1]["failover_of"] = "UNITY-A"
    doc["servers"].append({"name": "UNITY-D", "failover_of": "UNITY-A"})
    path, message = error_for(tmp_path, doc)
    assert message == (
        f"{path}: servers[3].failover_of: UNITY-A already has a failover secondary "
        "(UNITY-B); a failover pair has one secondary"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("licenses", {"vm": 0}), ("subscribers", {"vm": 3}), ("published", {}), ("licenses", {})],
)
def test_secondary_has_no_data_of_its_own(tmp_path: Path, key: str, value: object) -> None:
    doc = base_doc()
    doc["servers"][1]["failover_of"] = "UNITY-A"
    doc["servers"][1][key] = value
    path, message = error_for(tmp_path, doc)
    assert message == (
        f"{path}: servers[1].{key}: a failover secondary (failover_of: UNITY-A) has no {key} "
        "of its own; remove it"
    )


# -- property: arbitrary input raises TopologyError or nothing --------------------------

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=10**6)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["UNITY-A", "unity-b", "ok", "corrupt", "00-0B-CD-12-34-56", "a.b"])
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "vm", "um", "inbox", "failover_of", "licenses"]) | st.text(),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)
TOPOLOGY_PATHS = [
    "forest",
    "dcs",
    "servers",
    "servers[0]",
    "servers[1]",
    "servers[0].name",
    "servers[1].failover_of",
    "servers[2].failover_of",
    "servers[0].licenses",
    "servers[0].licenses.vm",
    "servers[0].subscribers",
    "servers[0].subscribers.um",
    "servers[0].published",
    "servers[0].published.vm",
    "servers[1].published",
    "servers[0].mac",
    "servers[2].attachment",
    "servers[2].version",
    "servers[1].pooling",
]


def _check_only_topology_errors(path: Path) -> None:
    try:
        topology = load_topology(path)
    except TopologyError as exc:
        assert str(exc).startswith(str(path)), str(exc)
    else:
        for server in topology.servers:
            assert server.subscribers.um <= server.subscribers.vm
            assert server.subscribers.inbox <= server.subscribers.vm


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8")))
def test_arbitrary_text_raises_only_topology_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    _check_only_topology_errors(path)


@settings(max_examples=300, deadline=None)
@given(mutations=st.lists(st.tuples(st.sampled_from(TOPOLOGY_PATHS), values), max_size=3))
def test_mutated_topology_raises_only_topology_error(
    tmp_path_factory: pytest.TempPathFactory, mutations: list[tuple[str, object]]
) -> None:
    doc = base_doc()
    for keypath, value in mutations:
        try:
            doc = set_path(doc, keypath, value)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # the path no longer exists after an earlier mutation
    path = tmp_path_factory.mktemp("fuzz") / "lab.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    _check_only_topology_errors(path)


@given(
    servers=st.lists(
        st.tuples(
            st.integers(0, 50),
            st.integers(0, 50),
            st.integers(0, 50),
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "vm": st.integers(0, 99),
                        "um": st.integers(0, 99),
                        "inbox": st.integers(0, 99),
                    },
                ),
            ),
        ),
        max_size=6,
    )
)
@settings(deadline=None)
def test_valid_topologies_keep_their_numbers(
    tmp_path_factory: pytest.TempPathFactory,
    servers: list[tuple[int, int, int, dict[str, int] | None]],
) -> None:
    entries = []
    for index, (vm, um, inbox, published) in enumerate(servers):
        entry: dict[str, Any] = {
            "name": f"U{index}",
            "subscribers": {"vm": vm, "um": min(um, vm), "inbox": min(inbox, vm)},
        }
        if published is not None:
            entry["published"] = published
        entries.append(entry)
    path = tmp_path_factory.mktemp("prop") / "lab.yaml"
    path.write_text(yaml.safe_dump({"forest": "a.b", "servers": entries}))
    topology = load_topology(path)
    assert topology.total_subscribers == sum(vm for vm, *_ in servers)
    for entry, server in zip(entries, topology.servers, strict=True):
        truth = Seats(**entry["subscribers"])
        assert server.subscribers == truth
        if "published" not in entry:
            assert server.published is None
        else:
            merged = {**truth.as_dict(), **entry["published"]}
            assert server.published == Seats(**merged)


def test_first_dc_must_be_a_gc(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("forest: lab.example.com\ndcs: [{name: DC1, gc: false}]\nservers: []\n")
    with pytest.raises(TopologyError, match=r"dcs\[0\]\.gc: the forest's first DC"):
        load_topology(path)


@pytest.mark.parametrize(
    "path",
    sorted(
        [
            *(REPO / "examples" / "topologies").glob("*.yaml"),
            *(REPO / "topology").glob("*.yaml"),
            *(REPO / "tests" / "topologies").glob("*.yaml"),
        ]
    ),
    ids=lambda p: p.name,
)
def test_shipped_topologies_load(path: Path) -> None:
    topology = load_topology(path)
    assert topology.servers or topology.dcs
    names = {dc.name for dc in topology.dcs}
    assert all(s.dc in names and s.gc in names for s in topology.servers)


def test_site_names_are_case_insensitive(tmp_path: Path) -> None:
    doc = base_doc()
    doc["dcs"] = [{"name": "DC1", "site": "HQ"}, {"name": "DC2", "site": "hq"}]
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert [dc.site for dc in load_topology(path).dcs] == ["HQ", "HQ"]
