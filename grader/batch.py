"""Batch grading: a folder with one submission per student, graded in parallel.

Each submission is graded by a `python3 -m grader grade --impl TREE` of its own, which puts
it in a sandbox (harness/sandbox.py): its own namespaces, an unprivileged uid, a cgroup, a
size-capped scratch; and under a wall-clock limit here. A fork bomb, an endless loop, a
runaway write or an attack on the grader costs that submission its points and nothing else:
no process of a submission can see or signal this batch process, another submission, or the
reports, and every row of grades.csv is written.

Out: OUT/grades.csv (one row a student: each lab's points and maximum, the total) and, per
student, OUT/students/NAME/{results.json, junit.xml, feedback.txt, summary.json, ...}.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import programs, registry
from harness.results import Grading, LabResult, Outcome

from . import grade, render

from .render.files import write_atomic
from .render.grades_csv import Row, grades_csv

STOP_GRACE = 10  # seconds a grading stopped at its time limit has to clean up


@dataclass
class BatchOptions:
    jobs: int = 2
    submission_timeout: float = 1800.0
    labs: tuple[str, ...] = ()
    tests_dirs: tuple[Path, ...] = ()
    limit_fsize: str | None = None
    grade_options: tuple[str, ...] = ()  # more options for each grade (--limit-memory=...)
    weights: Path | None = None  # an instructor's lesson weights (harness/weights.py)
    build_dir: Path = programs.default_build_dir()  # the course's own build (the shim, labs)


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, tree): each subfolder is a student; their labs are in it, or in its labs/."""
    found = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        tree = sub / "labs" if (sub / "labs").is_dir() else sub
        found.append((sub.name, tree))
    return found


def grade_one(student: str, tree: Path, out: Path, options: BatchOptions) -> Row:
    student_dir = out / "students" / student
    student_dir.mkdir(parents=True, exist_ok=True)
    for old in student_dir.iterdir():  # an earlier batch's reports must not stand for this one
        if old.is_file() or old.is_symlink():
            old.unlink()
    cmd = [sys.executable, "-m", "grader", "grade", "--impl", str(tree), "--html",
           "--build-dir", str(options.build_dir), "--out", str(student_dir),
           *[f"--tests-dir={d}" for d in options.tests_dirs], *options.labs]
    if options.limit_fsize:
        cmd.append(f"--limit-fsize={options.limit_fsize}")
    if options.weights:
        cmd.append(f"--weights={options.weights}")
    cmd += options.grade_options
    log = student_dir / "grading.log"
    started = time.monotonic()
    stopped = ""
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, cwd=programs.ROOT, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(programs.ROOT)})
        try:
            proc.wait(timeout=options.submission_timeout)
        except subprocess.TimeoutExpired:
            stopped = (f"grading was stopped after {options.submission_timeout:g} s "
                       "(the submission's time limit); the labs not finished score 0")
            proc.terminate()  # the grader removes the submission's cgroup and folder
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                pass
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    return read_scores(student, student_dir, stopped, time.monotonic() - started, options)


def read_scores(student: str, student_dir: Path, stopped: str, elapsed: float,
                options: BatchOptions) -> Row:
    """The student's grading, from summary.json; when grading died or was stopped, the labs it
    had finished and, for each lab it had not, every check at 0 (a lab never graded is never
    left out of the maximum), in every report a graded student gets."""
    summary_file = student_dir / "summary.json"
    grading = None
    try:
        grading = Grading.from_json(json.loads(summary_file.read_text()))
    except (OSError, ValueError, KeyError):
        pass
    finished_normally = grading is not None
    if stopped or grading is None:
        reason = stopped or ("grading failed before any lab finished; see grading.log:\n" +
                             _tail(student_dir / "grading.log"))
        told = grading or Grading(f"socklab: {student}", "submission")
        finished = {r.lab for r in told.labs}
        told.labs += [not_graded(lab, reason, options, the_submissions=bool(stopped))
                      for lab in options.labs or registry.names() if lab not in finished]
        told.about["note"] = reason
        told.elapsed = elapsed
        render.write_all(told, student_dir, html=True)
        grading = told
    return Row(student, grading, "stopped: time limit" if stopped else
               ("" if finished_normally else "grading failed"))


def not_graded(lab: str, reason: str, options: BatchOptions,
               the_submissions: bool = False) -> LabResult:
    """The lab's checks, each with its title and points, none run: pytest --collect-only
    (the instructor's test modules only; nothing of the submission runs). the_submissions:
    whether the submission caused it (its time limit: then each check failed, and the
    platforms count the grading, as for any failure), or the grader did (it died: the tests
    could not run, and the platforms say it is not the student's fault)."""
    tests_dirs = [programs.ROOT / "tests", *options.tests_dirs]
    result = LabResult(lab, error=reason)
    modules = grade.modules_for(lab, tests_dirs)
    if not modules:
        return result
    with tempfile.TemporaryDirectory(prefix="socklab-collect-") as tmp:
        listed = Path(tmp) / "checks.json"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only",
                        "-p", "no:cacheprovider", "-p", "harness.pytest_plugin",
                        "--rootdir", str(programs.ROOT), *map(str, modules),
                        "--impl", "submission", "--results", str(listed),
                        *([f"--weights={options.weights}"] if options.weights else [])],
                       cwd=programs.ROOT, capture_output=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(programs.ROOT)})
        if listed.exists():
            result.checks = grade.read_results(listed)
    for check in result.checks:
        check.message = reason
        if the_submissions:
            check.outcome = Outcome.FAILED
    if the_submissions and result.checks:
        result.error = ""
    return result


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def batch(folder: Path, out: Path, options: BatchOptions, progress=None) -> list[Row]:
    submissions = find_submissions(folder)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, Row] = {student: Row(student, note="not graded yet")
                            for student, _ in submissions}
    lock = threading.Lock()

    def one(item):
        student, tree = item
        try:
            row = grade_one(student, tree, out, options)
        except Exception as e:  # noqa: BLE001 - one submission never stops the batch
            row = Row(student, note=f"grading failed: {type(e).__name__}: {e}")
        with lock:  # every finished row is on disk at once, whatever happens later
            rows[student] = row
            write_csv(list(rows.values()), out / "grades.csv", options.labs)
        if progress:
            progress(row)
        return row

    write_csv(list(rows.values()), out / "grades.csv", options.labs)
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        list(pool.map(one, submissions))
    return list(rows.values())


def write_csv(rows: list[Row], path: Path, labs: tuple[str, ...]) -> None:
    write_atomic(path, grades_csv(rows, labs or tuple(registry.names())))
