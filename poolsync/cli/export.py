"""LDIF exports on the command line: ``--from-ldif`` and ``--taken-at``, the source
they make, and the line that says a report's data came from an export.

``resync --total --from-ldif FILE...`` and ``schema discover --from-ldif FILE...`` read
an export instead of the configured forest (as ``directory.ldif`` in the config does for
every command); docs/offline.md says how to take one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from poolsync.config import Config
from poolsync.profile import Profile
from poolsync.provenance import DataOrigin, data_origin
from poolsync.store import Store

if TYPE_CHECKING:  # the directory package imports ldap3: not for `pool` and `report`
    from poolsync.directory.ldif import LdifSource

F = TypeVar("F", bound=Callable[..., Any])


def _taken_at(
    ctx: click.Context,
    param: click.Parameter,
    value: str | None,
) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"expected an ISO 8601 time such as 2024-05-01T10:00:00"
            f"+02:00 (UTC when no offset is given), got {value!r}",
            ctx=ctx,
            param=param,
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def ldif_options(*, taken_at: bool = True, more: bool = True) -> Callable[[F], F]:
    """``--from-ldif FILE`` (repeatable; with ``more``, further files may follow as
    arguments: ``--from-ldif a.ldif b.ldif``) and, with ``taken_at``, ``--taken-at``.
    The command gets ``from_ldif``, ``more_ldif`` and ``taken_at`` (empty or None when
    not offered)."""
    path = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)

    def decorate(func: F) -> F:
        if more:
            func = click.argument("more_ldif", nargs=-1, type=path, metavar="[FILE...]")(func)
        if taken_at:
            func = click.option(
                "--taken-at",
                callback=_taken_at,
                metavar="ISO-TIME",
                default=None,
                help="When the export was taken (ISO 8601; UTC without an offset). "
                "Default: the export's own rootDSE currentTime, else the newest "
                "file's time.",
            )(func)
        return click.option(
            "--from-ldif",
            "from_ldif",
            type=path,
            multiple=True,
            metavar="FILE",
            help="Read an LDIF export (ldapsearch or ldifde -u) instead of the "
            "configured forest: docs/offline.md. "
            + ("More files may follow." if more else "Repeat it for more files."),
        )(func)

    return decorate


def ldif_files(
    from_ldif: Sequence[Path], more: Sequence[Path] = (), taken_at: dt.datetime | None = None
) -> tuple[Path, ...]:
    """The files of ``--from-ldif FILE [FILE...]``; usage errors for strays."""
    if more and not from_ldif:
        raise click.UsageError(
            f"unexpected argument {str(more[0])!r} (LDIF files go after --from-ldif)"
        )
    if taken_at is not None and not from_ldif:
        raise click.UsageError("--taken-at goes with --from-ldif")
    files = (*from_ldif, *more)
    if len({p.resolve() for p in files}) != len(files):
        raise click.UsageError("an LDIF file is given twice; each is read once")
    return files


def export_source(
    config: Config,
    profile: Profile,
    files: Sequence[Path],
    *,
    taken_at: dt.datetime | None = None,
    require_locations: bool = True,
) -> LdifSource:
    """The export's source, validated (LdifError, exit 2, before anything is read or
    written; see :meth:`LdifSource.validate`)."""
    from poolsync.directory.ldif import LdifSource

    source = LdifSource(
        files,
        taken_at=taken_at,
        max_entries=config.directory.max_entries,
        profile=profile,
        pass_timeout=config.directory.timeouts.pass_,
    )
    source.validate(require_locations=require_locations)
    return source


def store_holds_locations(config: Config) -> bool:
    """Whether the store holds Locations: an export without any would empty it, which
    the run's guard refuses (exit 4) rather than a usage error (exit 2)."""
    if not config.store.exists():
        return False
    with Store.open(config.store, create=False) as store, store.reading():
        return sum(store.location_counts().values()) > 0


def store_origin(store: Store) -> DataOrigin | None:
    """Where the data in ``store`` came from (its pass records)."""
    return data_origin(store.passes())
