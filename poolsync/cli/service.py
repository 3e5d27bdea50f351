"""``poolsync service``: the long-running sync mode for systemd and containers."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType

import click

from poolsync.cli.main import Context
from poolsync.cli.output import now
from poolsync.cli.runmetrics import write_run_metrics
from poolsync.config import Config, parse_duration
from poolsync.directory.source import DirectorySource, LiveSource
from poolsync.errors import ConfigError, PoolsyncError
from poolsync.sync.engine import SyncResult
from poolsync.sync.service import Schedule, Service, Watcher

log = logging.getLogger("poolsync.service")


def _duration(_ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def _watcher_factory(
    config: Config,
    source: DirectorySource,
) -> Callable[[list[str], Callable[[], None], str | None], Watcher | None]:
    def make(
        containers: list[str], on_change: Callable[[], None], endpoint_url: str | None
    ) -> Watcher | None:
        from poolsync.directory.notify import ChangeWatcher

        endpoint = next(
            (e for e in config.directory.dcs if e.url == endpoint_url), config.directory.dc
        )
        return ChangeWatcher(
            source,
            endpoint,
            containers=containers,
            on_change=on_change,
            answer_within=config.directory.timeouts.operation,
        )

    return make


@click.command()
@click.option(
    "--every",
    default="5m",
    show_default=True,
    callback=_duration,
    help="Run an incremental pass this often (90s, 5m, 1h ...).",
)
@click.option(
    "--total-every",
    default="24h",
    show_default=True,
    callback=_duration,
    help="Run a total resync this often (it also catches what incremental "
    "reads cannot see, such as objects moved out of scope).",
)
@click.option(
    "--jitter",
    type=click.FloatRange(0, 0.5),
    default=0.1,
    show_default=True,
    help="Stretch or shrink each wait at random by up to this fraction.",
)
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Subscribe to the DC's change notifications on the containers that "
    "hold Unity objects, and run a pass within seconds of a change.",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write Prometheus text-format metrics after every pass (atomically).",
)
@click.pass_obj
def service(
    ctx: Context,
    every: float,
    total_every: float,
    jitter: float,
    watch: bool,
    metrics_file: Path | None,
) -> None:
    """Keep the store in sync until stopped (SIGTERM or SIGINT).

    Runs a pass at once, then an incremental pass every --every and a total resync
    every --total-every, and a pass within seconds of a change the DC notifies. A
    failed pass is logged to stderr and recorded in the run history; the service
    carries on. On SIGTERM/SIGINT a pass still reading stops at its next page and
    rolls back, one already committing finishes; then the service exits 0.
    Use it under systemd (examples/systemd/poolsync.service) or in a container.
    """
    config = ctx.config()
    if config.directory.ldif and not config.directory.dcs:
        raise ConfigError(
            f"{config.path}: directory.ldif: the service follows a live "
            "forest, and an export does not change; run `poolsync resync "
            "--total` once instead (docs/offline.md)"
        )
    profile = ctx.profile()
    password = config.directory.bind.resolve_password
    password()  # a secret that cannot be read is a config error: say so at start
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger("poolsync").setLevel(logging.INFO)  # a service says what it does

    def on_result(result: SyncResult, started: datetime) -> None:
        if metrics_file is not None:
            write_run_metrics(metrics_file, config, started=started, result=result)

    def on_error(error: PoolsyncError, mode: str, started: datetime) -> None:
        if metrics_file is not None:
            write_run_metrics(
                metrics_file,
                config,
                started=started,
                error=error,
                mode="total" if mode == "total" else "incremental",
            )

    # The password is read anew for every pass and every watcher connect: a rotated one
    # is picked up without a restart, and no copy stays in the process between them.
    source = LiveSource(config.directory, password=password)
    svc = Service(
        config,
        profile,
        source=source,
        schedule=Schedule(every=every, total_every=total_every, jitter=jitter),
        now=now,
        watcher_factory=_watcher_factory(config, source) if watch else None,
        on_result=on_result,
        on_error=on_error,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("service: %s received, stopping", signal.Signals(signum).name)
        svc.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info(
        "service: every %.0f s, total every %.0f s, store %s", every, total_every, config.store
    )
    try:
        stats = svc.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info(
        "service: stopped after %d passes (%d total, %d failed, %d triggered by notifications)",
        stats.passes,
        stats.totals,
        stats.failures,
        stats.triggered,
    )
    sys.stdout.flush()
