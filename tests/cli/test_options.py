"""-v means one thing: resync's --verbose. The global debug switch is --debug / -d."""

from __future__ import annotations

from tests.support.helpers import run


def test_v_is_not_debug_at_the_top_level() -> None:
    result = run("-v", "--help")
    assert result.exit_code == 2 and "No such option '-v'" in result.stderr
    assert "-d, --debug" in run("--help").stdout


def test_v_on_resync_is_verbose() -> None:
    text = run("resync", "--help").stdout
    assert "-v, --verbose" in text
