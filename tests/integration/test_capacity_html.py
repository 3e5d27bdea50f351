"""The capacity report's HTML page in a real browser: headless Chromium loads it without
a console message, lays out every chart and takes a screenshot.

Chromium is needed (``apt-get install chromium``): the tests skip without it on a
developer machine but fail under CI=true, like the Samba tests.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from poolsync.render.capacity_html import capacity_html
from tests.support.capacity_reports import HOSTILE, hostile_report, sample_report

TIMEOUT = 60  # seconds per browser run
WIDTH, HEIGHT = 1280, 2400


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is not None:
        return found
    reason = "needs headless Chromium (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium headless on ``page``; its own profile directory, logs to stderr."""
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={profile}",
            "--no-first-run",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def console_lines(stderr: str) -> list[str]:
    """Console messages and uncaught errors of the page, as Chromium logs them."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "capacity.html"
    path.write_text(capacity_html(sample_report()), encoding="utf-8")
    return path


def test_page_renders_without_console_messages(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "capacity.png"
    result = browse(
        page,
        tmp_path / "profile",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--hide-scrollbars",
    )
    assert result.returncode == 0, result.stderr
    assert console_lines(result.stderr) == []
    data = shot.read_bytes()
    assert png_size(data) == (WIDTH, HEIGHT)
    # A blank page compresses to a few kilobytes; charts, tables and text do not.
    assert len(data) > 60_000, len(data)


def test_dom_holds_every_chart(page: Path, tmp_path: Path) -> None:
    result = browse(page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr
    assert console_lines(result.stderr) == []
    dom = result.stdout
    charts = re.findall(r"<svg\b[^>]*>", dom)
    assert len(charts) == 3  # one pool: VM, UM and Inbox
    assert [re.search(r'data-class="(\w+)"', c).group(1) for c in charts] == [  # type: ignore[union-attr]
        "vm",
        "um",
        "inbox",
    ]
    assert dom.count('class="exhaustion"') == 1
    assert dom.count('class="exhaustion after"') == 1
    assert "What if:" in dom and "Recommendations" in dom


def test_hostile_names_stay_text_in_the_browser(tmp_path: Path) -> None:
    path = tmp_path / "hostile.html"
    path.write_text(capacity_html(hostile_report()), encoding="utf-8")
    result = browse(path, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr
    assert console_lines(result.stderr) == []
    dom = result.stdout
    assert "<script" not in dom.lower()  # no element was made from the name
    assert html_text(HOSTILE) in dom  # it is shown as text
    assert len(re.findall(r"<svg\b", dom)) == 3


def html_text(text: str) -> str:
    """How a browser serialises ``text`` inside an element."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
