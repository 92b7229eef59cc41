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
from dataclasses import dataclass, field
from pathlib import Path

from harness import programs
from harness.checks import printable_text

LAB_TIMEOUT = 600  # seconds for one lab's tests; every test has its own, shorter, deadlines


@dataclass
class Check:
    name: str
    doc: str
    points: float
    outcome: str  # passed, failed, skipped
    message: str
    duration: float
    hidden: bool = False  # from an instructor's extra test directory
    events: list[dict] = field(default_factory=list)  # a failed check's conversation (trace.py)
    failed_at: float = 0.0  # when it failed, on the conversation's clock
    failed_step: str = ""

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


def modules_for(lab: str, tests_dirs: list[Path]) -> list[Path]:
    """The lab's test module in each directory: test_NN_name.py, and test_NN_name_*.py (an
    instructor's extra checks for the lab, kept outside the student package)."""
    stem = f"test_{lab.replace('-', '_')}"
    found = []
    for d in tests_dirs:
        found += sorted({*d.glob(f"{stem}.py"), *d.glob(f"{stem}_*.py")})
    return found


def run_tests(lab: str, impl: str, build_dir: Path, workdir: Path, extra: list[str],
              tests_dirs: list[Path], scratch: Path | None = None) -> tuple[list[Check], str]:
    """Runs the lab's test modules in a pytest of their own; the checks, and pytest's output.
    scratch: where the checks' own folders go (default: workdir/tmp)."""
    results = workdir / f"{lab}.json"
    results.unlink(missing_ok=True)
    modules = modules_for(lab, tests_dirs)
    if not modules:  # never let pytest fall back to collecting every test it can find
        return [], f"no test module for {lab} in {', '.join(map(str, tests_dirs))}"
    main_dir = tests_dirs[0].resolve()
    basetemp = (scratch or workdir / "tmp") / lab
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-p", "harness.pytest_plugin", "--rootdir", str(programs.ROOT), *map(str, modules),
           "--impl", impl, "--build-dir", str(build_dir), "--results", str(results),
           "--basetemp", str(basetemp), *extra]
    env = {**os.environ, "PYTHONPATH": str(programs.ROOT)}  # extra test dirs import harness
    env.pop("PYTEST_ADDOPTS", None)
    basetemp.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(cmd, cwd=programs.ROOT, capture_output=True, text=True,
                              errors="replace", timeout=LAB_TIMEOUT, env=env)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        output = f"the tests of {lab} took longer than {LAB_TIMEOUT} s and were stopped"
    shutil.rmtree(basetemp, ignore_errors=True)  # what the programs wrote
    if not results.exists():
        return [], output
    return read_results(results, main_dir), output


def read_results(results: Path, main_dir: Path) -> list[Check]:
    """The checks of a pytest --results file. Whatever a program printed reaches the terminal
    and the reports escaped, even where a message did not come through the story."""
    return [Check(t["name"], t["doc"], float(t["points"]), t["outcome"],
                  printable_text(t["message"]),
                  t["duration"], hidden=Path(t["path"]).resolve().parent != main_dir,
                  events=t.get("events", []), failed_at=t.get("failed_at", 0.0),
                  failed_step=t.get("failed_step", ""))
            for t in json.loads(results.read_text())["tests"]]


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
        result.checks, output = run_tests(lab, impl, build_dir, workdir, lab_extra, tests_dirs,
                                          scratch)
        if not result.checks:
            result.error = printable_text(output[-3000:])
        results.append(result)
        if done:
            done(results)
    return results


def first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


EXCERPT_HEAD = 12  # lines of a failure's message: the step, expected, actual, hint
EXCERPT_TAIL = 5  # last lines of each stream of each program


def excerpt(message: str) -> list[str]:
    """The part of a failure's story that fits on a terminal: its head (the step, expected,
    actual, hint), and for each program how it ended and the last lines of its stdout and
    stderr, where its own words (the clue, often) are. The steps and the commands to
    reproduce it are left to the full feedback."""
    blocks = message.split("\n\n")
    head = blocks[0].splitlines()
    out = head[:EXCERPT_HEAD] + (["..."] if len(head) > EXCERPT_HEAD else [])
    for block in blocks[1:]:
        lines = block.splitlines()
        if not lines or lines[0] in ("steps:",) or lines[0].startswith("to reproduce"):
            continue
        if not lines[0].startswith(" ") and "):" in lines[0]:  # "server (how it ended): cmd"
            out.append(lines[0])
            stream: list[str] = []
            for line in lines[1:] + ["  end:"]:
                if line.startswith("    | "):
                    stream.append(line)
                    continue
                if len(stream) > EXCERPT_TAIL:
                    out.append(f"    | ... ({len(stream) - EXCERPT_TAIL} lines before)")
                out += stream[-EXCERPT_TAIL:]
                stream = []
                if line != "  end:":
                    out.append(line.split(", last ")[0].rstrip(":") + ":"
                               if line.endswith(":") else line)
        else:
            out += lines[:EXCERPT_HEAD]
    return out


def check_command(lab: str, impl: str = "labs") -> str:
    """The command that reruns one lab's checks on a fresh build."""
    return f"./socklab check {lab}" + ("" if impl == "labs" else f" --impl {impl}")


def scoreboard(results: list[LabResult], title: str, impl: str | None = None) -> str:
    """impl: what was graded, for the command that reruns a lab; by default read from the
    title ("socklab: labs/", "socklab: /path/to/tree"), as every grader writes it."""
    if impl is None:
        impl = title.removeprefix("socklab: ").rstrip("/") or "labs"
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
                said = f"{c.doc} ({c.name})" if c.doc else c.name  # the sentence, then -k's name
                out += ["", f"{r.lab}: 1 check failed: {said}" if len(failed) == 1 else
                        f"{r.lab}: {len(failed)} checks failed; the first: {said}"]
                out += [f"  {line}".rstrip() for line in excerpt(c.message)]
                out.append(f"  all of them: {check_command(r.lab, impl)}")
    return "\n".join(out)
