"""The contract suite against :class:`~poolsync.directory.memory.MemorySource`."""

from __future__ import annotations

import pytest

from poolsync.directory.memory import MemorySource
from tests.support.canonical import CANONICAL, FOREST_DN, GONE, canonical_entries
from tests.support.source_contract import Held, SourceContract


@pytest.fixture(scope="module")
def memory() -> Held:
    source = MemorySource(canonical_entries(FOREST_DN), forest_dn=FOREST_DN)
    source.add(GONE.entry(FOREST_DN))
    source.delete(GONE.guid)
    return Held(source, FOREST_DN, {c.name: c.guid for c in (*CANONICAL, GONE)})


class TestMemorySource(SourceContract):
    @pytest.fixture
    def held(self, memory: Held) -> Held:
        return memory
