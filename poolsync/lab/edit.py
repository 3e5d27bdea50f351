"""Change a running lab's directory over LDAP, the way an administrator would.

Tests (the incremental-sync proof, service-mode latency) and the benchmark use this to
add, modify, rename, move and delete objects on a running DC. Changes go through
``ldbmodify -H ldap://DC`` (Samba's own client, signed NTLM bind) as one LDIF, so
they replicate, bump uSNChanged, leave tombstones and fire change notifications like
any administrator's change. The credentials go in an authentication file readable by
its owner only, never on a command line. This is lab tooling: poolsync itself never
writes to a directory.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from poolsync.errors import LabError
from poolsync.lab import samba
from poolsync.lab.build import LabDc, read_state
from poolsync.lab.ldif import Value, attr_line


@dataclass(frozen=True, slots=True)
class Add:
    dn: str
    attributes: tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class Replace:
    """Replace an attribute's values; no values removes the attribute."""

    dn: str
    attribute: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Rename:
    """Rename (``new_rdn`` such as ``CN=New``) and/or move under ``new_parent``."""

    dn: str
    new_rdn: str
    new_parent: str | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    dn: str


Change = Add | Replace | Rename | Delete


def ldif(changes: Iterable[Change]) -> str:
    """The changes as one LDIF change file (RFC 2849), in order."""
    blocks = []
    for change in changes:
        lines = [attr_line("dn", change.dn)]
        if isinstance(change, Add):
            lines.append("changetype: add")
            lines += [attr_line(name, value) for name, value in change.attributes]
        elif isinstance(change, Replace):
            lines += ["changetype: modify", f"replace: {change.attribute}"]
            lines += [attr_line(change.attribute, v) for v in change.values]
            lines.append("-")
        elif isinstance(change, Rename):
            lines += ["changetype: modrdn", attr_line("newrdn", change.new_rdn), "deleteoldrdn: 1"]
            if change.new_parent is not None:
                lines.append(attr_line("newsuperior", change.new_parent))
        else:
            lines.append("changetype: delete")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


class LabEditor:
    """Writes to one DC of the lab in ``lab_dir`` (the first DC unless named)."""

    def __init__(self, lab_dir: Path, *, dc: str | None = None) -> None:
        state = read_state(lab_dir)
        if state is None:
            raise LabError(f"no lab in {lab_dir}: run `poolsync lab up --dir {lab_dir}` first")
        chosen: LabDc | None = (
            state.dcs[0]
            if dc is None
            else next((d for d in state.dcs if d.name.upper() == dc.upper()), None)
        )
        if chosen is None:
            raise LabError(f"the lab in {lab_dir} has no DC named {dc}")
        self.dc = chosen
        self._auth = Path(state.dir) / "secrets" / f"ldb-auth-{chosen.name.lower()}"
        if not self._auth.exists():
            password = Path(state.password_file).read_text().strip()
            user = state.bind_user.split("@", 1)[0]
            fd = os.open(self._auth, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(f"username = {user}\npassword = {password}\ndomain = {state.netbios}\n")

    def find(self, base: str, ldap_filter: str) -> list[str]:
        """The DNs under ``base`` matching ``ldap_filter`` (an escaped RFC 4515 filter),
        sorted, as the lab's DC answers."""
        env = {**os.environ, "SMB_CONF_PATH": str(self.dc.paths.conf)}
        out = samba.run(
            [
                "ldbsearch",
                "-H",
                f"ldap://{self.dc.address}",
                "-A",
                str(self._auth),
                "-b",
                base,
                ldap_filter,
                "dn",
            ],
            what=f"searching the lab directory on {self.dc.name}",
            env=env,
        )
        dns = []
        for line in out.replace("\n ", "").splitlines():
            if line.startswith("dn:: "):
                dns.append(base64.b64decode(line[5:]).decode("utf-8"))
            elif line.startswith("dn: "):
                dns.append(line[4:])
        return sorted(dns)

    def apply(self, changes: Sequence[Change]) -> None:
        """Apply ``changes`` in order; stops at the first that fails (LabError)."""
        if not changes:
            return
        env = {**os.environ, "SMB_CONF_PATH": str(self.dc.paths.conf)}
        samba.run(
            ["ldbmodify", "-H", f"ldap://{self.dc.address}", "-A", str(self._auth)],
            what=f"changing the lab directory on {self.dc.name}",
            env=env,
            input_text=ldif(changes),
            timeout=120,
        )
