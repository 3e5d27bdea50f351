"""Suite-wide set-up: the umask, hypothesis profiles, the ``integration`` marker by path,
and the Samba AD labs (session fixtures) the integration tests share.

Helpers the tests import live in tests/support/ (the lab's requirements and
``bring_up`` in tests/support/lab.py); no test imports this module or another test
module (tests/unit/test_test_imports.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support import lab
from tests.support.lab import TOPOLOGIES, bring_up

# poolsync refuses a config, profile or what-if file that group or others can write
# (poolsync.trust), and the suite writes many of those with plain write_text(): under a
# permissive umask (the red team ran it with umask 000) they would all be refused. So
# the files the suite makes get a login shell's umask, whatever it was started with.
# poolsync's own files never depend on it: the tests of that set a umask of their own
# (the `umask` fixtures of tests/unit/test_security_*.py) and so do the CLI processes
# the security tests start.
os.umask(0o022)

# Hypothesis profiles. The fuzz tests (marked ``fuzz``; tests/support/fuzzing.py) scale
# their examples from the active profile's max_examples: hypothesis's own "default" (and
# "ci", which it loads under CI=true) keep them bounded; "fuzz" (`make fuzz`, or
# --hypothesis-profile=fuzz, or HYPOTHESIS_PROFILE=fuzz) runs 25 times as many.
settings.register_profile(
    "fuzz",
    settings.get_profile("default"),
    max_examples=2500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])

TESTS = Path(__file__).resolve().parent

#: Where the tests that run a lab (Samba DCs, lighttpd, snmpd) live: every test there is
#: marked ``integration``, so ``pytest -m "not integration"`` builds no lab.
INTEGRATION_PATHS = (TESTS / "integration", TESTS / "contract" / "test_live.py")

#: The session fixtures below: a test using one is an integration test wherever it is.
LAB_FIXTURES = frozenset({"exclusions_lab", "tiny_lab"})


def is_integration(item: pytest.Item) -> bool:
    path = Path(item.path)
    return any(
        path == p or p in path.parents for p in INTEGRATION_PATHS
    ) or not LAB_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_integration(item):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before the test's fixtures (a session lab among them) are set up.
    lab.may_build = item.get_closest_marker("integration") is not None


@pytest.fixture(scope="session")
def exclusions_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lab with every exclusion reason, a failover pair and stale data (running)."""
    yield from bring_up(
        TOPOLOGIES / "exclusions.yaml", tmp_path_factory.mktemp("labs") / "exclusions"
    )


@pytest.fixture(scope="session")
def tiny_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tiny topology's lab (running). Tests that write to it use objects of their own."""
    yield from bring_up(TOPOLOGIES / "tiny.yaml", tmp_path_factory.mktemp("labs") / "tiny")
