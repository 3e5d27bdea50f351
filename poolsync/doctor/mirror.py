"""poolsync's own store behind its Global Catalog: ``stale-mirror`` (pure).

The store's last GC pass read one GC up to a watermark (that GC's highestCommittedUSN
before the pass). A Location that GC holds at or below the watermark (or, without
USNs, changed before the pass) should be in the store as the GC holds it; when it is
missing or differs, the watermark skipped the change and only a total resync brings it
back. A Location changed after the pass is not stale: the next sync takes it.

Internal to :mod:`poolsync.doctor`; the entry point is
:func:`poolsync.doctor.causes.diagnose`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from poolsync.doctor.model import DoctorInput, Finding, LocationCopy, StoreView, Viewers
from poolsync.doctor.servers import Server, canon, iso, probe_for, stale_fields, where

__all__ = ["stale_mirror"]


def _before_last_read(copy: LocationCopy, store: StoreView) -> bool | None:
    """Whether the store's last GC pass should have taken this version of the copy: by
    the pass's watermark when both USNs are known (they are the same DC's), else by
    time; None when neither says."""
    if store.usn is not None and copy.usn_changed is not None:
        return copy.usn_changed <= store.usn
    changed = copy.when_changed or copy.when_created
    if store.synced_at is not None and changed is not None:
        return changed < store.synced_at
    return None


def stale_mirror(inp: DoctorInput, servers: Sequence[Server]) -> dict[str, list[Finding]]:
    """``stale-mirror`` findings per server guid (none without a store or its GC)."""
    store = inp.store
    found: dict[str, list[Finding]] = defaultdict(list)
    if store is None or store.gc is None:
        return found
    gc = canon(inp.topology, store.gc)
    probe = probe_for(inp, gc)
    if probe is None:
        return found
    stored = {loc.guid: loc for loc in store.locations}
    mark = f" (watermark USN {store.usn})" if store.usn is not None else ""
    for server in servers:
        copy = next((c.copy for c in server.copies if c.probe is probe), None)
        if copy is None:
            continue
        mine = stored.get(server.guid)
        taken = _before_last_read(copy, store)
        if mine is None:
            if taken is False:
                continue  # changed after the last read: the next sync takes it
            why = "does not have it: the watermark skipped it"
        else:
            differ = stale_fields(mine, copy.location)
            if not differ or not taken:
                continue
            why = (
                f"holds an older version (differs in {', '.join(differ)}): the watermark "
                "skipped the change"
            )
        usn = copy.usn_changed if copy.usn_changed is not None else "?"
        found[server.guid].append(
            Finding(
                cause="stale-mirror",
                severity="error",
                affects=Viewers.named("poolsync"),
                evidence=(
                    f"{server.name}'s Location {copy.location.dn} is on {where(probe)} "
                    f"(uSNChanged {usn}, changed {iso(copy.when_changed)}), but "
                    f"poolsync's store, last read from {gc} at {iso(store.synced_at)}"
                    f"{mark}, {why}."
                ),
                fix="Run `poolsync resync --total` to throw the watermark away and re-read "
                "everything.",
            )
        )
    return found
