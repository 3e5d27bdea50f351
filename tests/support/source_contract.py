"""The one contract every DirectorySource is held to (vdirsyncer's ``StorageTests``).

:class:`SourceContract` holds the tests; each source's run subclasses it (a ``Test*``
class in its own module) and provides the ``held`` fixture: a source holding the fixed
objects of :mod:`tests.support.canonical`, and the objectGUIDs it holds them under.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest

from poolsync.config import Endpoint
from poolsync.directory.filters import at_least, equality, guid_equality, or_filter
from poolsync.directory.offline import DELETED_OBJECTS_WKGUID
from poolsync.directory.source import Bound, DirectoryReader, DirectorySource
from poolsync.dn import key as dn_key
from poolsync.errors import QueryError, RunawaySearch
from poolsync.model import Entry
from poolsync.profile import Profile, load_profile
from poolsync.sync import decode
from tests.support.canonical import (
    ATTACHMENT,
    BY_NAME,
    CANONICAL,
    GONE,
    NOT_UTF8,
    REAL_HOME,
    contract_base,
)

PROFILE: Profile = load_profile("cisco-unity")


@dataclass(frozen=True)
class Held:
    """A source holding the canonical objects under ``contract_base(forest_dn)``.

    ``guids`` maps each canonical name to the objectGUID the source holds it under
    ("gone" too, when the source keeps tombstones and :data:`GONE` was deleted).
    """

    source: DirectorySource
    forest_dn: str
    guids: Mapping[str, str]

    @property
    def endpoint(self) -> Endpoint:
        return self.source.dcs[0]

    @property
    def base(self) -> str:
        return contract_base(self.forest_dn)

    def dn(self, name: str) -> str:
        return (GONE if name == "gone" else BY_NAME[name]).dn(self.forest_dn)

    def names(self, entries: Iterator[Entry] | list[Entry]) -> set[str]:
        """The canonical names of ``entries`` (by objectGUID); "?" for a stranger."""
        by_guid = {guid: name for name, guid in self.guids.items()}
        return {by_guid.get(e.guid(), "?") for e in entries}


class SourceContract:
    """The tests every source passes, against the canonical objects.

    A run subclasses this as ``Test<Source>`` and overrides the ``held`` fixture to
    return a :class:`Held`, built once by a module fixture (the objects are only
    read)::

        @pytest.fixture(scope="module")
        def export(tmp_path_factory: pytest.TempPathFactory) -> Held:
            path = tmp_path_factory.mktemp("ldif") / "contract.ldif"
            write_ldif(path, canonical_entries(FOREST_DN))   # the LDIF helper's writer
            return Held(LdifSource([path]), FOREST_DN,
                        {c.name: c.guid for c in CANONICAL})

        class TestLdifSource(SourceContract):
            @pytest.fixture
            def held(self, export: Held) -> Held:
                return export

    :func:`tests.support.canonical.canonical_entries` yields the objects as Entry
    values with fixed objectGUIDs (export them as they are); a source whose readers
    list "tombstones" in ``changes`` must also have held and deleted
    :data:`~tests.support.canonical.GONE` (its guid under "gone"), and one with
    "usn" must stamp uSNChanged. Tests of what a source does not support skip.
    """

    @pytest.fixture
    def held(self) -> Held:
        raise NotImplementedError("a run of the contract provides the held fixture")

    @pytest.fixture
    def reader(self, held: Held) -> Iterator[DirectoryReader]:
        with held.source.open(held.endpoint) as reader:
            yield reader

    # -- what comes back ----------------------------------------------------------------

    def test_the_subtree_holds_every_object_once(self, held: Held, reader: DirectoryReader) -> None:
        entries = list(reader.search(held.base, "(objectClass=*)", ["objectGUID"]))
        assert sorted(held.names(entries)) == sorted(c.name for c in CANONICAL)
        assert len(entries) == len(CANONICAL)

    def test_dns_come_back_as_written_up_to_escapes_and_case(
        self, held: Held, reader: DirectoryReader
    ) -> None:
        by_guid = {
            e.guid(): e.dn for e in reader.search(held.base, "(objectClass=*)", ["objectGUID"])
        }
        for obj in CANONICAL:
            assert dn_key(by_guid[held.guids[obj.name]]) == dn_key(held.dn(obj.name)), obj.name

    @pytest.mark.parametrize("name", [c.name for c in CANONICAL])
    def test_values_come_back_byte_for_byte(
        self, held: Held, reader: DirectoryReader, name: str
    ) -> None:
        obj = BY_NAME[name]
        asked = [a.upper() if i % 2 else a for i, a in enumerate(obj.attributes)]
        [entry] = reader.read(held.dn(name), "(objectClass=*)", asked, scope="base")
        assert set(entry.attributes) == set(obj.attributes)  # only what was asked
        for attribute, values in obj.attributes.items():
            # Multi-valued attributes are sets: no order is promised.
            assert sorted(entry.attributes[attribute]) == sorted(values), attribute

    def test_non_utf8_and_utf16_values_are_the_same_bytes(
        self, held: Held, reader: DirectoryReader
    ) -> None:
        home = PROFILE.subscriber.home
        pooling = PROFILE.location.pooling_data
        [binary] = reader.read(held.dn("binary"), "(objectClass=*)", [home], scope="base")
        [location] = reader.read(held.dn("location"), "(objectClass=*)", [pooling], scope="base")
        assert binary.first(home) == NOT_UTF8
        assert location.first(pooling) == ATTACHMENT
        assert ATTACHMENT[2:].decode("utf-16-le").startswith("<?xml")

    def test_the_objects_guid_read_by_guid_base(self, held: Held, reader: DirectoryReader) -> None:
        for obj in CANONICAL:
            guid = held.guids[obj.name]
            [entry] = reader.read(f"<GUID={guid}>", "(objectClass=*)", ["objectGUID"], scope="base")
            assert entry.guid() == guid
            assert dn_key(entry.dn) == dn_key(held.dn(obj.name))

    # -- filters ------------------------------------------------------------------------

    def names(self, held: Held, reader: DirectoryReader, ldap_filter: str) -> set[str]:
        return held.names(reader.search(held.base, ldap_filter, ["objectGUID"]))

    def test_objectguid_equality_finds_exactly_that_object(
        self, held: Held, reader: DirectoryReader
    ) -> None:
        for obj in CANONICAL:
            assert self.names(held, reader, guid_equality(held.guids[obj.name])) == {obj.name}
        two = or_filter(guid_equality(held.guids["plus"]), guid_equality(held.guids["hash"]))
        assert self.names(held, reader, two) == {"plus", "hash"}

    def test_binary_and_multi_valued_equality(self, held: Held, reader: DirectoryReader) -> None:
        home = PROFILE.subscriber.home
        assert self.names(held, reader, equality(home, NOT_UTF8)) == {"binary"}
        assert self.names(held, reader, equality(home, REAL_HOME)) == {"plus"}
        assert self.names(held, reader, equality("otherTelephone", "+1 555 0101")) == {"plus"}
        assert self.names(held, reader, "(otherTelephone=200)") == {"hash"}

    def test_escaped_names_match_their_values(self, held: Held, reader: DirectoryReader) -> None:
        for name, cn in [
            ("location", "Loc, One"),
            ("plus", "Plus+Sign"),
            ("hash", "#Hash"),
            ("unicode", "Zoë Ünïcödé"),
        ]:
            assert self.names(held, reader, equality("cn", cn)) == {name}

    def test_names_and_ascii_values_are_case_blind(
        self, held: Held, reader: DirectoryReader
    ) -> None:
        assert self.names(held, reader, "(OBJECTCLASS=CONTACT)") == {"hash", "unicode"}
        assert self.names(held, reader, "(CiscoEcsbuServerName=unity-c1)") == {"location"}
        upper = held.base.upper()
        assert held.names(reader.search(upper, "(cn=binary home)", ["objectGUID"])) == {"binary"}

    def test_substrings_presence_and_boolean_operators(
        self, held: Held, reader: DirectoryReader
    ) -> None:
        assert self.names(held, reader, "(ciscoEcsbuServerName=unity-*)") == {"location"}
        assert self.names(held, reader, "(description=*東京)") == {"unicode"}
        assert self.names(held, reader, "(cn=*s*g*)") == {"plus"}
        assert self.names(held, reader, "(othertelephone=*)") == {"plus", "hash"}
        assert self.names(held, reader, "(&(objectClass=user)(!(cn=Plus*)))") == {"binary"}
        assert self.names(held, reader, "(|(cn=#Hash)(ou=Contract))") == {"hash", "container"}

    def test_bitwise_matching_rules(self, held: Held, reader: DirectoryReader) -> None:
        kind = PROFILE.subscriber.object_type  # an integer: 1 on both subscribers
        assert self.names(held, reader, f"({kind}:1.2.840.113556.1.4.803:=1)") == {"plus", "binary"}
        assert self.names(held, reader, f"({kind}:1.2.840.113556.1.4.803:=3)") == set()
        assert self.names(held, reader, f"({kind}:1.2.840.113556.1.4.804:=3)") == {"plus", "binary"}

    def test_the_filters_the_engine_sends(self, held: Held, reader: DirectoryReader) -> None:
        assert self.names(held, reader, decode.location_filter(PROFILE)) == {"location"}
        assert self.names(held, reader, decode.subscriber_filter(PROFILE)) == {"plus", "binary"}
        assert self.names(held, reader, decode.unity_objects_filter(PROFILE)) == {
            "location",
            "plus",
            "binary",
        }

    def test_usn_watermarks(self, held: Held, reader: DirectoryReader) -> None:
        if "usn" not in reader.changes:
            pytest.skip("this source keeps no uSNChanged")
        usn = reader.root_dse().highest_committed_usn
        changed = decode.changed_filter(PROFILE.subscriber.object_class, 0)
        assert self.names(held, reader, changed) == {"plus", "binary"}
        assert self.names(held, reader, at_least("uSNChanged", usn + 1)) == set()

    def test_a_malformed_filter_is_a_query_error(self, reader: DirectoryReader, held: Held) -> None:
        with pytest.raises(QueryError):
            list(reader.search(held.base, "(objectClass=user", ["objectGUID"]))

    # -- the rootDSE, bounds, large values, tombstones -----------------------------------

    def test_root_dse_names_the_forest(self, held: Held, reader: DirectoryReader) -> None:
        root = reader.root_dse()
        assert dn_key(root.default_naming_context) == dn_key(held.forest_dn)
        assert root.dns_host_name
        assert root.highest_committed_usn >= 0
        contexts = {dn_key(nc) for nc in reader.naming_contexts()}
        assert dn_key(held.forest_dn) in contexts
        domains = reader.domain_naming_contexts(root.configuration_naming_context)
        assert [dn_key(nc) for nc in domains] == [dn_key(held.forest_dn)]

    def test_a_bound_stops_the_search_in_the_live_readers_words(
        self, held: Held, reader: DirectoryReader
    ) -> None:
        with pytest.raises(RunawaySearch) as raised:
            list(
                reader.search(
                    held.base,
                    "(objectClass=*)",
                    ["objectGUID"],
                    bound=Bound(2, "the contract's bound"),
                )
            )
        assert (
            f"stopped the search under {held.base}: more than 2 entries "
            "(the contract's bound); nothing was changed"
        ) in str(raised.value)

    def test_a_missing_base_is_a_query_error(self, held: Held, reader: DirectoryReader) -> None:
        with pytest.raises(QueryError):
            list(reader.search(f"OU=Nowhere,{held.forest_dn}", "(objectClass=*)", ["objectGUID"]))

    def test_a_large_value_over_the_bound_is_refused_with_its_size(
        self, held: Held, reader: DirectoryReader
    ) -> None:
        pooling = PROFILE.location.pooling_data
        attributes = ["objectGUID", pooling]
        [over] = reader.search_with_large_value(
            held.base,
            decode.location_filter(PROFILE),
            attributes,
            large=pooling,
            max_bytes=len(ATTACHMENT) - 1,
        )
        assert over.guid() == held.guids["location"]
        assert over.first(pooling) is None
        assert over.refused == {pooling.lower(): len(ATTACHMENT)}
        [within] = reader.search_with_large_value(
            held.base,
            decode.location_filter(PROFILE),
            attributes,
            large=pooling,
            max_bytes=len(ATTACHMENT),
        )
        assert within.first(pooling) == ATTACHMENT and not within.refused

    def test_tombstones_only_with_show_deleted(self, held: Held, reader: DirectoryReader) -> None:
        if "tombstones" not in reader.changes:
            pytest.skip("this source keeps no tombstones")
        gone = held.guids["gone"]
        deleted = f"<WKGUID={DELETED_OBJECTS_WKGUID},{held.forest_dn}>"
        tombstones = {
            e.guid()
            for e in reader.search(
                deleted,
                decode.tombstone_filter(PROFILE, 0),
                ["objectGUID", "uSNChanged"],
                show_deleted=True,
            )
        }
        assert gone in tombstones
        everywhere = {
            e.guid() for e in reader.search(held.forest_dn, guid_equality(gone), ["objectGUID"])
        }
        assert everywhere == set()
        [container] = reader.read(
            deleted, "(objectClass=*)", ["objectGUID"], scope="base", show_deleted=True
        )
        assert container.first("objectGUID") is not None
