"""Keep the bind password out of core dumps and out of other processes' reach.

A core dump of a process that has bound holds the password; so does memory another
process of the same user can read with ptrace or ``/proc/PID/mem``. Before a secret
is read, :func:`protect_process` sets the core-file limit to zero (hard and soft, so
nothing in the process can raise it again) and marks the process not dumpable
(``prctl(PR_SET_DUMPABLE, 0)``), which also stops ptrace and ``/proc/PID/mem`` by
processes without ``CAP_SYS_PTRACE``. The example systemd units add ``LimitCORE=0``.

Entry point: :func:`protect_process` (idempotent, cheap, never raises).
"""

from __future__ import annotations

import ctypes
import logging
import resource
import sys
from typing import Final

__all__ = ["dumpable", "protect_process"]

log = logging.getLogger(__name__)

PR_GET_DUMPABLE: Final = 3
PR_SET_DUMPABLE: Final = 4


def _prctl(option: int, arg: int = 0) -> int | None:
    """``prctl(option, arg)``, or None where there is no prctl (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result = int(libc.prctl(option, arg, 0, 0, 0))
    except (OSError, AttributeError):
        return None
    return None if result < 0 else result


def protect_process() -> None:
    """No core file, not dumpable: call before a secret enters the process."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError) as exc:  # pragma: no cover - a kernel that refuses
        log.debug("could not set the core-file limit to 0: %s", exc)
    if _prctl(PR_SET_DUMPABLE, 0) is None:
        log.debug("could not mark the process not dumpable (prctl unavailable)")


def dumpable() -> int | None:
    """The process's dumpable flag (0 once protected), None where unknown."""
    return _prctl(PR_GET_DUMPABLE)
