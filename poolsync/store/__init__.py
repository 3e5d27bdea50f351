"""The local store: the only package that imports sqlite3.

:class:`Store` opens (or creates) a versioned SQLite mirror of what the passes read,
keyed by (pass, objectGUID). A total resync stages everything it reads in temporary
tables and swaps it in with one short write transaction, so a failed or interrupted
run leaves the previous state intact. Run history and per-pass watermarks live beside
the data. The records it reads and writes (:class:`PassRecord`, :class:`RunRecord`,
:class:`Plan` ...) are pure values from :mod:`poolsync.records`, re-exported here.
"""

from poolsync.records import Changes, PassRecord, Plan, PlannedChange, RunRecord
from poolsync.store.health import StoreCheck, StoreDamaged, check_store, damage
from poolsync.store.store import Store, SyncWriter

__all__ = [
    "Changes",
    "PassRecord",
    "Plan",
    "PlannedChange",
    "RunRecord",
    "Store",
    "StoreCheck",
    "StoreDamaged",
    "SyncWriter",
    "check_store",
    "damage",
]
