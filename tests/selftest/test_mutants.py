"""Mutants prove the tests are sharp: each is a solution with one classic mistake
(tests/mutants/LAB/NAME.patch), and the tests the patch names under "Caught by:" must fail on
it, with a check failure, not a harness error. (The solutions passing everything is checked
by the lab's own CTest entry.)

A patch starts with a few header lines that patch(1) ignores:
    Mistake: what the broken code does, and why it is wrong
    Caught by: test_a, test_b[short-io]
    Options: --valgrind        (optional: how the catching tests must run)
A name without brackets stands for every instance of the test (its parameters, and its
partial-I/O version if it has one); test_b[short-io] for that instance alone.
"""
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import programs

from .support import ROOT, labs_with_tests, run_lab_tests

MUTANTS = ROOT / "tests" / "mutants"
PARALLEL = 4
# All of a lab's mutants run in the first test's setup: give it the time they all take.
pytestmark = pytest.mark.timeout(900)


def header(patch: Path) -> dict[str, str]:
    fields = {}
    for line in patch.read_text().splitlines():
        if line.startswith("--- "):
            break
        if m := re.match(r"^(Mistake|Caught by|Options): *(.*)$", line):
            fields[m.group(1)] = m.group(2).strip()
    return fields


def mutants_of(lab: str) -> list[Path]:
    return sorted((MUTANTS / lab).glob("*.patch"))


def chosen_mutants(config) -> list[Path]:
    labs = config.getoption("--lab") or labs_with_tests()
    return [p for lab in labs for p in mutants_of(lab)]


def pytest_generate_tests(metafunc):
    if "mutant" in metafunc.fixturenames:
        found = chosen_mutants(metafunc.config)
        metafunc.parametrize("mutant", found, ids=[f"{p.parent.name}/{p.stem}" for p in found])


def run_mutant(mutant: Path, build_dir: Path, tmp_path: Path):
    fields = header(mutant)
    catchers = [name.strip() for name in fields.get("Caught by", "").split(",") if name.strip()]
    lab, name = mutant.parent.name, mutant.stem
    if not catchers or f"mutant/{lab}/{name}" not in built_impls(build_dir):
        return None
    return run_lab_tests(lab, f"mutant/{lab}/{name}", build_dir, tmp_path, "-k",
                         " or ".join(catchers), *fields.get("Options", "").split())


def built_impls(build_dir: Path) -> set[str]:
    return {b.impl for b in programs.read_manifest(build_dir)}


@pytest.fixture(scope="module")
def mutant_runs(request, settings, tmp_path_factory):
    """Every chosen mutant's run, four at a time: most of a mutant's time is spent waiting
    for a deadline that a broken program never meets, not on the CPU."""
    found = chosen_mutants(request.config)
    tmp_path_factory.getbasetemp()  # made here, once: threads racing to make it get different ones
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        runs = pool.map(lambda m: run_mutant(m, settings.build_dir, tmp_path_factory.mktemp(m.stem)),
                        found)
        return dict(zip(found, runs))


def test_lab_has_mutants(lab_name):
    assert len(mutants_of(lab_name)) >= 2, f"{lab_name} needs at least two mutants"


def test_mutant_is_caught(mutant, build_dir, mutant_runs):
    fields = header(mutant)
    assert fields.get("Mistake") and fields.get("Caught by"), \
        f"{mutant.name} needs 'Mistake:' and 'Caught by:' header lines"
    catchers = [name.strip() for name in fields["Caught by"].split(",")]
    lab, name = mutant.parent.name, mutant.stem
    assert f"mutant/{lab}/{name}" in built_impls(build_dir), \
        f"{mutant.name} was not built: it no longer applies to solutions/{lab} (cmake warned)"
    run = mutant_runs[mutant]
    ran = {name for test in run.tests for name in (test, test.split("[")[0])}
    missing = [c for c in catchers if c not in ran]
    assert not missing, f"'Caught by' names tests that did not run: {missing}\n{run.output[-2000:]}"
    survived = [n for n, t in run.tests.items() if t["outcome"] != "failed"]
    assert not survived, f"mutant {lab}/{name} ({fields['Mistake']}) survives {survived}"
    crashed = [n for n, t in run.tests.items() if "harness hit an unexpected error" in t["message"]]
    assert not crashed, f"{crashed} failed by a harness error, not a check:\n" + \
        run.tests[crashed[0]]["message"][:2000]
