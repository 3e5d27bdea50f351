"""The sync planner: what a run's staged reads change in the store, rule by rule.

What the passes read is staged in temporary tables (:mod:`poolsync.store.staging`);
:func:`plan` compares it with the store and writes the plan to ``temp.plan``, one row
per (kind, pass, objectGUID) and operation. Nothing in the store changes here. The
rules, each with a golden test in ``tests/unit/test_planner_rules.py``:

1. **Identity is (pass, objectGUID).** The domain pass and the GC pass each keep their
   own copy of an object; a DN is data, so a rename or a move is an update, never a
   delete and an insert.
2. **Insert**: a staged object the store does not hold for that pass.
3. **Update**: a staged object the store holds whose compared columns
   (:data:`~poolsync.store.mirror.COMPARED`: the DN, the name and every attribute, not
   its uSNChanged) differ, NULLs compared as values. An unchanged object is no change.
   Columns an older store lacks (opened read-only by a dry run, so not migrated) are not
   compared.
4. **Delete, total pass**: every object the store holds for a pass staged ``total``
   that the pass did not read.
5. **Delete, incremental pass**: an object the store holds for a pass staged
   ``incremental`` that the pass read as removed (a tombstone, or no longer a Unity
   object), unless it also read it live (rule 6 decides which reading stands).
6. **Higher USN wins**: a pass that read both a live copy and a removal of one object
   keeps the later reading: the removal wins only when its uSNChanged is known and
   higher than the live copy's (an unknown live USN counts as lowest); a removal with
   an unknown USN (DirSync) loses to any live read.
7. **A pass not staged is untouched**: no deletes for a pass that did not run.
8. **Counted once per object**: the plan's counts are objects (distinct objectGUIDs)
   per kind and operation, so an object both passes change counts once; the listing
   (:func:`planned`) joins the passes that make a change (``domain+gc``).
9. **The domain copy wins over the GC copy** where both passes hold an object, in
   every read of the merged view (:func:`poolsync.store.mirror.merged`) and in the
   seats per home the commit keeps (:mod:`poolsync.store.staging`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from poolsync.records import KINDS, Changes, Kind, Op, PlannedChange
from poolsync.store.mirror import COMPARED

__all__ = ["plan", "planned"]

_LABEL = {"locations": "name", "subscribers": "dn"}  # what a listing shows of an object


def _differs(table: str, new: str, old: str, present: set[str]) -> str:
    """SQL true when a compared column (rule 3) present in the store differs."""
    cols = [
        c.strip()
        for c in COMPARED[table].split(",")
        if c.strip() != "guid" and c.strip() in present
    ]
    return " OR ".join(f"NOT ({new}.{c} IS {old}.{c})" for c in cols)


def _higher_usn_wins(db: sqlite3.Connection) -> None:
    """Rule 6: drop a staged live copy a later removal of the same pass supersedes."""
    for table in ("stage_locations", "stage_subscribers"):
        db.execute(
            f"DELETE FROM temp.{table} WHERE EXISTS (SELECT 1 FROM "
            f"temp.stage_removals AS r WHERE r.pass = {table}.pass AND "
            f"r.guid = {table}.guid AND coalesce(r.usn, -1) > "
            f"coalesce({table}.usn_changed, -1) AND r.usn IS NOT NULL)"
        )


def plan(db: sqlite3.Connection, present: Mapping[str, set[str]]) -> dict[Kind, Changes]:
    """Write the plan to ``temp.plan`` (in the caller's transaction) and count it.

    ``present``: the columns each of the store's tables has.
    """
    _higher_usn_wins(db)
    db.execute("DELETE FROM temp.plan")
    for table in KINDS:
        stage, label = f"temp.stage_{table}", _LABEL[table]
        # rules 2 and 3: inserts and updates
        db.execute(
            f"INSERT INTO temp.plan SELECT '{table}', s.pass, s.guid, "
            "CASE WHEN m.guid IS NULL THEN 'insert' ELSE 'update' END, s.dn, "
            f"s.{label} FROM {stage} AS s LEFT JOIN main.{table} AS m "
            "ON m.pass = s.pass AND m.guid = s.guid "
            f"WHERE m.guid IS NULL OR {_differs(table, 's', 'm', present[table])}"
        )
        # rule 4: a total pass, whatever it did not read is gone
        # (CROSS JOIN fixes the join order: the small temp tables drive, so an
        # incremental plan never scans the store's tables.)
        db.execute(
            f"INSERT INTO temp.plan SELECT '{table}', m.pass, m.guid, 'delete', "
            f"m.dn, m.{label} FROM temp.stage_modes AS p CROSS JOIN main.{table} AS m "
            "WHERE p.mode = 'total' AND m.pass = p.pass AND NOT EXISTS (SELECT 1 "
            f"FROM {stage} AS s WHERE s.pass = m.pass AND s.guid = m.guid)"
        )
        # rule 5: an incremental pass, what it saw removed, unless it also read it live
        db.execute(
            f"INSERT INTO temp.plan SELECT '{table}', m.pass, m.guid, "
            f"'delete', m.dn, m.{label} FROM temp.stage_removals AS r CROSS JOIN "
            f"temp.stage_modes AS p CROSS JOIN main.{table} AS m WHERE p.pass = r.pass "
            "AND p.mode = 'incremental' AND m.pass = r.pass AND m.guid = r.guid AND "
            f"NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE s.pass = m.pass AND "
            "s.guid = m.guid)"
        )
    return {table: _count(db, table) for table in KINDS}


def _count(db: sqlite3.Connection, table: Kind) -> Changes:
    """Rule 8: objects, once per objectGUID, per operation."""
    ops = dict(
        db.execute(
            "SELECT op, count(DISTINCT guid) FROM temp.plan WHERE kind = ? GROUP BY op", (table,)
        ).fetchall()
    )
    return Changes(
        added=ops.get("insert", 0), changed=ops.get("update", 0), removed=ops.get("delete", 0)
    )


def planned(
    db: sqlite3.Connection, op: Op | None = None, *, limit: int | None = None
) -> Iterator[PlannedChange]:
    """The planned changes (all, or one op), ordered by kind, op and DN: one per object
    and operation, its passes joined (``domain+gc``) when both make it."""
    args: list[Any] = [] if op is None else [op]
    where = "" if op is None else "WHERE op = ?"
    sql = (
        "SELECT kind, group_concat(pass, '+'), op, min(dn), coalesce(min(label), '') "
        f"FROM (SELECT * FROM temp.plan {where} ORDER BY pass) "
        "GROUP BY kind, guid, op ORDER BY kind, op, min(dn)"
    )
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    for kind, passes, what, dn, label in db.execute(sql, args):
        yield PlannedChange(kind, passes, what, dn, label)
