"""Shared by the harness's own tests: running a lab's test module in a pytest of its own."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import programs, registry
from harness.results import Grading

ROOT = programs.ROOT


def lab_module(lab: str) -> Path:
    return ROOT / "tests" / f"test_{lab.replace('-', '_')}.py"


def labs_with_tests() -> list[str]:
    """The labs of labs.txt that have a test module (test_labs_complete fails on one without)."""
    return [lab for lab in registry.names() if lab_module(lab).exists()]


@dataclass
class Run:
    returncode: int
    output: str
    tests: dict  # test name -> its CheckResult (test_mutants: its workers' own entries)


def run_lab_tests(lab: str, impl: str, build_dir: Path, tmp_path: Path, *extra: str,
                  timeout: float = 600) -> Run:
    """Runs a lab's tests against impl in a fresh pytest process; returns every outcome."""
    results = tmp_path / f"results-{abs(hash((lab, impl, extra)))}.json"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(lab_module(lab)),
           "--impl", impl, "--build-dir", str(build_dir), "--results", str(results), *extra]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    tests = {}
    if results.exists():
        grading = Grading.from_json(json.loads(results.read_text()))
        tests = {c.name: c for r in grading.labs for c in r.checks}
    return Run(done.returncode, done.stdout + done.stderr, tests)



def gradescope_schema() -> dict:
    """Gradescope's results.json, as tests/contracts/ writes its contract."""
    return json.loads((ROOT / "tests" / "contracts" / "gradescope.schema.json").read_text())


def validate(value, schema: dict, where: str = "results") -> None:
    import jsonschema  # Debian's python3-jsonschema (scripts/setup)
    try:
        jsonschema.Draft202012Validator(schema).validate(value)
    except jsonschema.ValidationError as e:
        raise AssertionError(f"{where}: {e.message} at {list(e.absolute_path)}") from None
