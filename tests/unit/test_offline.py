"""OfflineReader and MemorySource: what the contract suite does not reach."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from poolsync.directory.memory import MEMORY_DC, MEMORY_GC, MemorySource
from poolsync.directory.offline import OfflineReader
from poolsync.directory.source import Bound, RootDse
from poolsync.errors import DirectoryUnavailable, QueryError, RunawaySearch
from poolsync.model import Entry
from poolsync.profile import load_profile
from poolsync.sync import decode

NC = "DC=lab,DC=example,DC=com"
CONFIG = f"CN=Configuration,{NC}"
ROOT = RootDse(
    "dc1.lab.example.com",
    f"CN=NTDS Settings,CN=DC1,{CONFIG}",
    42,
    NC,
    NC,
    CONFIG,
    f"CN=Schema,{CONFIG}",
)
PROFILE = load_profile("cisco-unity")


def guid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def user(n: int, parent: str = f"OU=People,{NC}", **extra: list[bytes]) -> Entry:
    return Entry(
        f"CN=u{n},{parent}",
        {
            "objectguid": [guid(n).bytes_le],
            "objectclass": [b"top", b"user"],
            "cn": [f"u{n}".encode()],
            "ciscoecsbuobjecttype": [b"1"],
            **extra,
        },
    )


class Stream:
    """The entries, and how many times a search asked for them."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.calls = 0

    def __call__(self) -> Iterator[Entry]:
        self.calls += 1
        return iter(self.entries)


def reader(
    entries: list[Entry], *, max_entries: int = 1_000_000, naming_contexts: tuple[str, ...] = ()
) -> OfflineReader:
    return OfflineReader(
        MEMORY_DC,
        Stream(entries),
        root=ROOT,
        invocation_id="inv",
        changes=frozenset(),
        max_entries=max_entries,
        naming_contexts=naming_contexts,
    )


PEOPLE = [
    Entry(f"OU=People,{NC}", {"objectclass": [b"organizationalUnit"]}),
    user(1),
    user(2),
    user(3, f"OU=Sub,OU=People,{NC}"),
]


def test_scopes_and_case_blind_bases() -> None:
    r = reader(PEOPLE)
    base = f"ou=PEOPLE,{NC.lower()}"
    assert len(list(r.search(base, "(objectClass=user)", ["cn"]))) == 3
    assert [e.dn for e in r.read(base, "(objectClass=*)", ["cn"], scope="one")] == [
        f"CN=u1,OU=People,{NC}",
        f"CN=u2,OU=People,{NC}",
    ]
    [only] = r.read(f"CN=U2,{base}", "(objectClass=*)", ["cn"], scope="base")
    assert only.attributes == {"cn": [b"u2"]}


def test_each_search_streams_the_entries_anew() -> None:
    stream = Stream(PEOPLE)
    r = OfflineReader(MEMORY_DC, stream, root=ROOT, invocation_id="inv", changes=frozenset())
    list(r.search(NC, "(cn=u1)", ["cn"]))
    list(r.search(NC, "(cn=u2)", ["cn"]))
    assert stream.calls == 2


def test_only_the_attributes_asked_for_case_blind() -> None:
    r = reader(PEOPLE)
    [e] = r.search(NC, "(cn=u1)", ["CN", "objectGUID", "mail"])
    assert set(e.attributes) == {"cn", "objectguid"}
    [whole] = r.search(NC, "(cn=u1)", ["*"])
    assert whole.attributes == PEOPLE[1].attributes
    [bare] = r.search(NC, "(cn=u1)", ["1.1"])
    assert bare.attributes == {}


def test_guid_bases_in_both_forms() -> None:
    r = reader(PEOPLE)
    for text in (str(guid(2)), guid(2).bytes_le.hex()):
        [e] = r.read(f"<GUID={text}>", "(objectClass=*)", ["cn"], scope="base")
        assert e.dn == f"CN=u2,OU=People,{NC}"
    with pytest.raises(QueryError, match="no such object"):
        r.read(f"<GUID={guid(99)}>", "(objectClass=*)", ["cn"], scope="base")
    with pytest.raises(QueryError, match="well-known GUID"):
        list(r.search(f"<WKGUID=a9d1ca15768811d1aded00c04fd8d5cd,{NC}>", "(cn=*)", ["cn"]))


def test_a_bound_says_what_the_live_reader_says() -> None:
    r = reader(PEOPLE, max_entries=2)
    with pytest.raises(RunawaySearch) as raised:
        list(r.search(NC, "(objectClass=user)", ["cn"]))
    assert str(raised.value) == (
        f"{MEMORY_DC.url}: stopped the search under {NC}: more than 2 entries "
        "(directory.max_entries is 2); nothing was changed"
    )
    # The lower of the bound and max_entries wins.
    assert (
        len(list(reader(PEOPLE).search(NC, "(objectClass=user)", ["cn"], bound=Bound(3, "why"))))
        == 3
    )


def test_the_deadline_and_a_closed_reader() -> None:
    r = reader(PEOPLE)
    r.limit_to(0)
    with pytest.raises(DirectoryUnavailable, match=r"directory.timeouts.pass \(0 s\)"):
        list(r.search(NC, "(cn=*)", ["cn"]))
    closed = reader(PEOPLE)
    with closed:
        pass
    with pytest.raises(RuntimeError, match="after close"):
        closed.root_dse()


def test_dirsync_is_refused() -> None:
    with pytest.raises(QueryError, match="DirSync"):
        reader(PEOPLE).dirsync(NC, "(objectClass=*)", ["cn"])
    with pytest.raises(ValueError, match="DirSync"):
        OfflineReader(
            MEMORY_DC, Stream([]), root=ROOT, invocation_id="inv", changes=frozenset({"dirsync"})
        )


def test_the_rootdse_as_a_base_read_and_its_naming_contexts() -> None:
    r = reader(PEOPLE)
    [root] = r.read("", "(objectClass=*)", ["highestCommittedUSN", "namingContexts"], scope="base")
    assert root.text("highestCommittedUSN") == "42"
    assert root.texts("namingContexts") == [NC, CONFIG, f"CN=Schema,{CONFIG}"]
    given = reader(PEOPLE, naming_contexts=("DC=other",))
    assert given.naming_contexts() == ["DC=other"]


def test_domain_naming_contexts_from_crossrefs() -> None:
    partitions = f"CN=Partitions,{CONFIG}"
    crossrefs = [
        Entry(
            f"CN={name},{partitions}",
            {"objectclass": [b"top", b"crossRef"], "systemflags": [flags], "ncname": [nc.encode()]},
        )
        for name, flags, nc in [
            ("LAB", b"3", NC),
            ("CHILD", b"3", f"DC=child,{NC}"),
            ("Enterprise Configuration", b"1", CONFIG),
        ]
    ]
    assert reader(crossrefs).domain_naming_contexts(CONFIG) == [f"DC=child,{NC}", NC]
    assert reader(PEOPLE).domain_naming_contexts(CONFIG) == [NC]


def test_a_missing_base_is_a_query_error_but_a_missing_container_is_not() -> None:
    r = reader([user(1)])  # no OU=People entry: a test's few objects
    assert len(list(r.search(f"OU=People,{NC}", "(cn=*)", ["cn"]))) == 1
    with pytest.raises(QueryError, match="no such object"):
        list(r.search(f"OU=Elsewhere,{NC}", "(cn=*)", ["cn"]))
    with pytest.raises(QueryError, match="invalid base"):
        list(r.search("not a dn", "(cn=*)", ["cn"]))


def test_large_values_are_refused_with_their_size() -> None:
    big = user(1, ciscoecsbupoolingdata=[b"x" * 100])
    r = reader([big])
    [e] = r.search_with_large_value(
        NC, "(cn=u1)", ["cn", "ciscoEcsbuPoolingData"], large="ciscoEcsbuPoolingData", max_bytes=99
    )
    assert e.refused == {"ciscoecsbupoolingdata": 100}
    assert "ciscoecsbupoolingdata" not in e.attributes


# -- MemorySource -----------------------------------------------------------------------------


def test_memory_source_describes_itself() -> None:
    source = MemorySource([user(1)])
    assert source.origin.kind == "memory"
    assert source.dcs == (MEMORY_DC,) and source.gcs == (MEMORY_GC,)
    assert MEMORY_GC.port == 3269 and MEMORY_DC.base_dn == ""
    with source.open(source.gcs[0]) as r:
        assert r.changes == frozenset({"usn", "tombstones"})
        assert r.root_dse().highest_committed_usn == 1  # the one entry's stamp
    assert MemorySource(usn=77).root().highest_committed_usn == 77


def test_entries_keep_their_usn_and_changes_count_above_it() -> None:
    source = MemorySource([user(1, usnchanged=[b"500"]), user(2)])
    assert [e.text("uSNChanged") for e in source.entries] == ["500", "501"]
    watermark = source.root().highest_committed_usn
    source.add(user(3))
    source.replace(user(1, ciscoecsbuobjecttype=[b"2"]))
    changed = decode.changed_filter("user", watermark)
    with source.open(source.dcs[0]) as r:
        found = {e.guid() for e in r.search(NC, changed, ["objectGUID"])}
    assert found == {str(guid(1)), str(guid(3))}
    with pytest.raises(ValueError, match="already held"):
        source.add(user(3))
    with pytest.raises(KeyError):
        source.replace(user(9))


def test_delete_leaves_a_tombstone_an_incremental_read_finds() -> None:
    source = MemorySource([user(1), user(2)])
    watermark = source.root().highest_committed_usn
    tombstone = source.delete(str(guid(2)))
    assert tombstone is not None and tombstone.dn.startswith(f"CN=u2\\0ADEL:{guid(2)},")
    deleted = f"<WKGUID=18e2ea80684f11d2b9aa00c04f79f805,{NC}>"
    with source.open(source.dcs[0]) as r:
        assert [
            e.guid()
            for e in r.search(
                deleted,
                decode.tombstone_filter(PROFILE, watermark),
                ["objectGUID"],
                show_deleted=True,
            )
        ] == [str(guid(2))]
        assert list(r.search(NC, "(cn=u2)", ["cn"])) == []
        with pytest.raises(QueryError, match="no such object"):  # as AD: not without
            list(r.search(deleted, "(objectClass=*)", ["cn"]))  # the Show Deleted control
    with pytest.raises(KeyError):
        source.delete(str(guid(2)))


def test_without_tombstones_a_delete_leaves_nothing() -> None:
    source = MemorySource([user(1)], changes=frozenset({"usn"}))
    assert source.delete(str(guid(1))) is None
    assert source.entries == []


def test_a_down_host_refuses_to_open() -> None:
    source = MemorySource([user(1)])
    source.down.add(MEMORY_DC.host)
    with pytest.raises(DirectoryUnavailable, match="refused"):
        source.open(MEMORY_DC)
    assert source.opened == [MEMORY_DC]


@pytest.mark.parametrize(
    ("dn", "under"),
    [
        ("CN=a,OU=Subs,DC=lab,DC=example,DC=com", True),
        ("cn=A,ou=subs,dc=LAB,dc=example,dc=com", True),  # case-blind
        ("DC=lab,DC=example,DC=com", True),  # the base itself
        ("CN=a\\,DC=lab,DC=example,DC=com", False),  # the comma is escaped
        ("CN=a\\\\,DC=lab,DC=example,DC=com", True),  # an escaped backslash
        ("CN=a,DC=xlab,DC=example,DC=com", False),  # not at an RDN boundary
        ("CN=a,DC=lab,DC=example,DC=org", False),
    ],
)
def test_the_unparsed_subtree_check_never_says_under_wrongly(dn: str, under: bool) -> None:
    from poolsync.directory.offline import _ends_with
    from poolsync.dn import key as dn_key

    base = "DC=lab,DC=example,DC=com"
    assert _ends_with(dn, base.lower()) is under
    if under:  # what the parsed comparison says too
        key, base_key = dn_key(dn), dn_key(base)
        assert key[len(key) - len(base_key) :] == base_key


def test_a_base_written_otherwise_is_still_found_by_parsing() -> None:
    source = MemorySource(
        [
            Entry(
                "CN=x,OU=Subs,DC=lab,DC=example,DC=com",
                {"objectguid": [uuid.UUID(int=7).bytes_le], "objectclass": [b"top", b"user"]},
            )
        ]
    )
    with source.open(source.dcs[0]) as reader:
        found = reader.search(
            "OU=Sub\\73,DC=lab,DC=example,DC=com", "(objectClass=user)", ["objectGUID"]
        )
        assert [e.dn for e in found] == ["CN=x,OU=Subs,DC=lab,DC=example,DC=com"]
