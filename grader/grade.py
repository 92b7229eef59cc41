"""Grading: build each lab of an implementation, run its tests, and score them.

A lab that does not compile scores 0, and its feedback is the compiler's output. Each lab's
tests run in a pytest of their own (a crash in one cannot take the others down), with
--results, from which the scores come.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness import programs
from harness.checks import printable_text
from harness.results import CheckResult, Grading, LabResult

# pytest's exit statuses that mean its checks did not all run: interrupted, internal error,
# usage error, no tests collected (0 and 1: every check ran, passed or failed)
NOT_RUN = {2: "pytest was interrupted", 3: "pytest hit an internal error",
           4: "pytest was called wrongly", 5: "no check was collected"}

LAB_TIMEOUT = 600  # seconds for one lab's tests; every test has its own, shorter, deadlines


def test_module(lab: str, tests_dir: Path) -> Path:
    return tests_dir / f"test_{lab.replace('-', '_')}.py"


def build_lab(build_dir: Path, build: programs.LabBuild) -> tuple[bool, str]:
    """Builds one lab; on failure, removes stale programs so no old binary gets graded."""
    try:
        return True, programs.build_target(build_dir, build.target)
    except programs.BuildError as e:
        for path in build.programs.values():
            path.unlink(missing_ok=True)
        return False, str(e)


def modules_for(lab: str, tests_dirs: list[Path]) -> list[Path]:
    """The lab's test module in each directory: test_NN_name.py, and test_NN_name_*.py (an
    instructor's extra checks for the lab, kept outside the student package)."""
    stem = f"test_{lab.replace('-', '_')}"
    found = []
    for d in tests_dirs:
        found += sorted({*d.glob(f"{stem}.py"), *d.glob(f"{stem}_*.py")})
    return found


def run_tests(lab: str, impl: str, build_dir: Path, workdir: Path, extra: list[str],
              tests_dirs: list[Path], scratch: Path | None = None
              ) -> tuple[list[CheckResult], str, str]:
    """Runs the lab's test modules in a pytest of their own: the checks, pytest's output, and
    why the checks did not all run ("" when they did). scratch: where the checks' own
    folders go (default: workdir/tmp)."""
    results = workdir / f"{lab}.json"
    results.unlink(missing_ok=True)
    modules = modules_for(lab, tests_dirs)
    if not modules:  # never let pytest fall back to collecting every test it can find
        why = f"no test module for {lab} in {', '.join(map(str, tests_dirs))}"
        return [], why, why
    basetemp = (scratch or workdir / "tmp") / lab
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-p", "harness.pytest_plugin", "--rootdir", str(programs.ROOT), *map(str, modules),
           "--impl", impl, "--build-dir", str(build_dir), "--results", str(results),
           "--basetemp", str(basetemp), *extra]
    env = {**os.environ, "PYTHONPATH": str(programs.ROOT)}  # extra test dirs import harness
    env.pop("PYTEST_ADDOPTS", None)
    basetemp.parent.mkdir(parents=True, exist_ok=True)
    why = ""
    try:
        done = subprocess.run(cmd, cwd=programs.ROOT, capture_output=True, text=True,
                              errors="replace", timeout=LAB_TIMEOUT, env=env)
        output = done.stdout + done.stderr
        why = NOT_RUN.get(done.returncode, "" if done.returncode in (0, 1) else
                          f"pytest ended with status {done.returncode}")
    except subprocess.TimeoutExpired:
        output = why = f"the tests of {lab} took longer than {LAB_TIMEOUT} s and were stopped"
    shutil.rmtree(basetemp, ignore_errors=True)  # what the programs wrote
    checks = read_results(results) if results.exists() else []  # all of them: the lab's modules
    if not checks and not why:
        why = "no check was collected" if results.exists() else "pytest wrote no results"
    return checks, output, why


def read_grading(results: Path) -> Grading:
    """What a pytest --results run wrote. Whatever a program printed reaches the terminal and
    the reports escaped, even where a message did not come through the story."""
    grading = Grading.from_json(json.loads(results.read_text()))
    for r in grading.labs:
        for c in r.checks:
            c.message = printable_text(c.message)
    return grading


def read_results(results: Path) -> list[CheckResult]:
    """Every check of a pytest --results file."""
    return [c for r in read_grading(results).labs for c in r.checks]


def grade(build_dir: Path, impl: str, labs: list[str] | None, workdir: Path,
          extra: list[str] = (), tests_dirs: list[Path] | None = None,
          progress=None, done=None, built: dict[str, tuple[bool, str]] | None = None,
          scratch: Path | None = None) -> list[LabResult]:
    """Grades the labs of impl ("labs", "solutions", or a tree's "submission" build).
    done(results so far) is called after each lab, so that a grading stopped by a time limit
    still leaves the scores of the labs it finished. built: each lab's compile, already done
    (a submission is compiled in its sandbox before any test runs)."""
    tests_dirs = tests_dirs or [programs.ROOT / "tests"]
    builds = {b.lab: b for b in programs.read_manifest(build_dir) if b.impl == impl}
    known = sorted({*builds, *(built or {})})
    chosen = [lab for lab in (labs or known) if modules_for(lab, tests_dirs)]
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("*.build-error.txt"):  # the reports describe this grading only
        stale.unlink(missing_ok=True)
    results = []
    for lab in chosen:
        if progress:
            progress(lab)
        result = LabResult(lab)
        if built is not None:
            result.built, result.build_output = built.get(lab, (False, f"no {lab} was built"))
        elif lab not in builds:
            result.built, result.build_output = False, f"no {lab} in this implementation"
        else:
            result.built, result.build_output = build_lab(build_dir, builds[lab])
        result.build_output = printable_text(result.build_output)  # it quotes the sources
        lab_extra = list(extra)
        error_file = workdir / f"{lab}.build-error.txt"
        if not result.built:
            error_file.write_text(result.build_output)
            lab_extra += ["--build-error-file", str(error_file)]
        result.checks, output, why = run_tests(lab, impl, build_dir, workdir, lab_extra,
                                               tests_dirs, scratch)
        if why:  # never a pass, never 0/0: an error, with pytest's last words
            tail = output[-3000:] if output != why else ""
            result.error = printable_text(f"{why}\n{tail}".strip())
        results.append(result)
        if done:
            done(results)
    return results
