"""One benchmark run: lab, alternating timed reads, incremental, figures."""

from __future__ import annotations

import os
import platform
import signal
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import lab as benchlab
from bench import measure
from poolsync.lab.build import read_state
from poolsync.profile import load_profile


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM (a test's timeout, a CI job cancelled) into SystemExit so the
    # finally blocks stop the samba this run started.
    raise SystemExit(128 + signum)


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "samba": benchlab.samba_version(),
        "platform": platform.platform(),
    }


def on_the_lab(
    lab: benchlab.CachedLab, *, what: str, measure: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Build ``lab`` (once; then cached) or restore it, ``measure`` on it, remove it
    whatever happens: the figures, then the lab's own (build, restore, cache)."""
    signal.signal(signal.SIGTERM, _terminate)
    build_s: float | None = None
    try:
        if not lab.tarball.exists():
            say(f"building a lab of {what} in {lab.lab_dir} (once; then cached)")
            build_s = benchlab.build_and_save(lab)
            say(f"built in {build_s:.1f} s, saved {lab.tarball}")
        say(f"restoring {lab.tarball.name}")
        restore_s = benchlab.restore(lab)
        say(f"restored and started in {restore_s:.1f} s")
        figures = measure()
    finally:
        say(f"stopping the lab and removing {lab.lab_dir} (the tarball stays)")
        benchlab.remove(lab.lab_dir)
    return {
        **figures,
        "build_s": None if build_s is None else round(build_s, 1),
        "restore_s": round(restore_s, 2),
        "cache": {
            "key": lab.key,
            "tarball": str(lab.tarball),
            "tarball_mb": round(lab.tarball.stat().st_size / 2**20, 1),
        },
    }


def run_bench(*, subscribers: int, repeat: int, cache_dir: Path) -> dict[str, Any]:
    lab = benchlab.cached_lab(cache_dir, subscribers, load_profile(benchlab.PROFILE))
    return {
        "meta": {
            "type": "bench",
            "version": 1,
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "subscribers": subscribers,
        **on_the_lab(
            lab,
            what=f"{subscribers} subscribers",
            measure=lambda: _measure(lab, subscribers=subscribers, repeat=repeat),
        ),
        "machine": machine(),
    }


def _measure(lab: benchlab.CachedLab, *, subscribers: int, repeat: int) -> dict[str, Any]:
    profile = load_profile(benchlab.PROFILE)
    config = measure.lab_config(lab)
    state = read_state(lab.lab_dir)
    if state is None:
        raise SystemExit(f"bench: no lab state in {lab.lab_dir}")
    args = measure.ldapsearch_args(config, profile, state)
    work = measure.Workspace(lab)
    try:
        searches: list[measure.Timed] = []
        totals: list[measure.Timed] = []
        last_store: Path | None = None
        for i in range(1, repeat + 1):
            search = measure.run_ldapsearch(args, ca_file=Path(state.ca_file))
            searches.append(search)
            say(
                f"[{i}/{repeat}] ldapsearch: {search.entries} entries in "
                f"{search.seconds:.2f} s ({search.per_second:,.0f}/s)"
            )
            last_store = work.dir / f"total-{i}.db"
            total = measure.run_poolsync(work.config_for(last_store), total=True)
            totals.append(total)
            say(
                f"[{i}/{repeat}] poolsync resync --total: {total.entries} entries in "
                f"{total.seconds:.2f} s ({total.per_second:,.0f}/s), "
                f"peak RSS {total.peak_rss_mb:.0f} MB"
            )
        assert last_store is not None
        changes = measure.subscriber_changes(subscribers, profile, config.directory.dc.base_dn)
        change_s = measure.apply_changes(lab, changes)
        incr_store = work.dir / "incremental.db"
        measure.copy_store(last_store, incr_store)
        incr = measure.run_poolsync(work.config_for(incr_store), total=False)
        assert incr.doc is not None
        modes = sorted({p["mode"] for p in incr.doc["passes"]})
        updated = incr.doc["changes"]["subscribers"]["update"]
        say(
            f"{len(changes)} changes applied in {change_s:.1f} s; incremental resync "
            f"({'/'.join(modes)}): {updated} subscribers updated in {incr.seconds:.2f} s"
        )
    finally:
        work.cleanup()
    ldap_rate = statistics.median(s.per_second for s in searches)
    sync_rate = statistics.median(t.per_second for t in totals)
    total_s = statistics.median(t.seconds for t in totals)
    internal_s = statistics.median(float((t.doc or {}).get("seconds", 0.0)) for t in totals)
    return {
        "ldapsearch_entries_per_s": round(ldap_rate),
        "ldapsearch_entries": searches[-1].entries,
        "poolsync_entries_per_s": round(sync_rate),
        "poolsync_entries": totals[-1].entries,
        "ratio": round(sync_rate / ldap_rate, 3) if ldap_rate else None,
        "peak_rss_mb": round(max(t.peak_rss_mb for t in totals), 1),
        "total_resync_s": round(total_s, 2),
        "total_resync_internal_s": round(internal_s, 2),  # the run's own timing
        "incremental_s": round(incr.seconds, 2),
        # The pass alone, as a service runs it (no process start-up), over the same
        # figure for the total: what an incremental pass costs inside a running service.
        "incremental_internal_s": round(float(incr.doc.get("seconds", 0.0)), 3),
        "incremental_internal_ratio": (
            round(float(incr.doc.get("seconds", 0.0)) / internal_s, 3) if internal_s else None
        ),
        "incremental_ratio": round(incr.seconds / total_s, 3) if total_s else None,
        "incremental_changes": len(changes),
        "incremental_updated": updated,
        "incremental_modes": modes,
        "repeat": repeat,
    }
