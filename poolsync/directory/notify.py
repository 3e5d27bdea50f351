"""AD change notifications (1.2.840.113556.1.4.528): "something changed, run a pass".

:class:`ChangeWatcher` registers notification searches (base or one-level scope,
filter ``(objectClass=*)``) on the containers it is given and sets
:attr:`ChangeWatcher.changed` (and calls ``on_change``) whenever the DC reports a
change in one of them. A notification is only a trigger, never the source of truth:
the caller reads what changed (DirSync or uSNChanged) on its own connection.

How it behaves:

* Each connection carries at most :data:`MAX_WATCHES_PER_CONNECTION` (4) searches;
  more containers get more connections, each served by a daemon thread. AD allows
  5 per connection, but Samba 4.17 counts the search being re-run against its own
  limit, so a 5th search is dropped (adminLimitExceeded "MaxNotificationPerConn
  reached") on the first change after registering; 4 works on both.
* After *any* disconnect or error the watcher reconnects and re-registers with an
  exponential backoff (tenacity; ``directory.retries.initial_wait`` .. ``max_wait``,
  forever until :meth:`ChangeWatcher.stop`), and fires the trigger once after every
  successful registration, the first included: changes made while no search was
  registered were missed.
* A base search of the rootDSE every ``probe_interval`` seconds on the same
  connection proves the DC still answers (a dead peer without a FIN would otherwise
  look like a quiet directory) and keeps AD's idle-connection timeout away.
* Connections are opened by the watcher's source (a
  :class:`~poolsync.directory.source.LiveSource`: the same TLS validation and bind as
  a sync); notifications need its live connection, polling only the rootDSE.
* With ``watch_deletions`` (the default) one more one-level search with the Show
  Deleted control watches the naming context's Deleted Objects container. Samba
  4.17 does not notify a one-level search when a child is deleted (Windows does, per
  Microsoft's documentation), but it does notify this one. It fires for deletions
  anywhere in the naming context; a DC that refuses it only loses it (logged).
* ``mode="poll"``, or ``"auto"`` against a DC that refuses the control as unsupported
  (unavailableCriticalExtension), replaces the searches with a poll of the rootDSE's
  ``highestCommittedUSN`` every ``poll_interval`` seconds (1 s: one cheap base
  search) on one connection. That fires on any change anywhere on the DC, so passes
  may run more often than needed, never less.

Measured against the Samba 4.17 lab (``samba -M single``): Samba supports the
control; a change made over LDAP is reported 10-15 ms later. Samba re-runs pending
notification searches itself, immediately after a write through the same LDAP server
process, otherwise on a fixed 5 s timer (``ldapsrv_notification_retry_setup`` in
ldap_server.c, no smb.conf option): a change written behind its back (ldbmodify on
sam.ldb) was reported after 3.3-7.8 s; expect the same for changes arriving by
replication or through another worker of the default prefork process model. Its
limit is the domain's lDAPAdminLimits ``MaxNotificationPerConn`` (5, see above).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ldap3
from ldap3.core import exceptions as lex
from ldap3.operation.search import search_operation
from ldap3.protocol.convert import build_controls_list
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.strategy.base import BaseStrategy
from ldap3.utils.asn1 import decode_message_fast
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_when_event_set,
    wait_exponential,
)

from poolsync.config import Endpoint
from poolsync.directory.connection import (
    SHOW_DELETED_OID,
    DirectoryConnection,
    translate,
)
from poolsync.directory.source import DirectoryReader, DirectorySource
from poolsync.errors import DirectoryError, DirectoryUnavailable, QueryError

log = logging.getLogger(__name__)

NOTIFICATION_OID = "1.2.840.113556.1.4.528"
MAX_WATCHES_PER_CONNECTION = 4
DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_PROBE_INTERVAL = 30.0
DEFAULT_ANSWER_WITHIN = 30.0  # directory.timeouts.operation's default

Mode = Literal["auto", "notify", "poll"]
Scope = Literal["base", "one"]

_TICK = 0.2  # how long a read blocks before the thread looks at the stop flag again
_SCOPES = {"base": ldap3.BASE, "one": ldap3.LEVEL}
_UNSUPPORTED = 12  # unavailableCriticalExtension: the DC does not know the control
_TRANSIENT = frozenset({51, 52})  # busy, unavailable


@dataclass(frozen=True, slots=True)
class Watch:
    """One notification search. ``optional``: a refusal drops it instead of failing."""

    base: str
    scope: Scope = "one"
    show_deleted: bool = False
    optional: bool = False


def _notifying(reader: DirectoryReader) -> DirectoryConnection:
    """The live connection under ``reader``: notifications are raw LDAP on its socket."""
    if "notify" not in reader.changes or not isinstance(reader, DirectoryConnection):
        raise QueryError(
            f"{reader.endpoint.url} cannot send change notifications "
            "(only a live directory can); use the poll mode"
        )
    return reader


class _Session:
    """Raw LDAP messages on one bound connection: send searches, read replies.

    ldap3's synchronous strategy waits for a searchResDone that a notification
    search never sends, so this sends through ldap3's encoder and reads the socket
    itself, with a short timeout so the thread notices stop() promptly.
    """

    def __init__(self, conn: DirectoryConnection) -> None:
        self.conn = conn
        self._ldap: Any = conn._conn  # the ldap3 Connection (same package)
        self._buffer = b""
        self._ldap.socket.settimeout(_TICK)

    def _where(self) -> str:
        e = self.conn.endpoint
        return f"{e.scheme}://{e.host}:{e.port}"

    def search(
        self,
        base: str,
        scope: int,
        attributes: list[str],
        controls: list[tuple[str, bool, bytes | None]],
    ) -> int:
        """Send one search request without waiting; return its message id."""
        try:
            request = search_operation(
                base,
                "(objectClass=*)",
                scope,
                ldap3.DEREF_NEVER,
                attributes,
                0,
                0,
                False,
                True,
                True,
            )
            message_id = int(self._ldap.server.next_message_id())
            message = LDAPMessage()
            message["messageID"] = MessageID(message_id)
            message["protocolOp"] = ProtocolOp().setComponentByName("searchRequest", request)
            built = build_controls_list(controls)
            if built is not None:
                message["controls"] = built
            self._ldap.strategy.sending(message)
        except lex.LDAPException as exc:
            raise translate(exc, self.conn.endpoint, user=None) from exc
        return message_id

    def receive(self) -> tuple[int, dict[str, Any]] | None:
        """The next whole message (id, ldap3's dict), or None after a quiet tick."""
        while True:
            size = BaseStrategy.compute_ldap_message_size(self._buffer)
            if size != -1 and len(self._buffer) >= size:
                raw, self._buffer = self._buffer[:size], self._buffer[size:]
                try:
                    decoded = decode_message_fast(raw)
                    return int(decoded["messageID"]), self._ldap.strategy.decode_response_fast(
                        decoded
                    )
                except (lex.LDAPException, ValueError, IndexError, KeyError, TypeError) as exc:
                    raise DirectoryUnavailable(
                        f"undecodable message from {self._where()}: {exc}"
                    ) from exc
            try:
                data = self._ldap.socket.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                return None
            except (OSError, AttributeError) as exc:  # AttributeError: socket already gone
                raise DirectoryUnavailable(f"lost connection to {self._where()}: {exc}") from exc
            if not data:
                raise DirectoryUnavailable(f"{self._where()} closed the connection")
            self._buffer += data


class _Worker:
    """One connection and the thread that keeps its watches registered."""

    def __init__(self, watcher: ChangeWatcher, index: int, watches: list[Watch]) -> None:
        self.watcher = watcher
        self.index = index
        self.watches = watches
        self.registered = threading.Event()
        self.session: _Session | None = None  # the live one, for tests and diagnosis
        self._registered_at: float | None = None
        self.thread = threading.Thread(
            target=self._run, daemon=True, name=f"poolsync-change-watch-{index}"
        )

    @property
    def label(self) -> str:
        return f"change watch {self.index} on {self.watcher.endpoint.url}"

    def _run(self) -> None:
        w = self.watcher
        try:
            while not w.stopping:
                if w.polling and self.index > 0:
                    return  # one poller is enough; worker 0 does it
                if not w.polling and all(x in w.dropped for x in self.watches):
                    self.registered.set()  # nothing left to watch on this connection
                    return
                # A fresh Retrying each time a session ended well: backoff starts over.
                for attempt in w.retrying(self.label):
                    with attempt:
                        self._session_once()
        except DirectoryError as exc:
            if not w.stopping:  # only a stop ends the retrying
                log.error("%s stopped: %s", self.label, exc)
        except Exception:
            log.exception("%s crashed", self.label)
            raise

    def _session_once(self) -> None:
        """Connect, register, listen. Returns on stop, or after a long healthy session."""
        w = self.watcher
        if w.stopping:
            return
        self._registered_at = None
        try:
            if w.polling:
                self._poll()
            else:
                self._notify()
        except DirectoryError as exc:
            w.last_error = exc
            healthy = (
                self._registered_at is not None
                and time.monotonic() - self._registered_at >= w.healthy_after
            )
            if not healthy or w.stopping:
                raise
            log.warning("%s: %s; registering again", self.label, exc)

    def _on_registered(self) -> None:
        self._registered_at = time.monotonic()
        self.registered.set()
        self.watcher.registered_once()

    def _notify(self) -> None:
        w = self.watcher
        with w.source.open(w.endpoint) as reader:
            session = _Session(_notifying(reader))
            self.session = session
            try:
                self._listen(session)
            finally:
                self.session = None

    def _listen(self, session: _Session) -> None:
        w = self.watcher
        watches: dict[int, Watch] = {}
        for watch in self.watches:
            if watch in w.dropped:
                continue
            controls: list[tuple[str, bool, bytes | None]] = [(NOTIFICATION_OID, True, None)]
            if watch.show_deleted:
                controls.append((SHOW_DELETED_OID, True, None))
            message_id = session.search(watch.base, _SCOPES[watch.scope], ["objectGUID"], controls)
            watches[message_id] = watch
        # A probe answered after the registrations means the DC has taken them.
        probe: int | None = session.search("", ldap3.BASE, ["highestCommittedUSN"], [])
        probe_sent = time.monotonic()
        next_probe = 0.0
        while not w.stopping:
            message = session.receive()
            now = time.monotonic()
            if message is None:
                if probe is not None and now - probe_sent > w.answer_within:
                    raise DirectoryUnavailable(
                        f"{w.endpoint.url} did not answer a rootDSE read within "
                        f"{w.answer_within:g} s"
                    )
                if probe is None and now >= next_probe:
                    probe = session.search("", ldap3.BASE, ["highestCommittedUSN"], [])
                    probe_sent = now
                continue
            message_id, reply = message
            kind = reply.get("type")
            if message_id == 0:
                raise DirectoryUnavailable(
                    f"{w.endpoint.url} announced a disconnect: {reply.get('message') or reply}"
                )
            if message_id in watches:
                if kind == "searchResEntry" and self._registered_at is not None:
                    w.fire(f"{watches[message_id].base}: {reply.get('dn')}")
                elif kind == "searchResDone" and (
                    self._ended(watches.pop(message_id), reply) or not watches
                ):
                    return
            elif message_id == probe and kind == "searchResDone":
                if reply.get("result") != 0:
                    raise QueryError(
                        f"{w.endpoint.url}: rootDSE read failed: "
                        f"{reply.get('description')}: {reply.get('message')}"
                    )
                probe = None
                next_probe = now + w.probe_interval
                if self._registered_at is None:
                    log.info("%s: watching %d container(s)", self.label, len(watches))
                    self._on_registered()

    def _ended(self, watch: Watch, reply: dict[str, Any]) -> bool:
        """The DC ended a notification search. True: switch to polling."""
        w = self.watcher
        code = int(reply.get("result") or 0)
        why = f"{reply.get('description')}: {reply.get('message')}".strip(": ")
        if code == _UNSUPPORTED and not watch.optional and w.mode == "auto":
            log.warning(
                "%s: the DC does not support change notifications (%s); polling "
                "highestCommittedUSN every %g s instead",
                self.label,
                why,
                w.poll_interval,
            )
            w.polling = True
            return True
        if watch.optional and code not in _TRANSIENT:
            log.warning(
                "%s: the DC refused the watch on %s (%s); going on without it",
                self.label,
                watch.base,
                why,
            )
            w.dropped.add(watch)
            return False
        error = DirectoryUnavailable if code in _TRANSIENT else QueryError
        raise error(f"{w.endpoint.url} ended the change notification on {watch.base}: {why}")

    def _poll(self) -> None:
        w = self.watcher
        with w.source.open(w.endpoint) as conn:
            usn = conn.root_dse().highest_committed_usn
            log.info(
                "%s: polling highestCommittedUSN (%d) every %g s", self.label, usn, w.poll_interval
            )
            self._on_registered()
            while not w.wait_stop(w.poll_interval):
                current = conn.root_dse().highest_committed_usn
                if current != usn:
                    usn = current
                    w.fire(f"highestCommittedUSN is {usn}")


class ChangeWatcher:
    """Watch containers for changes in daemon threads; a trigger for the next pass.

    ``containers`` are DNs watched with ``scope`` ("one": their children; "base":
    the objects themselves). Every change sets :attr:`changed` (the caller clears it
    before each pass) and calls ``on_change`` on the watcher's thread (keep it quick;
    an exception in it is logged and ignored). :meth:`start` starts the threads,
    :meth:`stop` ends them and closes their connections; the watcher is also a
    context manager. See the module docstring for modes, limits and Samba's timing.
    """

    def __init__(
        self,
        source: DirectorySource,
        endpoint: Endpoint,
        *,
        containers: Sequence[str],
        scope: Scope = "one",
        on_change: Callable[[], None] | None = None,
        mode: Mode = "auto",
        watch_deletions: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        answer_within: float = DEFAULT_ANSWER_WITHIN,
    ) -> None:
        if not containers:
            raise ValueError("ChangeWatcher needs at least one container to watch")
        if scope not in _SCOPES:
            raise ValueError(f"notification scope must be 'base' or 'one', not {scope!r}")
        if mode not in ("auto", "notify", "poll"):
            raise ValueError(f"mode must be 'auto', 'notify' or 'poll', not {mode!r}")
        if poll_interval <= 0 or probe_interval <= 0:
            raise ValueError("poll_interval and probe_interval must be positive")
        self.endpoint = endpoint
        # The source opens every connection (a live source asks its password callable
        # at each connect, so no copy of it stays in the process between reconnects).
        self.source = source
        self.answer_within = answer_within  # a rootDSE probe unanswered longer: dead
        self.mode: Mode = mode
        self.poll_interval = poll_interval
        self.probe_interval = probe_interval
        # A session that lasted this long ended "well": its successor starts a fresh
        # backoff. Shorter ones keep backing off, so a DC that drops every connection
        # at once is not hammered.
        self.healthy_after = max(source.retries.max_wait, 1.0)
        self.changed = threading.Event()
        self.polling = mode == "poll"
        self.dropped: set[Watch] = set()
        self.last_error: DirectoryError | None = None
        self.triggers = 0
        self.registrations = 0
        self._on_change = on_change
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._started = False
        watches = [Watch(dn, scope) for dn in containers]
        if watch_deletions and endpoint.base_dn:
            watches.append(
                Watch(
                    f"<WKGUID={DELETED_OBJECTS_WKGUID},{endpoint.base_dn}>",
                    "one",
                    show_deleted=True,
                    optional=True,
                )
            )
        step = MAX_WATCHES_PER_CONNECTION
        self._workers = [
            _Worker(self, n, watches[i : i + step])
            for n, i in enumerate(range(0, len(watches), step))
        ]

    @property
    def connections(self) -> int:
        """How many connections (and threads) the watches need."""
        return 1 if self.polling else len(self._workers)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("a ChangeWatcher can be started only once")
        self._started = True
        for worker in self._workers:
            worker.thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """End the threads and close their connections; True when all ended in time.

        A thread in the middle of a TCP connect or bind finishes that first (up to the
        connect timeout) and then closes its connection by itself.
        """
        self._stop.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            if worker.thread.is_alive():
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        return not any(worker.thread.is_alive() for worker in self._workers)

    def __enter__(self) -> ChangeWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_registered(self, timeout: float) -> bool:
        """Wait until every needed connection has registered at least once."""
        deadline = time.monotonic() + timeout
        for worker in self._workers[: self.connections]:
            if not worker.registered.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def wait_stop(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as stop() was called."""
        return self._stop.wait(seconds)

    def registered_once(self) -> None:
        with self._lock:
            self.registrations += 1
        self.fire("registered (changes while unregistered were not seen)")

    def fire(self, why: str) -> None:
        with self._lock:
            self.triggers += 1
        log.debug("change trigger: %s", why)
        self.changed.set()
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:
                log.exception("the change callback failed")

    def retrying(self, what: str) -> Retrying:
        """Retry sessions forever (until stop) with backoff; sleeping wakes on stop."""
        policy = self.source.retries

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s: %s (attempt %d; again in %.1f s)", what, error, state.attempt_number, wait
            )

        def sleep(seconds: float) -> None:
            self._stop.wait(seconds)

        return Retrying(
            stop=stop_when_event_set(self._stop),
            wait=wait_exponential(
                multiplier=max(policy.initial_wait, 0.1), max=max(policy.max_wait, 0.1)
            ),
            retry=retry_if_exception_type(DirectoryError),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
