"""The oldest Python and pytest the harness and the grader run on, and what makes them run
there: Ubuntu 22.04's (Python 3.10, pytest 6.2.5 from apt), Gradescope's default base image.
The README's "Requirements" says the same minimums, and tests/selftest/test_portability.py
checks the two agree and that no source uses what these versions lack.

Importing this module (harness/__init__.py does it first) refuses an older Python in one line.
Keep this file parseable by any Python 3 (no syntax newer than 3.6): it must be the one that
speaks on an old interpreter.
"""
import re
import sys

PYTHON_MIN = (3, 10)
PYTEST_MIN = (6, 2, 5)


def _shown(version) -> str:
    return ".".join(str(n) for n in version)


if sys.version_info[:2] < PYTHON_MIN:
    raise SystemExit("socklab: needs Python {} or newer; {} is {} (see the README's "
                     "Requirements)".format(_shown(PYTHON_MIN), sys.executable,
                                            _shown(sys.version_info[:3])))


def pytest_version(text: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def check_pytest():
    """Refuses, in one line, a pytest older than PYTEST_MIN. Then makes pytest 6.2 offer what
    the plugin uses of pytest 7: pytest.StashKey and node.stash / config.stash (pytest 6.2 has
    the very same store as StoreKey and ._store) and node.path (6.2: fspath, a py.path)."""
    import pytest
    if pytest_version(pytest.__version__) < PYTEST_MIN:
        raise SystemExit("socklab: needs pytest {} or newer; {} has pytest {} (see the "
                         "README's Requirements)".format(_shown(PYTEST_MIN), sys.executable,
                                                         pytest.__version__))
    if hasattr(pytest, "StashKey"):
        return
    from pathlib import Path

    from _pytest.config import Config
    from _pytest.nodes import Node
    from _pytest.store import StoreKey
    pytest.StashKey = StoreKey
    Node.stash = property(lambda self: self._store)
    Config.stash = property(lambda self: self._store)
    if not hasattr(Node, "path"):
        Node.path = property(lambda self: Path(str(self.fspath)))
