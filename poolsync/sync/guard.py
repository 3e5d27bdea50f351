"""The guards a plan passes before it is committed (pure).

A total pass that read no Locations where the store holds some (a wrong base DN, a bind
account without read rights, a GC missing the attributes, an export of the wrong
objects) and a plan that deletes more than ``sync.deletions`` allows are refused;
nothing is committed then. These functions only decide and word the refusal: the run
(:mod:`poolsync.sync.engine`) raises it, or shows it in a dry run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from poolsync.records import Plan, PlannedChange

__all__ = ["GUARD_SAMPLE", "PassOutcome", "refusal"]

GUARD_SAMPLE = 20  # objects named when the deletion guard trips


@dataclass(frozen=True, slots=True)
class PassOutcome:
    """What the guard needs to know of one pass."""

    name: str
    mode: str  # total | incremental
    locations: int  # live Locations read
    endpoint: str
    naming_context: str


def refusal(
    plan: Plan,
    passes: Sequence[PassOutcome],
    held: Mapping[str, int],
    *,
    limit: int,
    allow_empty: bool,
    allow_deletes: int | None,
    deleting: Sequence[PlannedChange],
) -> str | None:
    """Why the plan must not be committed, or None.

    ``held`` is how many Locations the store holds per pass, ``limit`` how many deletions
    ``sync.deletions`` allows, ``deleting`` the first planned deletions (up to
    :data:`GUARD_SAMPLE`), named in the refusal.
    """
    for done in passes:
        if (
            done.mode == "total"
            and done.locations == 0
            and held.get(done.name, 0) > 0
            and not allow_empty
        ):
            return (
                f"the {done.name} pass read no Locations from {done.endpoint} "
                f"(base {done.naming_context or '(forest root)'!r}) but the store holds "
                f"{held[done.name]}; nothing was changed. Check the base DN and the bind "
                "account's read rights, or rerun with --allow-empty if the servers are "
                "really gone"
            )
    deletes = plan.deletes
    if deletes <= limit or (allow_deletes is not None and deletes <= allow_deletes):
        return None
    names = "; ".join(f"{c.kind[:-1]} {c.label or c.dn}" for c in deleting)
    more = f" and {deletes - len(deleting)} more" if deletes > len(deleting) else ""
    allowed = (
        f"--allow-deletes {allow_deletes} allows fewer"
        if allow_deletes is not None
        else f"the guard allows {limit}"
    )
    return (
        f"the run would delete {deletes} object{'' if deletes == 1 else 's'} of the "
        f"{plan.held} held ({allowed}); "
        f"nothing was changed. Deleting: {names}{more}. Check the directory (and "
        f"`poolsync resync --dry-run -v`), then rerun with --allow-deletes {deletes}"
    )
