"""Everything the doctor's classifier needs, read: the forest (each DC and Global
Catalog through the source), the store, the servers' stored readings and, for expected
servers no DC holds, the other forests in the config.

This is the doctor's I/O assembly, shared by ``poolsync doctor`` and ``poolsync
graph``: it calls :mod:`poolsync.doctor.probe` and :class:`~poolsync.store.Store` and
returns the plain :class:`~poolsync.doctor.model.DoctorInput` that the pure
:func:`~poolsync.doctor.causes.diagnose` takes. It prints nothing: progress goes to the
``step`` callback, and the clock comes in as ``now``.

Entry point: :func:`gather`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from poolsync.config import Config, load_config
from poolsync.directory.source import DirectorySource, LiveSource
from poolsync.doctor.model import DoctorInput, ForeignSighting, Monitor, ServerReadings, StoreView
from poolsync.doctor.probe import ForestProbe, probe_forest, probe_other_forest, store_view
from poolsync.errors import DirectoryUnavailable
from poolsync.profile import Profile, load_profile
from poolsync.servers.model import ServerReading
from poolsync.store import Store


def gather(
    config: Config,
    profile: Profile,
    source: DirectorySource,
    *,
    now: datetime,
    step: Callable[[str], None] | None = None,
) -> tuple[DoctorInput, list[str]]:
    """Ask the directory (and the other forests, and the store) everything the
    classifier needs, as of ``now``; return it with notes about what could not be read.
    ``step`` hears each step's progress (none without it)."""
    if step is None:
        step = _quiet
    forest = probe_forest(source, profile, now=now, step=step)
    if all(p.error is not None for p in forest.probes):
        raise DirectoryUnavailable(
            "no DC or Global Catalog could be read: "
            + "; ".join(f"{p.url}: {p.error}" for p in forest.probes)
        )
    store, readings = _store(config, forest, profile)
    present = {c.location.name.lower() for p in forest.probes for c in p.copies}
    missing = [n for n in config.doctor.expected if n.lower() not in present]
    foreign: list[ForeignSighting] = []
    searched: list[str] = []
    notes: list[str] = []
    for path in config.doctor.other_forests if missing else ():
        other = load_config(path)
        searched.append(other.forest)
        step(f"looking for {', '.join(missing)} in forest {other.forest}")
        # Its password is read when its first GC is opened (a failure is a note).
        other_source = LiveSource(other.directory, password=other.directory.bind.resolve_password)
        found, error = probe_other_forest(
            other.forest,
            other_source,
            load_profile(other.profile, base_dir=other.base_dir),
            missing,
            now=now,
        )
        foreign += found
        if error is not None:
            notes.append(error)
    # Unity servers without a configured GC monitor: the first GC of the config that
    # answers, as a failover list is read.
    readable = {p.url: p.dc for p in forest.probes if p.error is None and p.gc}
    default_gc = next((readable[e.url] for e in source.gcs if e.url in readable), None)
    origin = source.origin
    if origin.kind == "export":
        taken = origin.taken_at.isoformat(timespec="seconds") if origin.taken_at else "?"
        notes.append(
            f"read from an LDIF export ({origin.label}) taken {taken}: one "
            "snapshot of one DC's view, standing in for every DC and Global "
            "Catalog; what other DCs hold, replication between them and changes "
            "since are not in it (docs/offline.md)"
        )
    inp = DoctorInput(
        forest=config.forest,
        topology=forest.topology,
        probes=forest.probes,
        monitors=tuple(Monitor(server=m.server, dc=m.dc, gc=m.gc) for m in config.doctor.servers),
        default_gc=default_gc,
        store=store,
        expected=config.doctor.expected,
        foreign=tuple(foreign),
        other_forests=tuple(searched),
        live=ServerReadings(servers=config.servers, readings=readings) if config.servers else None,
        now=now,
    )
    return inp, notes


def _store(
    config: Config, forest: ForestProbe, profile: Profile
) -> tuple[StoreView | None, tuple[ServerReading, ...]]:
    """The store's view, and the servers' latest readings (kept by `servers probe`,
    which may have run before any sync)."""
    if not config.store.exists():
        return None, ()
    with Store.open(config.store, create=False) as store:
        view = store_view(store, forest.topology, profile.roles())
        return view, store.latest_readings() if config.servers else ()


def _quiet(message: str) -> None:
    """No progress."""
