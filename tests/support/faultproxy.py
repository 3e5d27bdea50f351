"""A fault-injecting TCP proxy of the test suite's own, for loopback only.

It listens on the DC's own address (so the DC's certificate still names what poolsync
connects to) and forwards to the DC's port. Each new connection takes the next fault
from a queue, or none:

* ``reset(after)``: forward until ``after`` bytes have come back from the DC, then reset
  both sides (RST, not FIN): mid-handshake, mid-bind or mid-page depending on ``after``;
* ``stall``: accept and never answer (the DC is never contacted);
* ``slow(delay, chunk)``: forward, but the DC's bytes trickle back ``chunk`` at a time
  with ``delay`` seconds between chunks;
* ``refuse``: accept and reset at once, before a byte is exchanged.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    kind: str  # reset | stall | slow | refuse
    after: int = 0
    delay: float = 0.0
    chunk: int = 0

    def __str__(self) -> str:
        if self.kind == "reset":
            return f"reset after {self.after} bytes"
        if self.kind == "slow":
            return f"slow ({self.chunk} bytes per {self.delay * 1000:.0f} ms)"
        return self.kind


def reset(after: int) -> Fault:
    return Fault("reset", after=after)


def slow(delay: float, chunk: int) -> Fault:
    return Fault("slow", delay=delay, chunk=chunk)


STALL = Fault("stall")
REFUSE = Fault("refuse")


def _hard_close(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class FaultProxy:
    """Forwards ``address:port`` to ``target``; see the module docstring."""

    def __init__(self, address: str, target: tuple[str, int]) -> None:
        self.target = target
        self._faults: deque[Fault | None] = deque()
        self._lock = threading.Lock()
        self.connections = 0
        self.applied: Counter[str] = Counter()
        self._listener = socket.create_server((address, 0))
        self.address = address
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True, name="faultproxy").start()

    def plan(self, faults: list[Fault | None]) -> None:
        """The faults for the next connections, in order (None: a clean connection);
        connections after these are clean."""
        with self._lock:
            self._faults = deque(faults)

    def clear(self) -> None:
        """Forget any planned faults and cut every connection still open."""
        with self._lock:
            self._faults.clear()
            open_now = list(self._open)
        for sock in open_now:
            _hard_close(sock)

    def close(self) -> None:
        self._stop.set()
        self.clear()
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _untrack(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._open.discard(sock)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                fault = self._faults.popleft() if self._faults else None
            self.applied[fault.kind if fault else "clean"] += 1
            self._track(client)
            threading.Thread(target=self._serve, args=(client, fault), daemon=True).start()

    def _serve(self, client: socket.socket, fault: Fault | None) -> None:
        if fault is not None and fault.kind == "refuse":
            self._untrack(client)
            _hard_close(client)
            return
        if fault is not None and fault.kind == "stall":
            self._stall(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._untrack(client)
            _hard_close(client)
            return
        upstream.settimeout(None)
        self._track(upstream)
        try:
            self._pump(client, upstream, fault)
        finally:
            self._untrack(client, upstream)
            _hard_close(client)
            _hard_close(upstream)

    def _stall(self, client: socket.socket) -> None:
        """Read and drop what the client sends; never answer; end when it gives up."""
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([client], [], [], 0.2)
                if ready and not client.recv(65536):
                    return
        except OSError:
            return
        finally:
            self._untrack(client)
            _hard_close(client)

    def _pump(self, client: socket.socket, upstream: socket.socket, fault: Fault | None) -> None:
        back = 0  # bytes from the DC to the client so far
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([client, upstream], [], [], 0.2)
            except (OSError, ValueError):
                return
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if sock is client:
                    upstream.sendall(data)
                    continue
                if fault is not None and fault.kind == "reset" and back + len(data) >= fault.after:
                    with contextlib.suppress(OSError):
                        client.sendall(data[: max(0, fault.after - back)])
                    return  # the finally block resets both sides
                back += len(data)
                if fault is not None and fault.kind == "slow":
                    for start in range(0, len(data), fault.chunk):
                        if self._stop.is_set():
                            return
                        time.sleep(fault.delay)
                        try:
                            client.sendall(data[start : start + fault.chunk])
                        except OSError:
                            return
                else:
                    try:
                        client.sendall(data)
                    except OSError:
                        return
