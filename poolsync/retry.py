"""The one shape of retries (tenacity) for every I/O edge: transient errors only,
backing off exponentially, each failed attempt logged in one line.

Entry point: :func:`backoff`. The directory (:func:`poolsync.directory.retrying`) and
the servers edge (:func:`poolsync.servers.source.retrying`) say which of their errors
are transient.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from poolsync.config import RetryPolicy

__all__ = ["backoff"]


def backoff(
    policy: RetryPolicy,
    *,
    what: str,
    transient: Callable[[BaseException], bool],
    log: logging.Logger,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """Retry what ``transient`` says may pass (the rest is final at once, re-raised),
    waiting ``policy.initial_wait`` doubling up to ``policy.max_wait``, at most
    ``policy.attempts`` in all; each retry logs ``WHAT: ERROR (attempt N/M failed;
    retrying in X s)`` on ``log``. ``sleep`` waits between attempts (a service passes
    one that a stop request interrupts)."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: %s (attempt %d/%d failed; retrying in %s s)",
            what,
            error,
            state.attempt_number,
            policy.attempts,
            f"{wait:.3g}",
        )

    return Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
        retry=retry_if_exception(transient),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
