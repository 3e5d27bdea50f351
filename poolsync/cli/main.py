"""The ``poolsync`` group: global options, and errors turned into exit codes."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from poolsync.cli.output import shown
from poolsync.config import Config, default_config_path, load_config
from poolsync.errors import PoolsyncError, Terminated
from poolsync.profile import Profile, load_profile

if TYPE_CHECKING:
    from poolsync.directory.source import DirectorySource

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_COMPLIANT = 3
EXIT_REFUSED = 4
EXIT_DIRECTORY = 5
EXIT_LOCKED = 6

EPILOG = """\b
Exit codes: 0 ok; 1 an error not listed here; 2 usage or configuration error;
3 done, with findings (a pool or server is not compliant; license check: the
verdict is not licensed or demo; license show: a file has an error; doctor: a
server has a problem; report capacity: a pool runs out within the horizon);
4 a resync refused to commit an unsafe change (nothing was changed); 5 the
directory could not be read; 6 another run holds the store; 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM). An interrupted run commits nothing and is
recorded cancelled.
Documentation: docs/ in the source tree (operations.md starts there)."""


class _SafeFormatter(logging.Formatter):
    """Log lines carry DNs and names from the directory: no control character in them
    reaches the terminal (or the journal) as such."""

    def format(self, record: logging.LogRecord) -> str:
        return shown(super().format(record))


@dataclass
class Context:
    config_path: Path
    debug: bool
    _config: Config | None = None

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def loaded_store(self) -> Path | None:
        """The store's path, when the config was loaded (for error messages)."""
        return self._config.store if self._config is not None else None

    def profile(self) -> Profile:
        config = self.config()
        return load_profile(config.profile, base_dir=config.base_dir)

    def source(
        self,
        *,
        ldif: Sequence[Path] = (),
        taken_at: dt.datetime | None = None,
        require_locations: bool = True,
    ) -> DirectorySource:
        """Where the commands that read a forest read it: an LDIF export (``ldif``, else
        the config's ``directory.ldif``), validated now; else the configured DCs and
        GCs, bound with the password read now (a secret that cannot be read fails here).
        """
        config = self.config()
        files = tuple(ldif) or config.directory.ldif
        if files:
            from poolsync.cli.export import export_source

            return export_source(
                config,
                self.profile(),
                files,
                taken_at=taken_at,
                require_locations=require_locations,
            )
        from poolsync.directory.source import LiveSource  # not for commands that never read

        return LiveSource(config.directory, password=config.directory.bind.resolve_password())


# Each subcommand's module is imported only when that command runs (or --help lists
# them): a resync or an incremental service pass never pays for the doctor's networkx,
# the capacity report's matplotlib or the lab's tooling at start-up.
SUBCOMMANDS = {
    "resync": "poolsync.cli.resync:resync",
    "pool": "poolsync.cli.pool:pool",
    "doctor": "poolsync.cli.doctor:doctor",
    "graph": "poolsync.cli.graph:graph",
    "report": "poolsync.cli.report:report",
    "history": "poolsync.cli.history:history",
    "service": "poolsync.cli.service:service",
    "lab": "poolsync.cli.lab:lab",
    "license": "poolsync.cli.license:license_group",
    "schema": "poolsync.cli.schema:schema",
    "store": "poolsync.cli.store:store",
    "servers": "poolsync.cli.servers:servers",
}


class PoolsyncGroup(click.Group):
    """Loads subcommands lazily; prints a PoolsyncError as one line on stderr instead
    of a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *SUBCOMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PoolsyncError as exc:
            debug = bool(ctx.obj.debug) if isinstance(ctx.obj, Context) else False
            if debug:
                logging.getLogger("poolsync").exception("failed")
            click.echo(f"poolsync: error: {shown(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except Terminated:
            click.echo(
                "poolsync: terminated (SIGTERM); nothing of the interrupted step was committed",
                err=True,
            )
            ctx.exit(Terminated.exit_code)
        except KeyboardInterrupt:
            click.echo(
                "poolsync: interrupted; nothing was committed by the interrupted step", err=True
            )
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: say so in one line, traceback with --debug
            debug = bool(ctx.obj.debug) if isinstance(ctx.obj, Context) else False
            store = ctx.obj.loaded_store() if isinstance(ctx.obj, Context) else None
            if store is not None:  # SQLite saying, mid-read, that the store is damaged
                from poolsync.store import damage

                damaged = damage(exc, store)
                if damaged is not None:
                    if debug:
                        logging.getLogger("poolsync").exception("failed")
                    click.echo(f"poolsync: error: {shown(str(damaged))}", err=True)
                    ctx.exit(damaged.exit_code)
            if debug:
                raise
            click.echo(
                f"poolsync: internal error: {type(exc).__name__}: {shown(str(exc))} "
                "(run with --debug for the traceback, and please report it)",
                err=True,
            )
            ctx.exit(EXIT_ERROR)


@click.group(
    cls=PoolsyncGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="POOLSYNC_CONFIG",
    show_envvar=True,
    help="Config file (default: ./poolsync.yaml).",
)
@click.option(
    "--debug",
    "-d",
    is_flag=True,
    help="Log what happens (to stderr) and show tracebacks on errors. (-v is "
    "resync's --verbose: list every planned change.)",
)
@click.version_option(package_name="poolsync")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool) -> None:
    """poolsync: Cisco Unity license pooling, read from Active Directory.

    Mirror the Unity Location objects and subscribers of a forest into a local store
    (`resync --total`), then report which servers pool their licenses and how many
    VM, UM and Inbox seats each pool has and uses (`pool`). `doctor` says why a
    server is missing from the pool; `graph` draws sites, DCs and servers; `report
    capacity` says when each pool runs out. `lab` runs a real Samba AD lab to try it
    on.
    """
    handler = logging.StreamHandler(sys.stderr)
    # The long-running service stamps every line with the time, unless journald (which
    # says so in JOURNAL_STREAM) stamps them itself; one-shot commands keep short lines.
    service = ctx.invoked_subcommand == "service"
    stamp = "%(asctime)s " if service and not os.environ.get("JOURNAL_STREAM") else ""
    handler.setFormatter(
        _SafeFormatter(
            f"{stamp}poolsync: %(levelname)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S%z"
        )
    )
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])
    if not debug:
        logging.getLogger("ldap3").setLevel(logging.WARNING)
    ctx.obj = Context(config_path=config_path or default_config_path(), debug=debug)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    # SIGTERM stops a run as Ctrl-C does (recorded, nothing committed, a message)
    # instead of killing it where it stands. `poolsync service` installs its own.
    signal.signal(signal.SIGTERM, _terminate)
    cli(prog_name="poolsync")
