"""The same program gets the same grade every time: mutants whose mistake is to end too soon
are graded RUNS times, two runs at a time (each loads the other's core), and every check must
reach the same verdict in every run. A check that flips names a race in the harness or in the
check (a server's exit seen or not yet, a wait that ended at a timeout rather than an event),
not something the program did.

The mutants are the ones that flipped before Lab.settle (harness/lab.py) judged whether a
server ended only once it had done all it would: in 30 runs (half of them beside a busy
loop), lab 01's serves-one-client scored 9 to 14 of 20 (six checks flipped; now 8, always);
lab 03's server-answers-once flipped test_server_survives_sigpipe (2 of 6 runs failed by a
harness error), and lab 05's thread-dies-on-a-broken-connection flipped
test_server_ends_cleanly_on_sigterm_with_clients_connected (1 of 10). Also here: lab 01's
server-sigpipe and lab 04's dies-on-a-reset, dying mutants that did not flip in 6 runs each,
so that a new race on their server checks shows.

The last test is what an instructor does: two identical submissions (lab 01's
serves-one-client), graded by `batch` at the same time, each in its sandbox, must get
identical verdicts.

COST (measured on 2 cores shared with other work): 96 s at ctest -j2 beside lab01-mutants at
load 7; the 25 module runs, two at a time, take 30 to 55 s (1.5 to 4 s each), the batch 30 to
45 s (mostly each submission's build in its sandbox). At load 17 the whole took 3 minutes.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.results import Outcome

from .support import ROOT, run_lab_tests

RUNS = 5
pytestmark = pytest.mark.timeout(600)

# (lab, mutant, pytest arguments that pick its checks: none for the whole module)
RACE_PRONE = [
    ("01-tcp-basic", "serves-one-client", ()),
    ("01-tcp-basic", "server-sigpipe", ("-k", "server")),
    ("03-tcp-echo", "server-answers-once", ()),
    ("04-tcp-iterative", "dies-on-a-reset", ("-k", "server and (reset or reading or left or "
                                                  "welcomes or sigterm or command)")),
    ("05-tcp-threaded", "thread-dies-on-a-broken-connection",
     ("-k", "server and (vanishing or idle or sigterm or welcomes or command)")),
]


@pytest.mark.parametrize("lab,mutant,select", RACE_PRONE,
                         ids=[f"{lab}/{mutant}" for lab, mutant, _ in RACE_PRONE])
def test_same_verdicts_every_run(lab, mutant, select, build_dir, tmp_path):
    impl = f"mutant/{lab}/{mutant}"

    def grade(n: int):
        folder = tmp_path / f"run-{n}"
        folder.mkdir()
        return run_lab_tests(lab, impl, build_dir, folder, *select, timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(grade, range(RUNS)))
    empty = [n + 1 for n, run in enumerate(runs) if not run.tests]
    assert not empty, f"{impl}: runs {empty} graded nothing:\n{runs[empty[0] - 1].output[-3000:]}"
    names = sorted(set().union(*(run.tests for run in runs)))
    flipped = []
    for name in names:
        verdicts = [str(run.tests[name].outcome) if name in run.tests else "missing"
                    for run in runs]
        if len(set(verdicts)) > 1:
            failed = next(run.tests[name].message for run in runs
                          if name in run.tests and run.tests[name].outcome is Outcome.FAILED)
            flipped.append(f"{name}: {' '.join(verdicts)}\n  one failure:\n    " +
                           "\n    ".join(failed.split("\nsteps:")[0].splitlines()[:12]))
    scores = [sum(t.outcome is Outcome.PASSED for t in run.tests.values()) for run in runs]
    assert not flipped, (f"{impl}: {len(flipped)} checks changed their verdict between "
                         f"{RUNS} runs (checks passed per run: {scores}):\n" + "\n".join(flipped))
    crashed = sorted({name for run in runs for name, t in run.tests.items()
                      if "harness hit an unexpected error" in t.message})
    assert not crashed, f"{impl}: {crashed} failed by a harness error, not a check"


def test_identical_submissions_get_identical_grades(build_dir, tmp_path):
    """The instructor's case: `batch` grades two copies of one submission, each in its own
    sandbox (where a program's exit is seen through bwrap), at the same time."""
    lab, mutant = "01-tcp-basic", "serves-one-client"
    solution = ROOT / "solutions" / lab
    if not solution.exists():
        pytest.skip("needs solutions/ to make submissions from")
    root = tmp_path / "submissions"
    students = ["copy1", "copy2"]
    for student in students:
        folder = root / student / "labs" / lab
        shutil.copytree(solution, folder)
        subprocess.run(["patch", "-s", "-p1", "-d", str(folder), "-i",
                        str(ROOT / "tests" / "mutants" / lab / f"{mutant}.patch")], check=True)
    out = tmp_path / "grades"
    done = subprocess.run([sys.executable, "-m", "grader", "batch", str(root), lab, "--out",
                           str(out), "--jobs", "2", "--build-dir", str(build_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts: dict[str, list[str]] = {}
    for student in students:
        tests = json.loads((out / "students" / student / "results.json").read_text())["tests"]
        assert tests, f"{student} was not graded: {done.stdout[-2000:]}"
        for test in tests:
            verdicts.setdefault(test["name"], []).append(test["status"])
    flipped = [f"{name}: {' '.join(v)}" for name, v in verdicts.items()
               if len(set(v)) > 1 or len(v) != len(students)]
    assert not flipped, ("two identical submissions got different verdicts:\n" +
                         "\n".join(flipped))
