"""A connection reset between pages, through a TCP proxy in front of the real DC.

The proxy listens on the DC's own loopback address (so the DC's certificate still
names the address poolsync connects to) and resets the first connections after a
number of bytes from the DC, mid-search. The pass must be retried from scratch and
the store end up exactly as a clean run leaves it; when every connection is reset the
run fails with exit 5 and one line, and the store keeps its previous state.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helpers import run, run_json

pytestmark = pytest.mark.integration


class ResettingProxy:
    """Forwards TCP to ``target``; the first ``resets`` connections are reset (RST)
    once ``after`` bytes have come back from the server."""

    def __init__(self, address: str, target: tuple[str, int], *, after: int, resets: int) -> None:
        self.target = target
        self.after = after
        self.resets_left = resets
        self.connections = 0
        self.reset_done = 0
        self._listener = socket.create_server((address, 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            reset = self.resets_left > 0
            self.resets_left -= int(reset)
            threading.Thread(target=self._serve, args=(client, reset), daemon=True).start()

    def _serve(self, client: socket.socket, reset: bool) -> None:
        server = socket.create_connection(self.target)
        done = threading.Event()

        def pump(src: socket.socket, dst: socket.socket, limit: int | None) -> None:
            sent = 0
            try:
                while not done.is_set():
                    data = src.recv(4096)
                    if not data:
                        break
                    if limit is not None and sent + len(data) > limit:
                        dst.sendall(data[: limit - sent])
                        # SO_LINGER 0: close() sends a TCP RST, a real "reset by peer".
                        dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        # Wake the other direction's blocked recv, or the socket (and
                        # the RST) would wait for it.
                        dst.shutdown(socket.SHUT_RD)
                        self.reset_done += 1
                        break
                    dst.sendall(data)
                    sent += len(data)
            except OSError:
                pass
            finally:
                done.set()
                for s in (client, server):
                    with contextlib.suppress(OSError):
                        s.close()

        threading.Thread(target=pump, args=(client, server, None), daemon=True).start()
        pump(server, client, self.after if reset else None)


def proxied_config(
    lab: Path, name: str, proxy: ResettingProxy, address: str, *, attempts: int
) -> Path:
    doc = yaml.safe_load((lab / "poolsync.yaml").read_text())
    directory = doc["directory"]
    directory["dc"]["url"] = f"ldaps://{address}:{proxy.port}"
    directory["page_size"] = 10  # many pages: the reset lands between two of them
    directory["retries"] = {"attempts": attempts, "initial_wait": 0.05, "max_wait": 0.1}
    directory["timeouts"] = {"connect": 2, "operation": 10}
    doc["store"] = f"{name}.db"
    path = lab / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def rows(store: Path) -> list[Any]:
    with sqlite3.connect(store) as db:
        return (
            db.execute(
                "SELECT pass, guid, dn, home, um, inbox FROM subscribers ORDER BY pass, guid"
            ).fetchall()
            + db.execute(
                "SELECT pass, guid, dn, name FROM locations ORDER BY pass, guid"
            ).fetchall()
        )


def test_a_reset_between_pages_retries_the_pass(exclusions_lab: Path) -> None:
    state = json.loads((exclusions_lab / "lab.json").read_text())
    address = state["dcs"][0]["address"]
    clean = exclusions_lab / "clean.db"
    doc = yaml.safe_load((exclusions_lab / "poolsync.yaml").read_text())
    doc["store"] = "clean.db"
    (exclusions_lab / "clean.yaml").write_text(yaml.safe_dump(doc))
    assert run("--config", exclusions_lab / "clean.yaml", "resync", "--total").exit_code == 0

    proxy = ResettingProxy(address, (address, 636), after=6000, resets=1)
    try:
        config = proxied_config(exclusions_lab, "reset-once", proxy, address, attempts=3)
        summary = run_json("--config", config, "resync", "--total", "--format", "json")
    finally:
        proxy.close()
    assert proxy.reset_done == 1
    domain = summary["passes"][0]
    assert domain["attempts"] == 2  # the reset pass was read again from scratch
    assert rows(exclusions_lab / "reset-once.db") == rows(clean)


def test_resets_on_every_attempt_fail_cleanly(exclusions_lab: Path) -> None:
    state = json.loads((exclusions_lab / "lab.json").read_text())
    address = state["dcs"][0]["address"]
    proxy = ResettingProxy(address, (address, 636), after=6000, resets=0)
    config = proxied_config(exclusions_lab, "reset-always", proxy, address, attempts=2)
    try:
        assert run("--config", config, "resync", "--total").exit_code == 0
        before = rows(exclusions_lab / "reset-always.db")
        proxy.resets_left = 100
        result = run("--config", config, "resync", "--total")
    finally:
        proxy.close()
    assert result.exit_code == 5, result.stderr
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("poolsync: error: ") and "Traceback" not in result.stderr
    assert rows(exclusions_lab / "reset-always.db") == before
    history = run_json("--config", config, "history", "--format", "json")
    assert history["runs"][0]["status"] == "failed"
