"""The journeys' fixture: a Journey (journey.py) per test, closed whatever happens, and
nothing of it left running."""
import subprocess

import pytest

from harness.programs import ROOT

from .journey import Journey


@pytest.fixture(scope="session", autouse=True)
def journey_tools():
    """What the journeys drive the course with (tmux, chromium, python3-yaml), installed
    the project's way: scripts/setup, which does nothing when all of it is there."""
    subprocess.run([str(ROOT / "scripts" / "setup"), "--journeys"], check=True, timeout=900)


@pytest.fixture
def journey(request, settings):
    name = request.node.name.removeprefix("test_")
    trip = Journey(name, settings.build_dir / "journeys" / name)
    try:
        yield trip
    finally:
        left = trip.close()
    assert not left, "the journey left processes running (killed now):\n  " + "\n  ".join(left)
