"""Grading: build each lab of an implementation, run its tests, and score them.

A lab that does not compile scores 0, and its feedback is the compiler's output. Each lab's
tests run in a pytest of their own (a crash in one cannot take the others down), with
--results, from which the scores come.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import programs

LAB_TIMEOUT = 600  # seconds for one lab's tests; every test has its own, shorter, deadlines


@dataclass
class Check:
    name: str
    doc: str
    points: float
    outcome: str  # passed, failed, skipped
    message: str
    duration: float

    @property
    def score(self) -> float:
        return self.points if self.outcome == "passed" else 0.0


@dataclass
class LabResult:
    lab: str
    built: bool = True
    build_output: str = ""
    checks: list[Check] = field(default_factory=list)
    error: str = ""  # the tests could not be run at all

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks) if self.built else 0.0

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def passed(self) -> int:
        return sum(c.outcome == "passed" for c in self.checks)


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


def run_tests(lab: str, impl: str, build_dir: Path, workdir: Path, extra: list[str],
              tests_dirs: list[Path]) -> tuple[list[Check], str]:
    results = workdir / f"{lab}.json"
    results.unlink(missing_ok=True)
    modules = [str(m) for d in tests_dirs if (m := test_module(lab, d)).exists()]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-p", "harness.pytest_plugin", "--rootdir", str(programs.ROOT), *modules,
           "--impl", impl, "--build-dir", str(build_dir), "--results", str(results), *extra]
    try:
        done = subprocess.run(cmd, cwd=programs.ROOT, capture_output=True, text=True,
                              timeout=LAB_TIMEOUT)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        output = f"the tests of {lab} took longer than {LAB_TIMEOUT} s and were stopped"
    if not results.exists():
        return [], output
    checks = [Check(t["name"], t["doc"], float(t["points"]), t["outcome"], t["message"],
                    t["duration"]) for t in json.loads(results.read_text())["tests"]]
    return checks, output


def grade(build_dir: Path, impl: str, labs: list[str] | None, workdir: Path,
          extra: list[str] = (), tests_dirs: list[Path] | None = None,
          progress=None) -> list[LabResult]:
    """Grades the labs of impl ("labs", "solutions", or a tree's "submission" build)."""
    tests_dirs = tests_dirs or [programs.ROOT / "tests"]
    builds = {b.lab: b for b in programs.read_manifest(build_dir) if b.impl == impl}
    chosen = [lab for lab in (labs or sorted(builds))
              if any(test_module(lab, d).exists() for d in tests_dirs)]
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for lab in chosen:
        if progress:
            progress(lab)
        result = LabResult(lab)
        if lab not in builds:
            result.built, result.build_output = False, f"no {lab} in this implementation"
        else:
            result.built, result.build_output = build_lab(build_dir, builds[lab])
        result.checks, output = run_tests(lab, impl, build_dir, workdir, list(extra), tests_dirs)
        if not result.checks:
            result.error = output[-3000:]
        results.append(result)
    return results


def first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def scoreboard(results: list[LabResult], title: str) -> str:
    out = [title, "", f"{'lab':<20} {'checks':>7}  {'points':>11}"]
    total = maximum = 0.0
    for r in results:
        total += r.score
        maximum += r.max_score
        pct = f"{100 * r.score / r.max_score:3.0f}%" if r.max_score else "  - "
        note = "" if r.built else "does not compile"
        if r.error:
            note = "tests could not run"
        out.append(f"{r.lab:<20} {r.passed:>3}/{len(r.checks):<3}  "
                   f"{r.score:>5g}/{r.max_score:<5g} {pct:>4}  {note}".rstrip())
    pct = f"{100 * total / maximum:3.0f}%" if maximum else ""
    out.append(f"{'total':<20} {'':>7}  {total:>5g}/{maximum:<5g} {pct:>4}")
    for r in results:
        if not r.built:
            out += ["", f"{r.lab} does not compile:", *r.build_output.strip().splitlines()[-25:]]
        elif r.error:
            out += ["", f"{r.lab}: the tests could not run:", r.error]
        else:
            failed = [c for c in r.checks if c.outcome == "failed"]
            if failed:
                c = failed[0]
                out += ["", f"{r.lab}: {len(failed)} check(s) failed; the first, {c.name}:"]
                out += [f"  {line}" for line in c.message.splitlines()[:12]]
                number = r.lab[:2]
                out.append(f"  all of them: cmake --build build --target check{number}")
    return "\n".join(out)


def write_summary(results: list[LabResult], path: Path, impl: str) -> None:
    data = {"impl": impl, "time": time.time(),
            "score": sum(r.score for r in results), "max_score": sum(r.max_score for r in results),
            "labs": [{"lab": r.lab, "built": r.built, "score": r.score, "max_score": r.max_score,
                      "build_output": "" if r.built else r.build_output,
                      "checks": [c.__dict__ for c in r.checks]} for r in results]}
    path.write_text(json.dumps(data, indent=1))
