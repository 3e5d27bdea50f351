"""poolsync never writes to the directory: outside ``poolsync lab``, no code asks for a
write, and a connection poolsync opens refuses one before a byte leaves.

ldap3's ``read_only=True`` alone is not enough: ldap3 2.9.1 refuses modify, delete and
modify DN with it, but still sends an add, an extended operation (a password change)
or a request passed to ``send``. Against a real DC: tests/integration/test_security.py.
"""

from __future__ import annotations

import ast
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest
from ldap3.core import exceptions as lex
from ldap3.operation.add import add_operation
from ldap3.operation.search import search_operation

from poolsync.config import load_config
from poolsync.directory import DirectoryConnection
from poolsync.errors import QueryError
from tests.support.fakes import write_config
from tests.support.live import live_connection

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "poolsync"
LAB = PACKAGE / "lab"
DIRECTORY = PACKAGE / "directory"

# ldap3 Connection methods (and its extend.* helpers) that change the directory.
WRITE_METHODS = {
    "modify",
    "modify_dn",
    "delete",
    "modify_password",
    "add_members_to_groups",
    "remove_members_from_groups",
    "unlock_account",
}
# LDAP protocol operations that change the directory, as ldap3 names them.
WRITE_REQUESTS = {"addRequest", "delRequest", "modifyRequest", "modDNRequest"}
WRITE_MODULES = {
    "ldap3.operation.add",
    "ldap3.operation.delete",
    "ldap3.operation.modify",
    "ldap3.operation.modifyDn",
    "ldap3.extend",
}
# ``.add(...)`` in the directory layer is on sets, never on a connection: each one is
# listed here by its receiver, so a new one has to be looked at.
SET_ADDS = {
    "notify.py": {"w.dropped"},
    "connection.py": {"_warned", "given"},
    "dirsync.py": {"seen"},
    "ldif.py": {"self.held"},
}


def modules() -> Iterator[tuple[Path, ast.Module]]:
    """Every module of poolsync except the lab, which builds its own DC and writes to it."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if LAB not in path.parents:
            yield path, ast.parse(path.read_text(), filename=str(path))


def test_the_scan_sees_the_package() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p, _ in modules()}
    assert {
        "directory/connection.py",
        "directory/paged.py",
        "directory/notify.py",
        "sync/engine.py",
        "doctor/probe.py",
    } <= names
    assert not any(n.startswith("lab/") for n in names)


def test_only_the_directory_layer_imports_ldap3() -> None:
    importers = set()
    for path, tree in modules():
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "ldap3" or n.startswith("ldap3.") for n in names):
                importers.add(path)
    assert importers, "the scan found no ldap3 import at all"
    assert all(DIRECTORY in p.parents for p in importers), sorted(map(str, importers))


def test_nothing_outside_the_lab_asks_for_a_write() -> None:
    """No write method called or looked up anywhere; in the directory layer (the only
    code that holds an ldap3 connection) no ``.add`` but on known sets, and no write
    named in a string (``getattr(conn, name)``, ``send("addRequest", ...)``)."""
    found = []
    for path, tree in modules():
        where = path.relative_to(ROOT)
        directory = DIRECTORY in path.parents
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in WRITE_METHODS:
                found.append(f"{where}:{node.lineno}: .{node.attr}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
                and directory
                and ast.unparse(node.func.value) not in SET_ADDS.get(path.name, set())
            ):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node.func)}(...)")
            named = WRITE_REQUESTS | WRITE_METHODS | {"add", "extended"}
            if (
                directory
                and isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in named
            ):
                found.append(f"{where}:{node.lineno}: {node.value!r}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "setattr"}
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in named
            ):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.ImportFrom) and any(
                (node.module or "").startswith(m) for m in WRITE_MODULES
            ):
                found.append(f"{where}:{node.lineno}: from {node.module} import ...")
    assert found == []


def test_directory_connection_offers_no_write() -> None:
    public = {n for n in dir(DirectoryConnection) if not n.startswith("_")}
    assert not public & (WRITE_METHODS | {"add", "extended", "send"}), public


class Recorder:
    """A TCP server on loopback that records every byte a client sends it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            while chunk := conn.recv(65536):
                self.received += chunk

    def finish(self) -> bytes:
        """What the client sent, once it has hung up."""
        self._thread.join(5)
        self.listener.close()
        return self.received


@pytest.fixture
def bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[DirectoryConnection, Recorder]]:
    """A connection as poolsync opens it (plain ldap:// to the recorder), the bind
    skipped: the recorder speaks no LDAP."""
    monkeypatch.setattr(ldap3.Connection, "bind", lambda self, *a, **k: True)
    recorder = Recorder()
    config = load_config(
        write_config(
            tmp_path,
            dc_url=f"ldap://127.0.0.1:{recorder.port}",
            directory_extra="  timeouts: {connect: 3, operation: 3}\n",
        )
    )
    conn = live_connection(config.directory, config.directory.dc, password="pw")
    yield conn, recorder
    conn._conn.socket.close()  # no unbind: the recorder must see only the test's bytes


DN = "CN=svc-write,OU=Subscribers,OU=Unity,DC=lab,DC=example,DC=com"
WRITES = {
    "add": lambda c: c.add(DN, "user", {"sAMAccountName": "svcwrite"}),
    "modify": lambda c: c.modify(DN, {"description": [(ldap3.MODIFY_REPLACE, ["x"])]}),
    "delete": lambda c: c.delete(DN),
    "modify_dn": lambda c: c.modify_dn(DN, "CN=moved"),
    "password": lambda c: c.extend.standard.modify_password(DN, "old", "new"),
    "ad password": lambda c: c.extend.microsoft.modify_password(DN, "new", "old"),
    "extended": lambda c: c.extended("1.3.6.1.4.1.4203.1.11.1"),
    "raw add": lambda c: c.send(
        "addRequest",
        add_operation(DN, {"objectClass": ["user"]}, True, None, validator=None, check_names=False),
    ),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_through_a_poolsync_connection_never_leaves_the_process(
    bound: tuple[DirectoryConnection, Recorder], write: str
) -> None:
    conn, recorder = bound
    with pytest.raises(lex.LDAPException, match=r"read-only|only reads the directory"):
        WRITES[write](conn._conn)
    conn._conn.socket.close()
    assert recorder.finish() == b""


def test_a_write_asked_of_directory_connection_is_a_query_error_not_a_retry(
    bound: tuple[DirectoryConnection, Recorder],
) -> None:
    conn, recorder = bound
    with pytest.raises(QueryError, match="only reads the directory: refused to send addRequest"):
        conn._call("add", DN, "user")
    conn._conn.socket.close()
    assert recorder.finish() == b""


def test_reads_still_leave(bound: tuple[DirectoryConnection, Recorder]) -> None:
    """The guard is not a wall: a search request goes out (the recorder never answers,
    so it is sent without waiting for a reply)."""
    conn, recorder = bound
    request = search_operation(
        "DC=lab,DC=example,DC=com",
        "(objectClass=*)",
        ldap3.SUBTREE,
        ldap3.DEREF_NEVER,
        ["cn"],
        0,
        0,
        False,
        True,
        True,
    )
    conn._conn.send("searchRequest", request)
    conn._conn.socket.close()
    sent = recorder.finish()
    assert sent.startswith(b"\x30") and b"objectClass" in sent
