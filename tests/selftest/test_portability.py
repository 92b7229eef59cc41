"""The course runs on the oldest Python and pytest the README's "Requirements" names (Ubuntu
22.04's, Gradescope's default image: Python 3.10, pytest 6.2.5), and says so where it cannot.

No program of the course is started: every module is parsed as Python 3.10 parses it, and
searched for what 3.10 or pytest 6.2 lack (a use that harness/compat.py provides is allowed).
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from harness import compat

from .support import ROOT

FOLDERS = ("harness", "grader", "tests", "bench")
# Names newer than the minimums: module.attribute, or a module or a name on its own.
NEWER = {
    "hashlib.file_digest": "Python 3.11", "tomllib": "Python 3.11",
    "ExceptionGroup": "Python 3.11", "BaseExceptionGroup": "Python 3.11",
    "typing.Self": "Python 3.11", "typing.LiteralString": "Python 3.11",
    "typing.Never": "Python 3.11", "typing.assert_never": "Python 3.11",
    "typing.reveal_type": "Python 3.11", "typing.Required": "Python 3.11",
    "typing.NotRequired": "Python 3.11", "typing.TypeVarTuple": "Python 3.11",
    "typing.dataclass_transform": "Python 3.11", "datetime.UTC": "Python 3.11",
    "enum.StrEnum": "Python 3.11", "enum.member": "Python 3.11", "enum.nonmember": "Python 3.11",
    "enum.verify": "Python 3.11", "enum.ReprEnum": "Python 3.11", "enum.global_enum": "Python 3.11",
    "asyncio.TaskGroup": "Python 3.11", "asyncio.timeout": "Python 3.11",
    "asyncio.Runner": "Python 3.11", "contextlib.chdir": "Python 3.11",
    "operator.call": "Python 3.11", "sys.exception": "Python 3.11",
    "itertools.batched": "Python 3.12",
    "pytest.Stash": "pytest 7.0", "pytest.RecordedHookCall": "pytest 7.0",
}
ALLOWED = {"pytest.StashKey"}  # harness/compat.py makes it on pytest 6.2


def sources():
    found = [ROOT / "conftest.py"]
    for folder in FOLDERS:
        found += [p for p in sorted((ROOT / folder).rglob("*.py")) if "__pycache__" not in p.parts]
    return found


def dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def newer_uses(tree: ast.AST) -> list[tuple[int, str]]:
    uses = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, (ast.Attribute, ast.Name)):
            names.append(dotted(node))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        uses += [(node.lineno, name) for name in names
                 if name in NEWER and name not in ALLOWED]
    return uses


def test_every_module_parses_as_the_oldest_python_parses_it():
    """Python 3.10's grammar: no `except*`, no `type X = ...`, no `def f[T]`."""
    bad = []
    for path in sources():
        try:
            ast.parse(path.read_text(), str(path), feature_version=compat.PYTHON_MIN)
        except SyntaxError as e:
            bad.append(f"{path.relative_to(ROOT)}:{e.lineno}: {e.msg}")
    assert not bad, "\n".join(bad)


def test_no_module_uses_what_the_oldest_python_or_pytest_lacks():
    bad = []
    for path in sources():
        tree = ast.parse(path.read_text(), str(path))
        bad += [f"{path.relative_to(ROOT)}:{line}: {name} needs {NEWER[name]}"
                for line, name in newer_uses(tree)]
    assert not bad, "\n".join(bad)


def test_the_search_finds_what_it_looks_for():
    uses = newer_uses(ast.parse("import tomllib\nimport hashlib\nhashlib.file_digest(f, 's')\n"
                                "from enum import StrEnum\nx = pytest.Stash()\n"))
    assert sorted(name for _, name in uses) == ["enum.StrEnum", "hashlib.file_digest",
                                                "pytest.Stash", "tomllib"]


def test_the_readme_names_the_minimums_the_code_holds():
    text = ROOT.joinpath("README.md").read_text()
    section = text[text.index("## Requirements"):].split("\n## ", 1)[0]
    python = re.search(r"Python (\d+(?:\.\d+)+) or newer", section)
    pytest_min = re.search(r"pytest (\d+(?:\.\d+)+) or newer", section)
    assert python and pytest_min, "the README's Requirements name no Python or pytest minimum"
    assert compat.pytest_version(python.group(1)) == compat.PYTHON_MIN
    assert compat.pytest_version(pytest_min.group(1)) == compat.PYTEST_MIN


@pytest.mark.parametrize("what, code", [
    ("Python", "import sys; sys.version_info = (3, 9, 18, 'final', 0); import grader"),
    ("pytest", "import pytest; pytest.__version__ = '6.2.4'; import harness.pytest_plugin"),
])
def test_too_old_is_refused_in_one_line(what, code):
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and f"needs {what}" in done.stderr, done.stderr
