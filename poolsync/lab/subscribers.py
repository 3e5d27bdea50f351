"""Add, move and remove subscribers in a running lab (``poolsync lab subscribers``), as an
administrator would in Unity: the directory changes, and the next resync reads them."""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from poolsync.directory.filters import and_filter, equality
from poolsync.errors import LabError
from poolsync.lab.build import load_topology, require_state
from poolsync.lab.edit import Add, Delete, LabEditor, Replace
from poolsync.lab.ldif import id_value, location_object_id, subscriber_attributes
from poolsync.profile import Profile, load_profile

if TYPE_CHECKING:  # types only: topology/ is loaded by build.load_topology alone
    from topology.spec import Topology

__all__ = ["add", "move", "remove"]


class _Lab:
    def __init__(self, lab_dir: Path) -> None:
        state = require_state(lab_dir)
        self.topology: Topology = load_topology(Path(state.topology))
        self.profile: Profile = load_profile(state.profile)
        self.editor = LabEditor(Path(state.dir))
        self.base = f"OU=Subscribers,OU=Unity,{self.topology.base_dn}"

    def server(self, name: str) -> str:
        try:
            spec = self.topology.server(name)
        except KeyError:
            known = ", ".join(s.name for s in self.topology.servers)
            raise LabError(f"the lab has no server {name!r} (servers: {known})") from None
        return spec.name

    def home(self, server: str) -> str:
        return location_object_id(self.topology, server)

    def homed_on(self, server: str) -> list[str]:
        sub = self.profile.subscriber
        value = id_value(self.profile, sub.home, self.home(server))
        return self.editor.find(
            self.base,
            and_filter(equality("objectClass", sub.object_class), equality(sub.home, value)),
        )


def add(lab_dir: Path, server: str, count: int, *, um: int = 0, inbox: int = 0) -> list[str]:
    """Add ``count`` subscribers homed on ``server`` (the first ``um`` with UM, the last
    ``inbox`` with Inbox, where the profile has license classes); their DNs."""
    lab = _Lab(lab_dir)
    name = lab.server(server)
    if um > count or inbox > count:
        raise LabError(f"--um and --inbox are some of the --count {count} subscribers")
    sub = lab.profile.subscriber
    tag = secrets.token_hex(3)
    changes = []
    for n in range(count):
        classes = ([sub.um_value] if n < um else []) + (
            [sub.inbox_value] if n >= count - inbox else []
        )
        sam = f"a{tag}{n:05d}"
        changes.append(
            Add(
                f"CN={name} added {tag}-{n:05d},{lab.base}",
                (
                    ("cn", f"{name} added {tag}-{n:05d}"),
                    *subscriber_attributes(
                        lab.profile,
                        sam=sam,
                        home=lab.home(name),
                        dtmf_id=f"9{int(tag, 16) % 10**6:06d}{n:05d}",
                        classes=classes,
                    ),
                ),
            )
        )
    lab.editor.apply(changes)
    return [c.dn for c in changes]


def move(lab_dir: Path, source: str, target: str, count: int) -> list[str]:
    """Rehome ``count`` of ``source``'s subscribers (the first by DN) on ``target``."""
    lab = _Lab(lab_dir)
    src, dst = lab.server(source), lab.server(target)
    homed = lab.homed_on(src)
    if count > len(homed):
        raise LabError(f"{src} homes {len(homed)} subscribers; cannot move {count}")
    value = id_value(lab.profile, lab.profile.subscriber.home, lab.home(dst))
    moved = homed[:count]
    lab.editor.apply([Replace(dn, lab.profile.subscriber.home, (value,)) for dn in moved])
    return moved


def remove(lab_dir: Path, server: str, count: int) -> list[str]:
    """Delete ``count`` of ``server``'s subscribers (the last by DN)."""
    lab = _Lab(lab_dir)
    name = lab.server(server)
    homed = lab.homed_on(name)
    if count > len(homed):
        raise LabError(f"{name} homes {len(homed)} subscribers; cannot remove {count}")
    gone = list(itertools.islice(reversed(homed), count))
    lab.editor.apply([Delete(dn) for dn in gone])
    return gone
