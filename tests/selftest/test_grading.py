"""Grading for instructors: scores, reports, batch grading, packages.

One batch of lab 01 submissions, made from this repository, is graded once for the module:
the solutions, the skeletons, a mutant, one that does not compile, and one that loops forever
(aaron, graded in a batch of its own at the same time as the others, with a time limit it
always runs into: it loops asleep, so that it holds up its grading, not a CPU).
What a hostile submission does to the grader - fork bombs, memory hogs, disk fillers,
attacks on the reports - is tests/selftest/test_sandbox.py's.
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from .support import ROOT, gradescope_schema, validate

LAB = "01-tcp-basic"
# One batch grading for the whole module, one submission of which runs into its time limit.
pytestmark = pytest.mark.timeout(900)
# The endless loop's time limit: far less than its checks' own deadlines add up to, so it
# always runs into it. The others get the batch's default: a good submission needs about 4 s
# on an idle machine, and 95 s was seen at load 19 on 2 cores, where a limit of 40 s stopped
# the reference solution too (scored 0).
TIME_LIMIT = 20


def make_submission(root: Path, name: str, source: Path, edit=None) -> Path:
    lab_dir = root / name / "labs" / LAB
    shutil.copytree(source, lab_dir)
    if edit:
        edit(lab_dir)
    return root / name


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def apply_patch(patch: Path):
    return lambda d: subprocess.run(["patch", "-s", "-p1", "-d", str(d), "-i", str(patch)],
                                    check=True)


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory, settings):
    solutions = ROOT / "solutions" / LAB
    if not solutions.exists():
        pytest.skip("needs solutions/ to make submissions from")
    root = tmp_path_factory.mktemp("submissions")
    make_submission(root, "alice", solutions)
    make_submission(root, "bob", ROOT / "labs" / LAB)
    make_submission(root, "carol", solutions,
                    apply_patch(ROOT / "tests/mutants" / LAB / "serves-one-client.patch"))
    make_submission(root, "dave", solutions,
                    lambda d: replace_in(d / "server.c", "static void serve(int listener)\n{",
                                         "static void serve(int listener)\n{ oops"))
    looping = tmp_path_factory.mktemp("looping")
    make_submission(looping, "aaron", solutions,  # an endless loop before it ever listens
                    lambda d: replace_in(d / "server.c", "    stop_on_signals();\n",
                                         "    stop_on_signals();\n    for (;;)\n"
                                         "        sleep(1);\n"))
    out, looping_out = tmp_path_factory.mktemp("grades"), tmp_path_factory.mktemp("grades")
    batches = [batch(root, out, settings.build_dir),
               batch(looping, looping_out, settings.build_dir, "--timeout", str(TIME_LIMIT))]
    try:
        for proc in batches:
            stdout, _ = proc.communicate(timeout=800)
            assert proc.returncode == 0, stdout
    finally:
        for proc in batches:  # a batch that ran over is stopped: it leaves nothing behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    shutil.move(looping_out / "students" / "aaron", out / "students" / "aaron")
    rows = {}
    for grades in (out / "grades.csv", looping_out / "grades.csv"):
        with open(grades) as f:
            rows.update({row["student"]: row for row in csv.DictReader(f)})
    return out, rows


def batch(folder: Path, out: Path, build_dir: Path, *options: str) -> subprocess.Popen:
    """A batch of lab 01 in the background, as an instructor starts one."""
    return subprocess.Popen([sys.executable, "-m", "grader", "batch", str(folder), LAB,
                             "--out", str(out), "--jobs", "2", "--limit-fsize", "8M",
                             "--build-dir", str(build_dir), *options],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def results(out: Path, student: str) -> dict:
    return json.loads((out / "students" / student / "results.json").read_text())


def full_marks(out: Path) -> float:
    alice = results(out, "alice")
    marks = round(sum(t["max_score"] for t in alice["tests"]), 2)  # hundredths (weights.py)
    assert marks > 0, f"the solution was not graded:\n{alice['output'][-2000:]}"
    return marks


def test_solutions_get_full_marks(batch_run):
    out, rows = batch_run
    assert full_marks(out) > 0
    assert float(rows["alice"][LAB]) == full_marks(out), results(out, "alice")["output"]
    assert float(rows["alice"][f"{LAB} max"]) == float(rows["alice"]["max"]) == full_marks(out)


def test_skeleton_scores_zero(batch_run):
    out, rows = batch_run
    assert float(rows["bob"][LAB]) == 0


def test_mutant_loses_points_but_not_all(batch_run):
    out, rows = batch_run
    assert 0 < float(rows["carol"][LAB]) < full_marks(out)
    failed = [t["name"] for t in results(out, "carol")["tests"] if t["status"] == "failed"]
    assert any("connection loop" in name for name in failed), failed


def test_compile_error_scores_zero_with_the_compilers_output(batch_run):
    out, rows = batch_run
    assert float(rows["dave"][LAB]) == 0
    compile_entry = [t for t in results(out, "dave")["tests"] if t["name"].endswith("compile")]
    assert compile_entry and "oops" in compile_entry[0]["output"]
    checks = [t for t in results(out, "dave")["tests"] if t["max_score"] > 0]
    assert checks and all("does not compile" in t["output"] for t in checks)


def test_endless_loop_costs_only_its_own_points(batch_run):
    out, rows = batch_run
    assert float(rows["aaron"][LAB]) < full_marks(out)
    assert rows["aaron"]["note"] == "stopped: time limit"
    # the lab it never finished still counts in full in its maximum (never 0 of 0 = 100%),
    # and its reports say why, check by check
    assert float(rows["aaron"][f"{LAB} max"]) == float(rows["aaron"]["max"]) == full_marks(out)
    aaron = results(out, "aaron")
    assert round(sum(t["max_score"] for t in aaron["tests"]), 2) == full_marks(out)
    feedback = (out / "students" / "aaron" / "feedback.txt").read_text()
    assert "time limit" in feedback, feedback
    # its own loop used up the time: a grading like any other on every platform, not the
    # grader's failure ("not your fault, costs no attempt")
    student = out / "students" / "aaron"
    prairielearn = json.loads((student / "prairielearn.json").read_text())
    assert prairielearn["gradable"] is True, prairielearn["message"]
    assert json.loads((student / "classroom.json").read_text())["status"] == "fail"
    # alice and the others were graded alongside it, and lost nothing
    assert float(rows["alice"][LAB]) == full_marks(out)


def test_every_results_json_follows_the_documented_schema(batch_run):
    out, rows = batch_run
    schema = gradescope_schema()
    for student in rows:
        validate(results(out, student), schema, f"{student}/results.json")


def test_hidden_tests_are_graded_and_marked(tmp_path, build_dir):
    if not (ROOT / "solutions" / LAB).exists():
        pytest.skip("needs solutions/")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_01_tcp_basic_hidden.py").write_text(
        'LAB = "01-tcp-basic"\n\n'
        'def test_hidden_greeting(lab):\n'
        '    """An instructor\'s extra check."""\n'
        '    with lab.start_server() as server:\n'
        '        lab.run("client", "-p", server.port).expect_status(0)\n')
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "harness", "grade", LAB, "--impl", "solutions",
                           "--build-dir", str(build_dir), "--out", str(out),
                           "--tests-dir", str(hidden)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    tests = json.loads((out / "results.json").read_text())["tests"]
    extra = [t for t in tests if "extra check" in t["name"]]
    assert extra and extra[0]["visibility"] == "after_published"
    assert extra[0]["score"] == extra[0]["max_score"] > 0  # its lesson's share of the lab
    assert all(t["visibility"] == "visible" for t in tests if t not in extra)


def test_student_package_builds_and_grades(tmp_path):
    tarball = tmp_path / "socklab-student.tar.gz"
    subprocess.run([sys.executable, "-m", "harness", "package", "student", "--out", str(tarball)],
                   cwd=ROOT, check=True, capture_output=True)
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        assert not [n for n in names if n.startswith(("socklab/solutions", "socklab/tests/mutants"))]
        tar.extractall(tmp_path / "unpacked")
    course = tmp_path / "unpacked" / "socklab"
    env = {k: v for k, v in os.environ.items() if k != "SOCKLAB_BUILD_DIR"}  # its own build
    done = subprocess.run(["./socklab", "grade", LAB], cwd=course, capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 1, done.stdout + done.stderr  # the skeleton fails its checks
    assert re.search(rf"^{LAB}\s+0/\d+\s+0/\d+", done.stdout, re.MULTILINE), done.stdout
    assert "TODO step 1" in done.stdout


def test_gradescope_zip_builds_what_grading_needs(tmp_path):
    """setup.sh builds the grader's target (the tracer too: without it, every program of a
    submission died in the sandbox) and run_autograder calls the grader's own command."""
    import zipfile
    out = tmp_path / "autograder.zip"
    subprocess.run([sys.executable, "-m", "grader", "package", "gradescope", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    with zipfile.ZipFile(out) as z:
        setup, run = z.read("setup.sh").decode(), z.read("run_autograder").decode()
    assert "scripts/setup --grader" in setup and "--target socklab_grader" in setup, setup
    assert "-m grader gradescope /autograder/submission" in run, run


@pytest.mark.parametrize("lab, build, said", [
    ("01-no-such-lab", None, "names no lab '01-no-such-lab'"),
    (LAB, "a file", "failed before it could grade"),
])
def test_prairielearn_entrypoint_always_writes_results(tmp_path, lab, build, said):
    """Without a shell, from any folder: results.json is written ("gradable": false when the
    grader could not grade) and the exit status is 0."""
    grade = tmp_path / "grade"
    (grade / "student").mkdir(parents=True)
    env = {**os.environ, "SOCKLAB_GRADE_DIR": str(grade)}
    if build:
        (tmp_path / "afile").write_text("")
        env["SOCKLAB_BUILD_DIR"] = str(tmp_path / "afile")
    done = subprocess.run([str(ROOT / "scripts" / "prairielearn-entrypoint"), lab], cwd="/",
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads((grade / "results" / "results.json").read_text())
    assert results["gradable"] is False and said in results["message"], results


def platform(submission: Path, results_file: Path, build_dir: Path, *options: str) -> dict:
    """Gradescope's command as run_autograder runs it; the results it wrote."""
    done = subprocess.run([sys.executable, "-m", "grader", "gradescope", str(submission),
                           str(results_file), "--build-dir", str(build_dir), *options],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(results_file.read_text())


def test_loose_files_get_a_message_not_nine_skeletons(tmp_path, build_dir):
    """Gradescope's file upload puts server.c and client.c at the submission's top: without
    --lab no lab can be told, and the student is told how to upload, not graded as 0."""
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "labs" / LAB, submission)
    data = platform(submission, tmp_path / "results.json", build_dir)
    assert data["score"] == 0 and not data["tests"]
    assert "server.c" in data["output"] and "lab folder" in data["output"], data["output"]


def test_lab_option_grades_loose_files_as_that_lab(tmp_path, build_dir):
    if not (ROOT / "solutions" / LAB).exists():
        pytest.skip("needs solutions/")
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "solutions" / LAB, submission)
    data = platform(submission, tmp_path / "results.json", build_dir, "--lab", LAB[:2])
    checks = [t for t in data["tests"] if t["max_score"] > 0]
    assert checks and all(t["name"].startswith(LAB) for t in checks)
    assert data["score"] == round(sum(t["max_score"] for t in checks), 2), data["output"]


def test_the_image_takes_the_course_and_nothing_else():
    """.dockerignore names what the image copies: every top-level entry of the course but
    those never handed out, and nothing that is not the course's (a submissions/ folder
    beside it must not end up in an image an instructor may push to a public registry)."""
    from grader.package import EXCLUDED_TOP
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "the image's files must be an allowlist: '*' first"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True,
                            text=True, check=True).stdout.split()
    if not listed:
        pytest.skip("not a git checkout")
    course = {name.split("/")[0] for name in listed} - EXCLUDED_TOP - {".dockerignore",
                                                                      ".gitignore"}
    assert allowed == course, (f"missing from the image: {sorted(course - allowed)}; "
                               f"not the course's: {sorted(allowed - course)}")
