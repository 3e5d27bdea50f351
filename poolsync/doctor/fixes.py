"""The commands that mend a DC's replication, for every place the doctor needs them.

Each fix names the command for a Windows DC (repadmin), a Samba DC (samba-tool), a
PowerShell or LDIF equivalent for the object itself, and the poolsync lab command that
does the same in a lab, so a user can paste the one that fits.
"""

from __future__ import annotations

from typing import Final, Literal

from poolsync.forest import Connection, DomainController

__all__ = ["connection_fix", "missing_connection_fix", "options_fix"]

Direction = Literal["inbound", "outbound"]
_OPTION: Final = {"inbound": ("DISABLE_INBOUND_REPL", 2), "outbound": ("DISABLE_OUTBOUND_REPL", 4)}


def options_fix(dc: DomainController, direction: Direction) -> str:
    flag, bit = _OPTION[direction]
    lab = "--inbound on" if direction == "inbound" else "--outbound on"
    return (
        f"Re-enable {direction} replication on {dc.name}: `repadmin /options {dc.name} "
        f"-{flag}` (Windows) or `samba-tool drs options {dc.name} --dsa-option=-{flag}` "
        f'(Samba); with PowerShell: `Set-ADObject "{dc.dsa_dn}" -Replace @{{options='
        f'((Get-ADObject "{dc.dsa_dn}" -Properties options).options -band -bnot '
        f"{bit})}}`. In a poolsync lab: `poolsync lab replication {dc.name} {lab}`."
    )


def connection_fix(conn: Connection) -> str:
    return (
        f"Enable the connection {conn.source} -> {conn.target}: LDIF for ldifde -i or "
        f"ldapmodify: `dn: {conn.dn}` `changetype: modify` `replace: enabledConnection` "
        f'`enabledConnection: TRUE`; with PowerShell: `Set-ADObject "{conn.dn}" -Replace '
        f"@{{enabledConnection=$true}}`; or let the KCC rebuild it: `repadmin /kcc "
        f"{conn.target}` / `samba-tool drs kcc {conn.target}`. In a poolsync lab: "
        f"`poolsync lab connection --from {conn.source} --to {conn.target} --enable`."
    )


def missing_connection_fix(dc: DomainController, source: str | None = None) -> str:
    lab_from = source or "<DC>"
    return (
        f"Create a replication connection into {dc.name} (Active Directory Sites and "
        f"Services: NTDS Settings, New Connection) or run the KCC: `repadmin /kcc "
        f"{dc.name}` / `samba-tool drs kcc {dc.name}`. In a poolsync lab: `poolsync lab "
        f"connection --from {lab_from} --to {dc.name} --enable`."
    )
