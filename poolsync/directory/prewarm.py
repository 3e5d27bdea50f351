"""A reader opened ahead, in a thread, for work that starts later.

The sync run opens its Global Catalog pass's reader while the domain pass reads, so the
GC's TLS handshake and bind (60 ms against the lab's Samba, more across a WAN) overlap
the earlier pass. Any :class:`~poolsync.directory.source.DirectorySource` can be warmed;
opening an export or a memory source costs nothing, so it is harmless there.
"""

from __future__ import annotations

import logging
import threading
import time

from poolsync.config import Endpoint
from poolsync.directory.source import DirectoryReader, DirectorySource

__all__ = ["Prewarmed"]

log = logging.getLogger(__name__)


class Prewarmed:
    """``source.open(endpoint)``, started now in a daemon thread.

    The reader is taken only for the endpoint it was opened to and while it is fresh (a
    DC drops idle connections); anything that went wrong opening it is left to the
    taker's own open, which reports and retries it as usual.
    """

    FRESH = 60.0  # seconds

    def __init__(self, source: DirectorySource, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._source = source
        self._reader: DirectoryReader | None = None
        self._opened = 0.0
        self._thread = threading.Thread(target=self._open, name="poolsync-warm", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            self._reader = self._source.open(self.endpoint)
            self._opened = time.monotonic()
        except Exception as exc:  # the taker's own open reports it
            log.debug("opening %s ahead failed: %s", self.endpoint.url, exc)

    def take(self, endpoint: Endpoint) -> DirectoryReader | None:
        """The open reader on ``endpoint``, once; None when there is none to use."""
        self._thread.join()
        reader, self._reader = self._reader, None
        if reader is not None and (
            endpoint != self.endpoint or time.monotonic() - self._opened > self.FRESH
        ):
            reader.close()
            return None
        return reader

    def __enter__(self) -> Prewarmed:
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
