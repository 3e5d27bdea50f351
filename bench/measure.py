"""The timed runs: paged ldapsearch vs ``poolsync resync``, total and incremental."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.lab import CachedLab, poolsync_exe, server_names, split
from poolsync.config import Config, load_config
from poolsync.lab.build import LabState
from poolsync.lab.edit import LabEditor, Replace
from poolsync.profile import Profile
from poolsync.sync import decode

PAGE_SIZE = 1000
CHANGES = 100


@dataclass(frozen=True)
class Timed:
    seconds: float
    entries: int
    peak_rss_mb: float = 0.0
    doc: dict[str, Any] | None = None

    @property
    def per_second(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else 0.0


def ldapsearch_args(config: Config, profile: Profile, state: LabState) -> list[str]:
    """The domain pass's subscriber read (base, filter, attributes) as ldapsearch, on
    the config's preferred DC with the lab's bind account."""
    dc = config.directory.dc
    return [
        "ldapsearch",
        "-LLL",
        "-x",
        "-o",
        "ldif-wrap=no",
        "-H",
        dc.url,
        "-D",
        state.bind_user,
        "-y",
        state.password_file,
        "-b",
        dc.base_dn,
        "-E",
        f"pr={PAGE_SIZE}/noprompt",
        decode.subscriber_filter(profile),
        *decode.subscriber_attributes(profile),
    ]


def run_ldapsearch(args: list[str], *, ca_file: Path) -> Timed:
    """Time the read; count entries by the ``dn:`` lines as they stream past."""
    env = {**os.environ, "LDAPTLS_CACERT": str(ca_file), "LDAPTLS_REQCERT": "demand"}
    count = 0
    started = time.monotonic()
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(b"dn:"):
                count += 1
        err = proc.stderr.read() if proc.stderr is not None else b""
        code = proc.wait()
    seconds = time.monotonic() - started
    if code != 0:
        raise SystemExit(
            f"bench: ldapsearch failed (exit {code}): {err.decode(errors='replace').strip()[-400:]}"
        )
    return Timed(seconds=seconds, entries=count)


class Workspace:
    """Stores and configs of the timed runs, in a temporary directory of their own."""

    def __init__(self, lab: CachedLab) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="poolsync-bench-"))
        self.lab = lab
        self._base = yaml.safe_load(lab.config.read_text())
        lab_dir = lab.lab_dir
        directory = self._base["directory"]
        # Absolute paths: the configs live here, not in the lab directory.
        directory["bind"]["password"]["file"] = str(lab_dir / directory["bind"]["password"]["file"])
        directory["tls"]["ca_file"] = str(lab_dir / directory["tls"]["ca_file"])
        # The Unity servers' own endpoints play no part in what the bench times.
        self._base.pop("servers", None)

    def config_for(self, store: Path) -> Path:
        path = store.with_suffix(".yaml")
        path.write_text(yaml.safe_dump({**self._base, "store": str(store)}, sort_keys=False))
        path.chmod(0o600)  # poolsync refuses a config others can write (a umask of 000)
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _child_env() -> dict[str, str]:
    """poolsync runs as an installed program does: Python may cache its bytecode (a
    shell with PYTHONDONTWRITEBYTECODE set would otherwise make every run recompile
    poolsync's sources, about 50 ms of start-up)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Child:
    """One finished child process: wall seconds, peak RSS and exit code."""

    seconds: float
    peak_rss_mb: float
    code: int


def run_child(
    args: list[str], *, out_path: Path, err_path: Path, ok: tuple[int, ...] = (0,)
) -> Child:
    """Run ``args`` with stdout and stderr to files; the wall time and the child's peak
    RSS (wait4's ru_maxrss, KiB on Linux). An exit code not in ``ok`` ends the bench."""
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=_child_env()
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped by wait4: tell Popen so it does not wait again
    if code not in ok:
        raise SystemExit(
            f"bench: {' '.join(args)} failed (exit {code}): "
            f"{err_path.read_text(errors='replace').strip()[-600:]}"
        )
    return Child(seconds=seconds, peak_rss_mb=usage.ru_maxrss / 1024, code=code)


def run_poolsync(config: Path, *, total: bool) -> Timed:
    """Run ``poolsync resync`` as a child; wall time, entries read by both passes, and
    the child's peak RSS."""
    args = [poolsync_exe(), "-c", str(config), "resync", "--format", "json"]
    if total:
        args.insert(4, "--total")
    out_path = config.with_suffix(".out")
    # 3: synced, a pool out of compliance
    child = run_child(args, out_path=out_path, err_path=config.with_suffix(".err"), ok=(0, 3))
    doc: dict[str, Any] = json.loads(out_path.read_text())
    entries = sum(p["locations"] + p["subscribers"] for p in doc["passes"])
    return Timed(seconds=child.seconds, entries=entries, peak_rss_mb=child.peak_rss_mb, doc=doc)


def copy_store(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        src = source.with_name(source.name + suffix)
        if src.exists():
            shutil.copy2(src, target.with_name(target.name + suffix))


def subscriber_changes(subscribers: int, profile: Profile, base_dn: str) -> list[Replace]:
    """Up to CHANGES new extensions (DTMF ids), spread over the servers and users."""
    counts = split(subscribers, len(server_names()))
    wanted = min(CHANGES, subscribers)
    per_server = split(wanted, len(counts))
    changes: list[Replace] = []
    for name, count, k in zip(server_names(), counts, per_server, strict=True):
        step = max(1, count // max(k, 1))
        for j in range(k):
            n = j * step
            changes.append(
                Replace(
                    dn=f"CN={name} {n:06d},OU=Subscribers,OU=Unity,{base_dn}",
                    attribute=profile.subscriber.dtmf_id,
                    values=(f"9{len(changes):07d}",),
                )
            )
    return changes


def apply_changes(lab: CachedLab, changes: list[Replace]) -> float:
    started = time.monotonic()
    LabEditor(lab.lab_dir).apply(changes)
    return time.monotonic() - started


def lab_config(lab: CachedLab) -> Config:
    return load_config(lab.config)
