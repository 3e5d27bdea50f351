"""Subscribers added to a running lab in steps, for the capacity demo (``lab grow``).

Each step adds users homed on the lab's pooled servers, split in proportion to the
subscribers each already has (every fourth one with UM where the profile has license
classes). Their names record the step,
so a later ``lab grow`` removes them first and starts again from the topology's
numbers: growing twice gives the same directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from poolsync.lab.edit import Add, Delete, LabEditor
from poolsync.lab.ldif import location_object_id, subscriber_attributes
from poolsync.profile import Profile

if TYPE_CHECKING:  # types only: topology/ is loaded by build.load_topology alone
    from topology.spec import Topology

GROWN_FILE = "grown.json"


@dataclass(frozen=True, slots=True)
class Grower:
    """Adds the users of each step to the lab in ``lab_dir``."""

    lab_dir: Path
    topology: Topology
    profile: Profile

    def servers(self) -> list[tuple[str, int]]:
        """The pooled primaries and their share weights (their topology subscribers)."""
        return [
            (s.name, max(1, s.subscribers.vm))
            for s in self.topology.servers
            if s.failover_of is None and s.pooling and s.attachment == "ok"
        ]

    def reset(self) -> int:
        """Delete the users an earlier ``grow`` added; how many."""
        record = self.lab_dir / GROWN_FILE
        if not record.exists():
            return 0
        dns: list[str] = json.loads(record.read_text())
        LabEditor(self.lab_dir).apply([Delete(dn) for dn in dns])
        record.unlink()
        return len(dns)

    def add(self, step: int, count: int) -> list[str]:
        """Add ``count`` users for ``step``; their DNs (also recorded for ``reset``)."""
        shares = _split(count, self.servers())
        sub = self.profile.subscriber
        base = self.topology.base_dn
        changes: list[Add] = []
        for index, (name, n) in enumerate(shares):
            home = location_object_id(self.topology, name)
            for i in range(n):
                cn = f"grown {name} {step:02d}-{i:04d}"
                sam = f"g{step:02d}{index:02d}{i:05d}"
                classes = [sub.um_value] if i % 4 == 0 else []
                changes.append(
                    Add(
                        f"CN={cn},OU=Subscribers,OU=Unity,{base}",
                        subscriber_attributes(
                            self.profile, sam=sam, home=home, dtmf_id=None, classes=classes
                        ),
                    )
                )
        if changes:
            LabEditor(self.lab_dir).apply(changes)
        record = self.lab_dir / GROWN_FILE
        held: list[str] = json.loads(record.read_text()) if record.exists() else []
        record.write_text(json.dumps([*held, *(c.dn for c in changes)]))
        return [c.dn for c in changes]


def _split(count: int, weights: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """``count`` split over the servers in proportion to their weights (largest
    remainder, so the parts add up to ``count``)."""
    total = sum(w for _, w in weights)
    if total == 0 or count <= 0:
        return [(name, 0) for name, _ in weights]
    exact = [(name, count * w / total) for name, w in weights]
    parts = [(name, int(x)) for name, x in exact]
    left = count - sum(n for _, n in parts)
    order = sorted(range(len(exact)), key=lambda i: exact[i][1] - parts[i][1], reverse=True)
    bumped = {i for i in order[:left]}
    return [(name, n + (1 if i in bumped else 0)) for i, (name, n) in enumerate(parts)]
