"""The contract suite against :class:`~poolsync.directory.source.LiveSource` on Samba.

One lab for the module: the canonical objects are written once with the lab's editor
(``ldbmodify``, as an administrator would; poolsync itself never writes), and
:data:`~tests.support.canonical.GONE` is written and deleted so its tombstone is
there. Skips without Samba on a developer machine, fails under CI=true (tests/support/lab.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.config import load_config
from poolsync.directory.source import LiveSource
from poolsync.lab.edit import Add, Delete, LabEditor
from tests.support.canonical import CANONICAL, GONE, Canonical
from tests.support.lab import TOPOLOGIES, bring_up
from tests.support.source_contract import Held, SourceContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def contract_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from bring_up(TOPOLOGIES / "tiny.yaml", tmp_path_factory.mktemp("labs") / "contract")


def _add(obj: Canonical, forest_dn: str) -> Add:
    return Add(
        obj.dn(forest_dn),
        tuple((name, value) for name, values in obj.attributes.items() for value in values),
    )


@pytest.fixture(scope="module")
def live(contract_lab: Path) -> Held:
    config = load_config(contract_lab / "poolsync.yaml")
    source = LiveSource(config.directory, password=config.directory.bind.resolve_password())
    with source.open(source.dcs[0]) as reader:
        forest_dn = reader.root_dse().default_naming_context
    editor = LabEditor(contract_lab)
    editor.apply([_add(obj, forest_dn) for obj in (*CANONICAL, GONE)])
    guids = {}
    with source.open(source.dcs[0]) as reader:  # the DC chose the GUIDs: ask it
        for obj in (*CANONICAL, GONE):
            [entry] = reader.read(
                obj.dn(forest_dn), "(objectClass=*)", ["objectGUID"], scope="base"
            )
            guids[obj.name] = entry.guid()
    editor.apply([Delete(GONE.dn(forest_dn))])
    return Held(source, forest_dn, guids)


class TestLiveSource(SourceContract):
    @pytest.fixture
    def held(self, live: Held) -> Held:
        return live
