"""An interrupted resync: Ctrl-C (SIGINT) and SIGTERM (systemd, `timeout`) each end
with a message and their exit code, the run recorded ``cancelled``, nothing committed.

The run is caught waiting between retries of a DC that refuses connections, so the
signal lands at a known moment without a directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poolsync.store import Store
from tests.support.fakes import write_config


def interrupted(tmp_path: Path, signum: int) -> subprocess.CompletedProcess[str]:
    config = write_config(
        tmp_path,
        dc_url="ldaps://127.0.0.1:1",
        directory_extra=("  retries: {attempts: 5, initial_wait: 30, max_wait: 30}\n"),
    )
    text = config.read_text().replace(
        "  retries: {attempts: 3, initial_wait: 0.01, max_wait: 0.02}\n", ""
    )
    config.write_text(text)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from poolsync.cli.main import main; main()",
            "--config",
            str(config),
            "resync",
            "--total",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    # The first attempt is refused at once; the run then waits 30 s to retry.
    deadline = time.monotonic() + 20
    seen = ""
    while "retrying" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    assert "retrying" in seen, seen
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, seen + err)


@pytest.mark.parametrize(
    ("signum", "code", "words"),
    [
        (signal.SIGTERM, 143, "terminated (SIGTERM)"),
        (signal.SIGINT, 130, "interrupted"),
    ],
)
def test_a_signal_cancels_the_run_with_a_message(
    tmp_path: Path, signum: int, code: int, words: str
) -> None:
    result = interrupted(tmp_path, signum)
    assert result.returncode == code, result.stderr
    assert f"poolsync: {words}" in result.stderr
    assert "Traceback" not in result.stderr
    with Store.open(tmp_path / "store.db", create=False) as store:
        [run] = store.runs()
        assert not store.has_data()  # nothing committed
    assert run.status == "cancelled"
    assert words.split(" (")[0] in (run.detail.error or "")
