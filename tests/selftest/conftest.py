"""Fixtures of the harness's own tests."""
from pathlib import Path

import pytest

from .support import labs_with_tests


def pytest_generate_tests(metafunc):
    """Parametrizes a `lab_name` argument over --lab (default: every lab with tests)."""
    if "lab_name" in metafunc.fixturenames:
        metafunc.parametrize("lab_name", metafunc.config.getoption("--lab") or labs_with_tests())


@pytest.fixture(scope="session")
def build_dir(settings) -> Path:
    return settings.build_dir
