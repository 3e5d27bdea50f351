"""The health of the forest's DCs, whether or not a pool member is affected now (pure).

A DC that refuses replication, a disabled connection or a DC with no inbound
connection breaks the pool the moment a Location changes on the wrong side of it: they
are warnings even while every server is seen. Each finding names the DC, the evidence
read from the configuration partition and the fix for a real forest (repadmin, an LDIF
for ldifde/ldapmodify, Set-ADObject) and for a poolsync lab.

Internal to :mod:`poolsync.doctor`; the entry point is
:func:`poolsync.doctor.causes.diagnose`.
"""

from __future__ import annotations

from collections.abc import Sequence

from poolsync.doctor.fixes import connection_fix, missing_connection_fix, options_fix
from poolsync.doctor.model import NO_VIEWERS, DcHealth, DoctorInput, Finding
from poolsync.forest import DomainController, ForestConfig

__all__ = ["dc_health", "monitor_findings"]


def _findings(topology: ForestConfig, dc: DomainController, read_on: str) -> list[Finding]:
    found: list[Finding] = []
    others = [d.name for d in topology.dcs if d.name != dc.name]
    if dc.inbound_disabled:
        found.append(
            Finding(
                "inbound-replication-disabled",
                "warning",
                NO_VIEWERS,
                f"{dc.name}'s NTDS Settings ({dc.dsa_dn}) have DISABLE_INBOUND_REPL in their "
                f"options (read on {read_on}): {dc.name} receives no change from "
                f"{', '.join(others) or 'any DC'}.",
                options_fix(dc, "inbound"),
            )
        )
    if dc.outbound_disabled:
        found.append(
            Finding(
                "outbound-replication-disabled",
                "warning",
                NO_VIEWERS,
                f"{dc.name}'s NTDS Settings ({dc.dsa_dn}) have DISABLE_OUTBOUND_REPL in their "
                f"options (read on {read_on}): no DC receives a change made on {dc.name}.",
                options_fix(dc, "outbound"),
            )
        )
    inbound = [c for c in topology.connections if c.target == dc.name]
    for conn in inbound:
        if not conn.enabled:
            found.append(
                Finding(
                    "connection-disabled",
                    "warning",
                    NO_VIEWERS,
                    f"The connection {conn.source} -> {conn.target} ({conn.dn}) has "
                    f"enabledConnection FALSE (read on {read_on}).",
                    connection_fix(conn),
                )
            )
    if not inbound and others:
        found.append(
            Finding(
                "connection-missing",
                "warning",
                NO_VIEWERS,
                f"{dc.name} has no replication connection object (no nTDSConnection under "
                f"{dc.dsa_dn}, read on {read_on}): it pulls from no DC.",
                missing_connection_fix(dc),
            )
        )
    return found


def dc_health(inp: DoctorInput) -> tuple[DcHealth, ...]:
    """One entry per DC of the forest (by name), with its findings."""
    read_on = ", ".join(sorted({p.dc for p in inp.probes if p.error is None})) or "no DC"
    return tuple(
        DcHealth(dc.name, tuple(_findings(inp.topology, dc, read_on)))
        for dc in sorted(inp.topology.dcs, key=lambda d: d.name.lower())
    )


def monitor_findings(
    inp: DoctorInput, health: Sequence[DcHealth], server_names: Sequence[str]
) -> dict[str, Finding]:
    """Per server name (lower-case): a warning when a DC its monitors use is unhealthy,
    even when nothing is missing from its view yet (a failover secondary included)."""
    sick = {h.name.lower(): h for h in health if not h.healthy}
    found: dict[str, Finding] = {}
    wanted = {n.lower() for n in server_names}
    for monitor in inp.monitors:
        if monitor.server.lower() not in wanted:
            continue
        used = [
            (role, dc)
            for role, dc in (("domain", monitor.dc), ("GC", monitor.gc))
            if dc is not None and dc.lower() in sick
        ]
        if not used:
            continue
        parts = [
            f"its {role} monitor uses {dc}, which has "
            + ", ".join(f.cause for f in sick[dc.lower()].findings)
            for role, dc in used
        ]
        found[monitor.server.lower()] = Finding(
            "monitor-dc-unhealthy",
            "warning",
            NO_VIEWERS,
            f"{monitor.server} sees the pool through DCs with replication problems: "
            + "; ".join(parts)
            + ". Nothing may be missing yet; the next change on the "
            "wrong side of the break will be.",
            "Fix the DC's findings (listed under the DCs), or point the monitor at a healthy "
            "DC (Unity's directory monitor settings; then a Total Resync on the server).",
        )
    return found
