"""Every lab of labs.txt is complete, and nothing of a lab exists without its line.

A lab is the files docs/harness.md ("Adding a lab") lists: the skeleton and the solution
(each program of its line, and its extra sources), the handout with a numbered step for each
TODO step of the skeleton, the walkthrough, the lessons table, the test module, its mutants,
and its row in the README's table. What else a lab needs is read from labs.txt by those that
need it: CMake (the build, the CTest tests of every mode), the skeleton self-test, the
packages. Reads files only.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import registry

ROOT = registry.ROOT
LABS = registry.labs()
COURSE = (ROOT / "solutions").is_dir()  # the student package has no solutions, no mutants
course_only = pytest.mark.skipif(not COURSE, reason="the solutions are not handed out")


@pytest.fixture(params=LABS, ids=lambda lab: lab.name)
def lab(request) -> registry.Lab:
    return request.param


def test_registry_lists_labs_in_order_once():
    numbers = [lab.number for lab in LABS]
    assert numbers == sorted(set(numbers)), f"labs.txt: numbers out of order or twice: {numbers}"
    for lab in LABS:
        assert re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*", lab.name), \
            f"labs.txt: {lab.name!r} is not NN-name"
        assert lab.programs, f"labs.txt: {lab.name} has no programs"
        assert {"plain", "valgrind"} <= set(lab.modes), \
            f"labs.txt: {lab.name} must run plain and under valgrind"


def test_registry_refuses_a_bad_line():
    with pytest.raises(ValueError, match=r"x\.txt:2: 6 columns"):
        registry.parse("# comment\n10-new tcp server\n", "x.txt")
    with pytest.raises(ValueError, match="kind 'sctp'"):
        registry.parse("10-new sctp server - - plain\n")
    with pytest.raises(registry.UnknownLab, match="01-tcp-basic"):
        registry.lab("10-nothing")


def sources(lab: registry.Lab) -> list[str]:
    return [f"{program}.c" for program in lab.programs] + list(lab.sources)


def test_skeleton_has_every_source(lab):
    missing = [name for name in sources(lab) if not (ROOT / "labs" / lab.name / name).is_file()]
    assert not missing, f"labs/{lab.name}/ lacks {missing}"


@course_only
def test_solution_has_every_source(lab):
    missing = [name for name in sources(lab)
               if not (ROOT / "solutions" / lab.name / name).is_file()]
    assert not missing, f"solutions/{lab.name}/ lacks {missing}"


def todo_steps(lab: registry.Lab) -> list[int]:
    steps = set()
    for path in sorted((ROOT / "labs" / lab.name).glob("*.c")):
        steps |= {int(n) for n in re.findall(r"TODO step (\d+)", path.read_text())}
    return sorted(steps)


def handout_steps(text: str) -> list[int]:
    """The numbers of the top-level numbered list items under "## The steps"."""
    section = re.search(r"^## The steps\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, "no '## The steps' section"
    return [int(n) for n in re.findall(r"^(\d+)\. ", section.group(1), re.MULTILINE)]


def test_handout_has_a_step_for_each_todo(lab):
    handout = ROOT / "labs" / lab.name / "README.md"
    assert handout.is_file(), f"{lab.name} has no handout ({handout.relative_to(ROOT)})"
    steps = todo_steps(lab)
    assert steps == list(range(1, len(steps) + 1)), \
        f"the TODO steps of labs/{lab.name}/ are not numbered 1, 2, ...: {steps}"
    assert handout_steps(handout.read_text()) == steps, \
        f"labs/{lab.name}/README.md: the numbered items of 'The steps' must be the TODO " \
        f"steps, {steps}"


def test_walkthrough_and_lessons(lab):
    for path in (ROOT / "docs" / f"{lab.name}.md", ROOT / "docs" / "lessons" / f"{lab.name}.md"):
        assert path.is_file(), f"{lab.name} has no {path.relative_to(ROOT)}"


def test_test_module_names_its_lab(lab):
    module = lab.test_module
    assert module.is_file(), f"{lab.name} has no test module {module.relative_to(ROOT)}"
    assert re.search(rf'^LAB = "{lab.name}"$', module.read_text(), re.MULTILINE), \
        f"{module.relative_to(ROOT)} must say LAB = \"{lab.name}\""


@course_only
def test_mutants(lab):
    patches = sorted((ROOT / "tests" / "mutants" / lab.name).glob("*.patch"))
    assert patches, f"{lab.name} has no mutants in tests/mutants/{lab.name}/"


def readme_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^\| \[(\d\d-[^\]]+)\]\(labs/\1/README\.md\) \| ", text, re.MULTILINE)


def test_readme_table_is_the_registry():
    assert readme_rows() == registry.names(), \
        "README.md's table of labs (| [NN-name](labs/NN-name/README.md) | ... |) must list " \
        "the labs of labs.txt, in order"


def test_nothing_of_a_lab_without_its_line():
    known = set(registry.names())
    found = {}
    for folder in ("labs", "solutions", "tests/mutants", "tests/variants"):
        for path in sorted((ROOT / folder).glob("[0-9][0-9]-*")):
            found[path.relative_to(ROOT)] = path.name
    for pattern in ("docs/[0-9][0-9]-*.md", "docs/lessons/[0-9][0-9]-*.md"):
        for path in sorted(ROOT.glob(pattern)):
            found[path.relative_to(ROOT)] = path.stem
    for path in sorted((ROOT / "tests").glob("test_[0-9][0-9]_*.py")):
        found[path.relative_to(ROOT)] = path.stem[len("test_"):].replace("_", "-")
    strays = [str(path) for path, name in found.items() if name not in known]
    assert not strays, f"these belong to no lab of labs.txt: {strays}"
