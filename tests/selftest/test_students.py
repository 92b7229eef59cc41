"""Student-style trees: whole programs written from a handout, one mistake each, graded as an
instructor grades a submission (`./socklab grade --impl TREE LAB --out DIR`, sandboxed).

A mutant (tests/mutants/) is the reference solution with one edit; a student's program is not:
it is written from the skeleton and the handout, in its own way, and a mistake in it may show
differently. tests/students/NAME/ holds such a tree, in the layout a student hands in
(NAME/labs/LAB/*.c, only the lab concerned), and NAME/EXPECT says what grading must find:

    Lab: 05-tcp-threaded
    Mistake: what the student got wrong, and what it does
    Caught by: test_server_threads_memory_and_fds_return_to_baseline
    Hint: never detached or joined
    Provisional: which of the two lines above is a guess, until the check or hint exists
    Measured: what grading gave this tree when it was written

A tree with a "Caught by" line must lose points, the named check (any of its parametrized
versions) must fail, and every failure of that check must contain the Hint (a substring,
compared without regard to case) in its message: the hint that names the mistake's cause, not
only a failing verdict. A tree without one (Mistake: none) is a control and keeps full marks,
as does the reference solution of every lab these trees use, copied as a tree and graded the
same way.

The student sees the same thing at home: `./socklab check LAB --impl TREE -x` stops at the
same first failing check as the grading, with the same hint.

`--lab LAB` grades only that lab's trees. Every grading runs in the sandbox, in a process group
of its own that is killed if it overruns its deadline.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.results import Grading, LabResult

from .support import ROOT

STUDENTS = ROOT / "tests" / "students"
SOLUTIONS = ROOT / "solutions"
FIELDS = ("Lab", "Mistake", "Caught by", "Hint", "Provisional", "Measured")
PARALLEL = 2  # two gradings at a time: each is one core's work at most (its cgroup caps it)
GRADING_DEADLINE = 900  # seconds for one lab's grading; 5 to 30 s when the machine is idle
pytestmark = pytest.mark.timeout(1800)


def expect(tree: Path) -> dict[str, str]:
    """The EXPECT header of a tree: one "Field: value" per line."""
    fields = {}
    for line in (tree / "EXPECT").read_text().splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in FIELDS:
            fields[key] = value.strip()
    return fields


def chosen_trees(config) -> list[Path]:
    labs = config.getoption("--lab")
    trees = sorted(p for p in STUDENTS.iterdir() if (p / "EXPECT").is_file())
    return [t for t in trees if not labs or expect(t).get("Lab") in labs]


def reference_labs(config) -> list[str]:
    """The labs of the chosen trees that have a reference solution here (not in a hand-out)."""
    labs = sorted({expect(t).get("Lab", "") for t in chosen_trees(config)})
    return [lab for lab in labs if (SOLUTIONS / lab).is_dir()]


def pytest_generate_tests(metafunc):
    if "tree" in metafunc.fixturenames:
        found = chosen_trees(metafunc.config)
        metafunc.parametrize("tree", found, ids=[t.name for t in found])
    if "reference_lab" in metafunc.fixturenames:
        metafunc.parametrize("reference_lab", reference_labs(metafunc.config))


@dataclass
class Graded:
    lab: LabResult | None  # summary.json's result for the lab: each check, its message
    platform: dict         # results.json: the score the platform records
    output: str            # what the grader printed, for a failure's message


def grade(tree: Path, lab: str, out: Path, build_dir: Path) -> Graded:
    """`grade --impl TREE LAB --out OUT` as ./socklab runs it (python3 -m grader), with the
    course's build folder given, so that no second `cmake -S` races with another's."""
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", "--impl", str(tree), lab,
                             "--out", str(out), "--build-dir", str(build_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=GRADING_DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own group: the grader and all it started
        output, _ = proc.communicate()
        output += f"\n(the grading overran its deadline of {GRADING_DEADLINE} s and was killed)"
    summary, results = out / "summary.json", out / "results.json"
    if not summary.is_file() or not results.is_file():
        return Graded(None, {}, output)
    grading = Grading.from_json(json.loads(summary.read_text()))
    return Graded(grading.lab(lab), json.loads(results.read_text()), output)


def reference_tree(lab: str, where: Path) -> Path:
    """The reference solution of lab, copied as a student hands a tree in."""
    shutil.copytree(SOLUTIONS / lab, where / "labs" / lab)
    return where


@pytest.fixture(scope="module")
def gradings(request, settings, tmp_path_factory) -> dict[str, Graded]:
    """Every chosen tree and every reference, graded once, two at a time."""
    base = tmp_path_factory.mktemp("students")
    jobs = {t.name: (t, expect(t).get("Lab", "")) for t in chosen_trees(request.config)}
    for lab in reference_labs(request.config):
        jobs[f"reference/{lab}"] = (reference_tree(lab, base / "reference" / lab), lab)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        done = pool.map(lambda job: grade(job[0], job[1], base / "out" / job[0].name / job[1],
                                          settings.build_dir), jobs.values())
        return dict(zip(jobs, done))


def lost_points(graded: Graded) -> bool:
    tests = graded.platform.get("tests", [])
    # points are hundredths (harness/weights.py): their sum, to the hundredth
    return graded.platform.get("score", 0) < round(sum(t.get("max_score", 0) for t in tests), 2)


def test_every_tree_says_what_it_is(tree):
    """The header names the lab, the mistake and (unless a control) the check and the hint;
    the tree holds that lab's sources and no other lab."""
    fields = expect(tree)
    for field in ("Lab", "Mistake", "Measured"):
        assert fields.get(field), f"{tree.name}/EXPECT needs a '{field}:' line"
    if not fields["Mistake"].startswith("none"):
        assert fields.get("Caught by") and fields.get("Hint"), \
            f"{tree.name}/EXPECT: a tree with a mistake names the check and the hint that catch it"
    labs = sorted(p.name for p in (tree / "labs").iterdir())
    assert labs == [fields["Lab"]], f"{tree.name}: holds {labs}, not only {fields['Lab']}"
    sources = list((tree / "labs" / fields["Lab"]).glob("*.c"))
    assert sources, f"{tree.name}: no C file in labs/{fields['Lab']}"
    for source in sources:
        assert "todo(" not in source.read_text(), \
            f"{tree.name}: {source.name} still has a TODO step: a tree is a whole program"


def test_tree_is_graded_as_expected(tree, gradings):
    fields = expect(tree)
    graded = gradings[tree.name]
    assert graded.lab is not None, f"{tree.name}: grading wrote no reports\n{graded.output[-3000:]}"
    assert graded.lab.built, f"{tree.name} does not compile:\n{graded.lab.build_output[-3000:]}"
    failed = [c for c in graded.lab.checks if c.outcome not in ("passed", "skipped")]
    score = f"{graded.lab.score:g}/{graded.lab.max_score:g}"
    if fields["Mistake"].startswith("none"):
        assert not failed and not lost_points(graded), \
            f"control {tree.name} loses points ({score}) on {[c.name for c in failed]}:\n" + \
            (failed[0].message[:2000] if failed else graded.output[-2000:])
        return
    check, hint = fields["Caught by"], fields["Hint"]
    named = [c for c in failed if c.name == check or c.name.startswith(check + "[")]
    assert named, (f"{tree.name} ({fields['Mistake']}): {check} did not fail ({score}; "
                   f"failed: {[c.name for c in failed] or 'nothing'})")
    for c in named:
        assert hint.lower() in c.message.lower(), \
            (f"{tree.name}: {c.name} fails, but its message does not name the cause "
             f"({hint!r}):\n{c.message[:2500]}")
    assert lost_points(graded), f"{tree.name}: {check} failed, but results.json shows full marks"


def test_reference_keeps_full_marks(reference_lab, gradings):
    """The reference solution, graded as a student's tree is, keeps every point."""
    graded = gradings[f"reference/{reference_lab}"]
    assert graded.lab is not None, f"no reports for the reference\n{graded.output[-3000:]}"
    failed = [c for c in graded.lab.checks if c.outcome not in ("passed", "skipped")]
    assert graded.lab.built and not failed and not lost_points(graded), \
        (f"the reference of {reference_lab} loses points under tree grading: "
         f"{[c.name for c in failed]}\n" + (failed[0].message[:2000] if failed else
                                           graded.lab.build_output[-2000:]))


def first_failure_of_check(tree: Path, lab: str) -> tuple[str | None, str]:
    """`./socklab check LAB --impl TREE -x`, as a student runs it: the first failing check's
    name (None if all passed) and everything check printed."""
    proc = subprocess.Popen([str(ROOT / "socklab"), "check", lab, "--impl", str(tree), "-x"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=GRADING_DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        output += f"\n(check overran its deadline of {GRADING_DEADLINE} s and was killed)"
    failed = re.search(r"^FAILED \S+::(\S+)", output, re.M)
    return (failed.group(1) if failed else None), output


def test_check_at_home_agrees_with_the_grading(tree, gradings):
    """The first failing check and its hint are the same in `./socklab check` (no sandbox,
    no limits) as in the grading: what a student fixes at home is what cost the points."""
    fields = expect(tree)
    graded = gradings[tree.name]
    assert graded.lab is not None and graded.lab.built, f"{tree.name}: not graded"
    failed = [c.name for c in graded.lab.checks if c.outcome not in ("passed", "skipped")]
    first, output = first_failure_of_check(tree, fields["Lab"])
    assert first == (failed[0] if failed else None), \
        (f"{tree.name}: grading fails {failed[:1] or 'nothing'} first, check fails "
         f"{first or 'nothing'}:\n{output[-2500:]}")
    if "Hint" in fields:
        assert fields["Hint"].lower() in output.lower(), \
            f"{tree.name}: check does not say {fields['Hint']!r}:\n{output[-2500:]}"


def test_check_of_a_tree_that_does_not_compile_says_so_once(tmp_path):
    """A tree that does not compile is not tested: check prints the compiler's words once and
    exits 1, as it does for labs/, instead of one copy of them in every check."""
    lab = "01-tcp-basic"
    if not (ROOT / "solutions" / lab).exists():
        pytest.skip("needs solutions/ to make the tree from")
    server = tmp_path / "labs" / lab / "server.c"
    shutil.copytree(ROOT / "solutions" / lab, server.parent)
    server.write_text(server.read_text().replace("int main(", "oops int main(", 1))
    done = subprocess.run([str(ROOT / "socklab"), "check", lab, "--impl", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=GRADING_DEADLINE)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "does not compile, so nothing was tested" in output, output
    assert "oops" in output and "FAILED" not in output and " passed" not in output, output
