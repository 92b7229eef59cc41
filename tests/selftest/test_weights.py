"""Points by lesson (harness/weights.py): a check's points are its lesson's share of its lab.

Measured on lab 02's C-string mutant (client-c-string: each chunk written with fputs(), so the
payload is cut at its first NUL): it fails the two lessons about NUL bytes and costs their
shares (7% of the lab; at a point a check, with every client check sending NUL bytes, it
cost 40%), and a lesson with many instances is worth what a lesson with one is. Also: a
--weights file changes what a lesson's checks are worth, and a bad one stops the run in one
line with exit status 2.
"""
import json
import subprocess
import sys
from collections import Counter

import pytest

from harness import weights
from harness.results import Outcome

from .support import ROOT, lab_module, run_lab_tests

LAB = "02-recv-buffer"
MUTANT = f"mutant/{LAB}/client-c-string"


def test_share_gives_each_lesson_its_weight_and_adds_up():
    checks = ["test_a[1]", "test_a[2]", "test_a[short-io]", "test_b", "test_c", "test_c[memory]"]
    points = weights.share(checks, {"test_a": 1, "test_b": 1, "test_c": 2}.get)
    assert sum(round(p * 100) for p in points) == len(checks) * 100  # the lab keeps 6 points
    by_lesson = Counter()
    for check, p in zip(checks, points):
        by_lesson[weights.lesson_of(check)] += p
    assert by_lesson == pytest.approx({"test_a": 1.5, "test_b": 1.5, "test_c": 3.0})
    assert points[:3] == [0.5, 0.5, 0.5]


def test_a_mutant_loses_the_shares_of_the_lessons_it_breaks(tmp_path, build_dir):
    reference = run_lab_tests(LAB, "solutions", build_dir, tmp_path)
    assert reference.tests and all(c.outcome is Outcome.PASSED
                                   for c in reference.tests.values()), reference.output[-3000:]
    checks = len(reference.tests)
    lab_points = sum(c.points for c in reference.tests.values())
    assert lab_points == pytest.approx(checks)  # the lab is still worth one point a check

    run = run_lab_tests(LAB, MUTANT, build_dir, tmp_path)
    failed = [c for c in run.tests.values() if c.outcome is not Outcome.PASSED]
    assert failed, run.output[-3000:]
    broken = {weights.lesson_of(c.name) for c in failed}
    lessons = {weights.lesson_of(name) for name in run.tests}
    share = checks / len(lessons)  # every lesson of lab 02 weighs 1 (docs/lessons)
    lost = sum(c.points for c in failed)
    # each lesson the mutant breaks, it breaks whole: it loses exactly their shares
    assert lost == pytest.approx(len(broken) * share, abs=0.05), sorted(broken)
    # the C-string client breaks the two NUL lessons (client alone, client and server), not
    # the lab: it cost 40% when every instance was a point and every payload had NULs
    assert broken == {"test_client_keeps_nul_bytes", "test_client_and_server_file_with_nul_bytes"}
    assert lost / checks < 0.1, (lost, len(failed), checks)
    # a lesson with many instances (parameters, copies) is worth what a lesson with one is
    worth = Counter()
    for c in reference.tests.values():
        worth[weights.lesson_of(c.name)] += c.points
    counts = Counter(weights.lesson_of(name) for name in reference.tests)
    assert max(counts.values()) > 1 == min(counts.values())
    assert all(v == pytest.approx(share, abs=0.02) for v in worth.values()), worth


def test_a_weights_file_changes_a_lessons_points(tmp_path, build_dir):
    file = tmp_path / "weights.txt"
    file.write_text("# lab 02: the NUL bytes lesson counts three times\n"
                    "02 test_client_keeps_nul_bytes 3   # by its number\n"
                    "02-recv-buffer test_client_stops_at_end_of_stream 1\n")
    select = ("-k", "test_client_keeps_nul_bytes or test_client_stops_at_end_of_stream")
    plain = run_lab_tests(LAB, "solutions", build_dir, tmp_path, *select)
    weighed = run_lab_tests(LAB, "solutions", build_dir, tmp_path, *select,
                            "--weights", str(file))
    # three checks: keeps_nul_bytes and its [short-io] version, and stops_at_end_of_stream
    assert sorted(plain.tests) == sorted(weighed.tests) and len(plain.tests) == 3, plain.output
    assert {n: c.points for n, c in plain.tests.items()} == {
        "test_client_keeps_nul_bytes": 0.75, "test_client_keeps_nul_bytes[short-io]": 0.75,
        "test_client_stops_at_end_of_stream": 1.5}
    points = {n: c.points for n, c in weighed.tests.items()}
    assert points["test_client_stops_at_end_of_stream"] == 0.75  # 3 points: weights 3 and 1
    assert sorted([points["test_client_keeps_nul_bytes"],
                   points["test_client_keeps_nul_bytes[short-io]"]]) == [1.12, 1.13]
    assert all(c.outcome is Outcome.PASSED for c in weighed.tests.values())


BAD_FILES = {
    "missing": (None, "no such file"),
    "folder": ("", "a folder"),
    "bad line": ("02-recv-buffer test_client_keeps_nul_bytes 2\n\n02-recv-buffer 2\n", ":3: a line is"),
    "not a number": ("02 test_client_keeps_nul_bytes two\n", ":1: the weight 'two'"),
    "zero": ("02 test_client_keeps_nul_bytes 0\n", ":1: the weight '0' must be"),
    "too big": ("02 test_client_keeps_nul_bytes 1e309\n", ":1: the weight '1e309' must be a "
                "finite number"),
    "unknown lab": ("# a comment\n42-nothing test_x 1\n", ":2: no lab '42-nothing'"),
    "unknown check": ("02 test_client_keeps_nothing 1\n", ":1: 02-recv-buffer has no check"),
    "an instance": ("02 test_client_keeps_nul_bytes[short-io] 2\n", ":1: a lesson is a test "
                    "function"),
    "twice": ("02 test_client_keeps_nul_bytes 2\n02 test_client_keeps_nul_bytes 3\n",
              ":2: 02-recv-buffer test_client_keeps_nul_bytes is weighed twice (first on line 1)"),
}


def bad_file(tmp_path, case: str):
    text, _ = BAD_FILES[case]
    path = tmp_path / "weights"
    if text == "":
        path.mkdir()
    elif text is not None:
        path.write_text(text)
    return path


def one_line_and_2(done, what: str, where: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert len(lines) == 1 and what in lines[0] and "--weights" in lines[0], (where, lines)


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_weights_file_gets_one_line_and_status_2(case, tmp_path, build_dir):
    path, what = bad_file(tmp_path, case), BAD_FILES[case][1]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(lab_module(LAB)), "--impl", "solutions", "--build-dir",
                           str(build_dir), "--weights", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    one_line_and_2(done, what, "pytest")
    if case not in ("missing", "bad line", "unknown check"):
        return  # the grader reads the file with the same code (harness/weights.py)
    for command in (["grade", "--impl", "solutions", LAB, "--out", str(tmp_path / "out")],
                    ["batch", str(tmp_path), "--out", str(tmp_path / "batch")]):
        done = subprocess.run([sys.executable, "-m", "grader", *command, "--build-dir",
                               str(build_dir), "--weights", str(path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        one_line_and_2(done, what, command[0])


def test_the_grader_passes_the_weights_on(tmp_path, build_dir):
    file = tmp_path / "weights.txt"
    file.write_text("02 test_client_keeps_nul_bytes 4\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "grader", "grade", "--impl", "solutions", LAB,
                           "--out", str(out), "--build-dir", str(build_dir),
                           "--weights", str(file)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    tests = {t["name"]: t for t in data["tests"]}
    nul = [t for name, t in tests.items() if "NUL bytes arrives whole" in name]
    assert len(nul) == 2 and all(t["max_score"] > 2 for t in nul), nul  # 0.75 each by default
    assert data["score"] == pytest.approx(sum(t["max_score"] for t in data["tests"]))
    assert data["score"] == pytest.approx(len(data["tests"]))  # 42 points, as without weights
