"""The lab's own daemons (lighttpd, snmpd): start one, know it again, stop exactly it.

A daemon runs in the foreground as a session leader, so it and whatever it forks (the
snmpd pass_persist handler, lighttpd's CGI) form one process group that a stop ends
together. Its PID *and start time* are recorded next to its config: PIDs wrap, so a
later command only signals a process whose PID, start time and name all match the
record (as :mod:`poolsync.lab.samba` does for samba).

Entry points: :class:`Daemon`, :func:`start`, :func:`running_pid`, :func:`stop`,
:func:`rss_kib`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from poolsync.errors import LabError


@dataclass(frozen=True, slots=True)
class Daemon:
    """One daemon of the lab: its executable's process name and its record file."""

    name: str  # /proc/PID/comm, e.g. "lighttpd"
    pid_file: Path
    log: Path  # its stdout and stderr


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None when it is gone or a
    zombie (it has exited; only its parent has not collected it yet)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None
    return fields[19]


def _record(daemon: Daemon) -> tuple[int, str] | None:
    try:
        pid, started = daemon.pid_file.read_text().split()
        return int(pid), started
    except (OSError, ValueError):
        return None


def _is_ours(daemon: Daemon, pid: int, started: str) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # collect it if it is our child and has exited
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return comm == daemon.name and start_time(pid) == started


def running_pid(daemon: Daemon) -> int | None:
    """The daemon's PID when the process it recorded still runs, else None."""
    record = _record(daemon)
    return record[0] if record is not None and _is_ours(daemon, *record) else None


def start(
    daemon: Daemon,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    ready: Callable[[], bool],
    timeout: float = 15.0,
) -> tuple[int, float]:
    """Start ``argv`` and wait until ``ready()``; return its PID and the seconds it took.

    A daemon that exits or is not ready within ``timeout`` is stopped and reported
    with the end of its log.
    """
    if running_pid(daemon) is not None:
        raise LabError(f"{daemon.name} for {daemon.pid_file.parent} is already running")
    begun = time.monotonic()
    with daemon.log.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
    started = start_time(proc.pid)
    if started is not None:
        daemon.pid_file.write_text(f"{proc.pid} {started}\n")
    while started is not None and proc.poll() is None:
        if ready():
            return proc.pid, time.monotonic() - begun
        if time.monotonic() - begun > timeout:
            stop(daemon)
            raise LabError(
                f"{daemon.name} did not become ready within {timeout:g} s; "
                f"see {daemon.log}: {_tail(daemon.log)}"
            )
        time.sleep(0.005)
    proc.wait()
    daemon.pid_file.unlink(missing_ok=True)
    raise LabError(
        f"{daemon.name} exited during start-up (exit {proc.returncode}); "
        f"see {daemon.log}: {_tail(daemon.log)}"
    )


def _tail(path: Path) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-4:])
    except OSError:
        return ""


def stop(daemon: Daemon, *, timeout: float = 10.0) -> float | None:
    """Stop the daemon's process group if its recorded process still runs; return the
    seconds until it was gone (None when it was not running)."""
    record = _record(daemon)
    if record is None or not _is_ours(daemon, *record):
        daemon.pid_file.unlink(missing_ok=True)
        return None
    pid = record[0]
    begun = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)

    def alive() -> bool:
        return _is_ours(daemon, *record) or group_alive(pid)

    while alive() and time.monotonic() - begun < timeout:
        time.sleep(0.005)
    if alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    daemon.pid_file.unlink(missing_ok=True)
    return time.monotonic() - begun


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count: they have
    exited, and an orphan's is collected by PID 1 only later)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[0] != "Z" and fields[2] == str(pgid):
            return True
    return False


def rss_kib(pid: int) -> int | None:
    """The resident set size of a process in KiB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
