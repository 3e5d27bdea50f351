"""An export of the Samba lab, taken with ldapsearch exactly as docs/offline.md tells a
customer, gives exactly the pool the live lab gives; so does the same export rewritten
as ``ldifde -u`` writes (UTF-16LE, CRLF, folded, ``changetype: add``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helpers import lab_config_copy, run
from tests.support.lab import require_tools
from tests.support.ldifexport import from_ldapsearch

pytestmark = pytest.mark.integration

#: The docs' searches (docs/offline.md), as (file, base, scope, filter, attributes).
SCHEMA_ATTRIBUTES = [
    "objectClass",
    "objectGUID",
    "lDAPDisplayName",
    "attributeSyntax",
    "isSingleValued",
    "isMemberOfPartialAttributeSet",
    "searchFlags",
    "objectClassCategory",
    "mayContain",
    "systemMayContain",
    "auxiliaryClass",
    "systemAuxiliaryClass",
]
SITES_ATTRIBUTES = [
    "objectClass",
    "objectGUID",
    "name",
    "cn",
    "dNSHostName",
    "options",
    "invocationId",
    "fromServer",
    "enabledConnection",
    "siteList",
    "whenChanged",
]


def searches(forest_dn: str) -> list[tuple[str, str, str, str, list[str]]]:
    config_nc = f"CN=Configuration,{forest_dn}"
    return [
        (
            "rootdse.ldif",
            "",
            "base",
            "(objectClass=*)",
            [
                "dnsHostName",
                "dsServiceName",
                "highestCommittedUSN",
                "currentTime",
                "defaultNamingContext",
                "rootDomainNamingContext",
                "configurationNamingContext",
                "schemaNamingContext",
                "namingContexts",
            ],
        ),
        (
            "locations.ldif",
            "",
            "sub",
            "(objectClass=ciscoEcsbuUMLocation)",
            ["*", "replPropertyMetaData"],
        ),
        (
            "subscribers.ldif",
            "",
            "sub",
            "(&(objectClass=user)(ciscoEcsbuObjectType=*))",
            [
                "objectClass",
                "objectGUID",
                "uSNChanged",
                "name",
                "ciscoEcsbuObjectType",
                "ciscoEcsbuUMLocationObjectId",
                "ciscoEcsbuDtmfId",
                "ciscoEcsbuTransferId",
            ],
        ),
        (
            "schema.ldif",
            f"CN=Schema,{config_nc}",
            "sub",
            "(|(objectClass=attributeSchema)(objectClass=classSchema))",
            SCHEMA_ATTRIBUTES,
        ),
        (
            "sites.ldif",
            f"CN=Sites,{config_nc}",
            "sub",
            "(|(objectClass=site)(objectClass=server)(objectClass=nTDSDSA)"
            "(objectClass=nTDSConnection)(objectClass=siteLink))",
            SITES_ATTRIBUTES,
        ),
    ]


def export_lab(lab: Path, folder: Path) -> list[Path]:
    """The lab's GC, exported with ldapsearch (paged, default extended output)."""
    require_tools({"ldapsearch": "ldap-utils"})
    state = json.loads((lab / "lab.json").read_text())
    gc = yaml.safe_load((lab / "poolsync.yaml").read_text())["directory"]["gc"]["url"]
    forest_dn = ",".join(f"DC={p}" for p in state["forest"].split("."))
    env = {**os.environ, "LDAPTLS_CACERT": state["ca_file"], "LDAPTLS_REQCERT": "demand"}
    files = []
    for name, base, scope, ldap_filter, attributes in searches(forest_dn):
        path = folder / name
        paged = [] if scope == "base" else ["-E", "pr=1000/noprompt"]
        with path.open("wb") as out:
            subprocess.run(
                [
                    "ldapsearch",
                    "-x",
                    "-H",
                    gc,
                    "-D",
                    state["bind_user"],
                    "-y",
                    state["password_file"],
                    "-b",
                    base,
                    "-s",
                    scope,
                    *paged,
                    ldap_filter,
                    *attributes,
                ],
                stdout=out,
                env=env,
                check=True,
                timeout=120,
            )
        files.append(path)
    return files


def pool_of(config: Path) -> dict[str, Any]:
    result = run("--config", config, "pool", "--format", "json")
    assert result.exit_code in (0, 3), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    doc.pop("meta")
    doc.pop("origin")
    return doc


@pytest.fixture(scope="module")
def live_pool(
    exclusions_lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("live")
    config = lab_config_copy(exclusions_lab, folder / "poolsync.yaml", store=folder / "live.db")
    result = run("--config", config, "resync", "--total")
    assert result.exit_code in (0, 3), result.stderr
    return pool_of(config)


@pytest.fixture(scope="module")
def exported(exclusions_lab: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return export_lab(exclusions_lab, tmp_path_factory.mktemp("export"))


def offline_config(folder: Path) -> Path:
    config = folder / "poolsync.yaml"
    config.write_text(
        "forest: pool.example.net\nstore: export.db\ndirectory:\n  ldif: [placeholder.ldif]\n"
    )
    (folder / "placeholder.ldif").write_bytes(b"")
    return config


def test_ldapsearch_export_gives_the_live_pool(
    exported: list[Path], tmp_path: Path, live_pool: dict[str, Any]
) -> None:
    config = offline_config(tmp_path)
    result = run(
        "--config", config, "resync", "--total", "--format", "json", "--from-ldif", *exported
    )
    assert result.exit_code in (0, 3), result.stderr
    summary = json.loads(result.stdout)
    assert summary["origin"]["kind"] == "export"
    assert {p["dc_host"].lower() for p in summary["passes"]} == {"dc1.pool.example.net"}
    assert pool_of(config) == live_pool
    doc = json.loads(run("--config", config, "pool", "--format", "json").stdout)
    assert doc["origin"]["files"] == [str(p.resolve()) for p in exported]


def test_ldifde_unicode_export_gives_the_live_pool(
    exported: list[Path], tmp_path: Path, live_pool: dict[str, Any]
) -> None:
    ldf = tmp_path / "export.ldf"
    ldf.write_bytes(from_ldapsearch(exported))
    assert ldf.read_bytes()[:2] == b"\xff\xfe"
    config = offline_config(tmp_path)
    result = run(
        "--config",
        config,
        "resync",
        "--total",
        "--from-ldif",
        ldf,
        "--taken-at",
        "2024-05-01T10:00:00Z",
    )
    assert result.exit_code in (0, 3), result.stderr
    assert pool_of(config) == live_pool


def test_discover_and_doctor_from_the_export(exported: list[Path], tmp_path: Path) -> None:
    config = offline_config(tmp_path)
    discover = run(
        "--config", config, "schema", "discover", "--format", "json", "--from-ldif", *exported
    )
    assert discover.exit_code == 0, discover.stderr
    doc = json.loads(discover.stdout)
    assert doc["origin"]["kind"] == "export"
    assert run("--config", config, "resync", "--total", "--from-ldif", *exported).exit_code in (
        0,
        3,
    )
    args = [a for p in exported for a in ("--from-ldif", str(p))]
    doctor = run("--config", config, "doctor", "--format", "json", *args)
    assert doctor.exit_code == 3, doctor.stderr  # the lab's exclusions are findings
    report = json.loads(doctor.stdout)
    causes = {s["name"]: {f["cause"] for f in s["findings"]} for s in report["servers"]}
    assert "attachment-missing" in causes["UNITY-M"]
    assert "pooling-disabled" in causes["UNITY-P"]
    assert any("LDIF export" in note for note in report["notes"])
