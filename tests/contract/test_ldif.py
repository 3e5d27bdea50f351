"""The contract suite against :class:`~poolsync.directory.ldif.LdifSource`.

The canonical objects are exported twice, as each customer tool writes them: as
ldapsearch's default output (UTF-8, paged, a rootDSE record in its own file) and as
``ldifde -u`` does (UTF-16LE, CRLF, folded, ``changetype: add``). An export keeps no
change history, so the USN and tombstone tests skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from poolsync.directory.ldif import LdifSource
from poolsync.model import Entry
from tests.support.canonical import CANONICAL, FOREST_DN, canonical_entries
from tests.support.ldifexport import ldapsearch_bytes, ldifde_bytes
from tests.support.source_contract import Held, SourceContract

ROOT_DSE = Entry(
    "",
    {
        "dnshostname": [b"dc1.lab.example.com"],
        "defaultnamingcontext": [FOREST_DN.encode()],
        "rootdomainnamingcontext": [FOREST_DN.encode()],
        "configurationnamingcontext": [f"CN=Configuration,{FOREST_DN}".encode()],
        "highestcommittedusn": [b"4242"],
        "currenttime": [b"20240501100000.0Z"],
    },
)
GUIDS = {c.name: c.guid for c in CANONICAL}


@pytest.fixture(scope="module")
def ldapsearch_export(tmp_path_factory: pytest.TempPathFactory) -> Held:
    folder = tmp_path_factory.mktemp("ldapsearch")
    (folder / "rootdse.ldif").write_bytes(ldapsearch_bytes([ROOT_DSE]))
    (folder / "objects.ldif").write_bytes(ldapsearch_bytes(canonical_entries(FOREST_DN), page=2))
    source = LdifSource([folder / "rootdse.ldif", folder / "objects.ldif"])
    source.validate()
    return Held(source, FOREST_DN, GUIDS)


@pytest.fixture(scope="module")
def ldifde_export(tmp_path_factory: pytest.TempPathFactory) -> Held:
    path: Path = tmp_path_factory.mktemp("ldifde") / "export.ldf"
    path.write_bytes(ldifde_bytes(canonical_entries(FOREST_DN)))
    source = LdifSource([path])
    source.validate()
    return Held(source, FOREST_DN, GUIDS)


class TestLdifSourceLdapsearch(SourceContract):
    @pytest.fixture
    def held(self, ldapsearch_export: Held) -> Held:
        return ldapsearch_export


class TestLdifSourceLdifde(SourceContract):
    @pytest.fixture
    def held(self, ldifde_export: Held) -> Held:
        return ldifde_export
