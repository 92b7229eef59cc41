"""Mutants prove the tests are sharp: each is a solution with one classic mistake
(tests/mutants/LAB/NAME.patch), and the tests the patch names under "Caught by:" must fail on
it, with a check failure, not a harness error. (The solutions passing everything is checked
by the lab's own CTest entry.)

A patch starts with a few header lines that patch(1) ignores:
    Mistake: what the broken code does, and why it is wrong
    Caught by: test_a, test_b[short-io]
    Options: --valgrind        (optional: how the catching tests must run)
    Hint: text                 a catching check's message must contain it (with several Hint
                                lines, one message must contain them all)
A name without brackets stands for every instance of the test (its parameters, and its
partial-I/O version if it has one); test_b[short-io] for that instance alone.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import programs
from harness.timing import Deadline

from .support import ROOT, Run, lab_module, labs_with_tests

MUTANTS = ROOT / "tests" / "mutants"
# Pytest workers per lab, at most: most of a check's time on a mutant is a deadline wait. A
# lab starts one, and one more every RAMP seconds while some pairs are still unclaimed, so
# that a lab whose checks fail at once costs one start-up, and a slow one waits side by side.
WORKERS = 6
RAMP = 1.0
# All of a lab's mutants run in the first test's setup: give it the time they all take.
pytestmark = pytest.mark.timeout(900)
GROUP_DEADLINE = 840  # seconds for one lab's workers, inside pytest's own 900: a hung worker
                      # is stopped, and named, rather than ending the run without a word


def header(patch: Path) -> dict[str, str]:
    fields = {}
    for line in patch.read_text().splitlines():
        if line.startswith("--- "):
            break
        if m := re.match(r"^(Mistake|Caught by|Options|Hint): *(.*)$", line):
            if m.group(1) == "Hint" and "Hint" in fields:  # one more part of the same hint
                fields["Hint"] += "\n" + m.group(2).strip()
            else:
                fields[m.group(1)] = m.group(2).strip()
    return fields


def catchers_of(patch: Path) -> list[str]:
    return [name.strip() for name in header(patch).get("Caught by", "").split(",") if name.strip()]


def mutants_of(lab: str) -> list[Path]:
    return sorted((MUTANTS / lab).glob("*.patch"))


def chosen_mutants(config) -> list[Path]:
    labs = config.getoption("--lab") or labs_with_tests()
    return [p for lab in labs for p in mutants_of(lab)]


def pytest_generate_tests(metafunc):
    if "mutant" in metafunc.fixturenames:
        found = chosen_mutants(metafunc.config)
        metafunc.parametrize("mutant", found, ids=[f"{p.parent.name}/{p.stem}" for p in found])


def impl_of(mutant: Path) -> str:
    return f"mutant/{mutant.parent.name}/{mutant.stem}"


def built_impls(build_dir: Path) -> set[str]:
    return {b.impl for b in programs.read_manifest(build_dir)}


def run_mutants(mutants: list[Path], build_dir: Path, tmp_path: Path) -> dict[Path, Run]:
    """Every (mutant, catching check) pair, each run once, by pytest workers (mutant_worker.py)
    that share the pairs: a group of workers per lab and Options line. Returns each mutant's
    Run (the outcomes of its catchers)."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for mutant in mutants:
        key = (mutant.parent.name, header(mutant).get("Options", ""))
        groups.setdefault(key, []).append(mutant)
    plans = []
    for n, ((lab, options), group) in enumerate(groups.items()):
        claims = tmp_path / f"claims-{n}"
        claims.mkdir()
        plan = tmp_path / f"plan-{n}.json"
        plan.write_text(json.dumps({"claims": str(claims), "mutants": [
            {"impl": impl_of(m), "catchers": catchers_of(m)} for m in group]}))
        plans.append((lab, options, plan, claims))

    def run_group(n: int) -> list[tuple[Path, int, str]]:
        lab, options, plan, claims = plans[n]
        workers = []
        deadline = Deadline(GROUP_DEADLINE)
        while True:
            if len(workers) < WORKERS and (not workers or unclaimed(claims) > 0 and
                                           time.monotonic() - workers[-1][3] >= RAMP):
                results = tmp_path / f"results-{n}-{len(workers)}.json"
                cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "-p", "tests.selftest.mutant_worker", str(lab_module(lab)),
                       "--build-dir", str(build_dir), "--mutant-plan", str(plan),
                       "--mutant-results", str(results), *options.split()]
                proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                output = []
                reader = threading.Thread(target=lambda p=proc, o=output: o.append(p.stdout.read()))
                reader.start()
                workers.append((proc, reader, output, time.monotonic(), results, cmd))
            if all(w[0].poll() is not None for w in workers):
                break
            if deadline.expired:
                for worker in workers:
                    worker[0].kill()
                pytest.fail(f"the mutant workers of {lab} were still running after "
                            f"{GROUP_DEADLINE} s: {' '.join(workers[0][5])}")
            time.sleep(0.2)  # no event says "a pair was claimed": look again shortly
        finished = []
        for proc, reader, output, _, results, cmd in workers:
            reader.join()
            finished.append((results, proc.wait(), f"$ {' '.join(cmd)}\n{''.join(output)}"))
        return finished

    with ThreadPoolExecutor(max_workers=len(plans) or 1) as pool:
        finished = [w for group in pool.map(run_group, range(len(plans))) for w in group]
    outcomes = [entry for results, _, _ in finished if results.exists()
                for entry in json.loads(results.read_text())]
    output = "\n".join(text[-3000:] for _, _, text in finished)
    runs = {}
    for mutant in mutants:
        tests = {e["name"]: e for e in outcomes if e["mutant"] == impl_of(mutant)}
        runs[mutant] = Run(max(code for _, code, _ in finished), output, tests)
    return runs


def unclaimed(claims: Path) -> int:
    """Pairs no worker has taken yet (0 until a worker has counted them)."""
    total = Path(f"{claims}.total")
    return int(total.read_text()) - len(os.listdir(claims)) if total.exists() else 0


@pytest.fixture(scope="module")
def mutant_runs(request, settings, tmp_path_factory):
    """Every chosen mutant that names its catchers and was built, all run at once."""
    built = built_impls(settings.build_dir)
    found = [m for m in chosen_mutants(request.config) if catchers_of(m) and impl_of(m) in built]
    return run_mutants(found, settings.build_dir, tmp_path_factory.mktemp("mutants"))


def test_lab_has_mutants(lab_name):
    assert len(mutants_of(lab_name)) >= 2, f"{lab_name} needs at least two mutants"


def test_mutant_is_caught(mutant, build_dir, mutant_runs):
    fields = header(mutant)
    assert fields.get("Mistake") and fields.get("Caught by") and fields.get("Hint"), \
        f"{mutant.name} needs 'Mistake:', 'Caught by:' and 'Hint:' header lines: the hint is " \
        "the cause a catching check must name, so that feedback is tested as a verdict is"
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
    parts = fields["Hint"].split("\n")  # the feedback must name the cause, not only fail
    assert any(all(p in t["message"] for p in parts) for t in run.tests.values()), \
        f"no catching check of {lab}/{name} says {' and '.join(map(repr, parts))}:\n" + \
        "\n".join(f"{n}: {t['message'][:1500]}" for n, t in run.tests.items())
