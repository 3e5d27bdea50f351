"""Failing fast, and saying so: a listener that never speaks TLS is given up after
timeouts.connect per attempt (not the operation timeout), a host name that does not
resolve is not retried, and every retry says which attempt it was and how long it waits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fakes import write_config
from tests.support.helpers import run

TIMEOUTS = "  timeouts: {connect: 1, operation: 30}\n"


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections and never sends a byte (no TLS)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def config_for(tmp_path: Path, url: str, attempts: int) -> Path:
    config = write_config(tmp_path, dc_url=url)
    text = config.read_text().replace(
        "  retries: {attempts: 3, initial_wait: 0.01, max_wait: 0.02}\n",
        f"  retries: {{attempts: {attempts}, initial_wait: 0.2, max_wait: 0.2}}\n" + TIMEOUTS,
    )
    config.write_text(text)
    return config


def test_a_tls_handshake_that_never_comes_is_bounded_by_the_connect_timeout(
    tmp_path: Path, silent_listener: int, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(tmp_path, f"ldaps://127.0.0.1:{silent_listener}", attempts=3)
    started = time.monotonic()
    result = run("--config", config, "resync", "--total")
    elapsed = time.monotonic() - started
    assert result.exit_code == 5, result.stderr
    # 3 attempts x 1 s connect + 2 waits of 0.2 s; the operation timeout (30 s) is
    # never what ends an attempt.
    assert elapsed < 3 * 1 + 2 * 0.2 + 3, elapsed
    assert "attempt 1/3 failed; retrying in 0.2 s" in caplog.text
    assert "attempt 2/3 failed; retrying in 0.2 s" in caplog.text
    assert "no TLS handshake within directory.timeouts.connect" in result.stderr


def test_a_name_that_does_not_resolve_is_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(tmp_path, "ldaps://no-such-dc.invalid:636", attempts=4)
    result = run("--config", config, "resync", "--total")
    assert result.exit_code == 5
    assert "no-such-dc.invalid does not resolve" in result.stderr
    assert "retrying" not in caplog.text
