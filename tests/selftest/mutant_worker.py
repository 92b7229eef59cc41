"""A worker of the mutant self-test (test_mutants.py): one pytest session that runs a lab's
checks against many mutants, instead of a pytest of its own for each mutant.

Loaded with `-p tests.selftest.mutant_worker --mutant-plan PLAN --mutant-results FILE` on a
lab's test module. PLAN (JSON) lists the mutants, each with the checks that must catch it
("Caught by"), and a claims folder. Each (mutant, check) pair becomes a copy of the check
whose `lab` runs that mutant's programs; every other check is left out. Several workers are
given the same plan, and each pair runs in the first worker that claims it (a file made with
O_EXCL in the claims folder): the checks that wait out a deadline on a broken program then
wait side by side, and each worker starts Python and pytest only once.

FILE gets one entry per pair that this worker ran: mutant, check, outcome, message. The
number of pairs goes to CLAIMS.total, so that no worker is started once every pair is taken.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

PAIR = pytest.StashKey[tuple]()  # (mutant impl, the check's name) of a copy
CLAIMS = pytest.StashKey[Path]()
RESULTS = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("socklab mutant worker")
    group.addoption("--mutant-plan", default=None, help="JSON: the mutants and their catchers")
    group.addoption("--mutant-results", default=None, help="where this worker's outcomes go")


def pytest_configure(config):
    config.stash[RESULTS] = {}


def caught_by(item, catcher: str) -> bool:
    """'test_x' stands for every instance of test_x (parameters, partial-I/O and memory copies);
    'test_x[short-io]' for that instance alone."""
    return catcher in (item.name, item.originalname)


def copy_for(item, impl: str):
    # imported here: importing the harness's plugin before pytest loads it would keep pytest
    # from rewriting its asserts
    from harness.pytest_plugin import ITEM_IMPL, carry_copy_kind

    callspec = getattr(item, "callspec", None)
    copy = pytest.Function.from_parent(item.parent, name=f"{item.name}@{impl}", callspec=callspec,
                                       fixtureinfo=item._fixtureinfo,
                                       originalname=item.originalname)
    copy.own_markers = list(item.own_markers)  # the timeout the harness gave the check
    copy.stash[ITEM_IMPL] = impl
    carry_copy_kind(item, copy)  # a partial-I/O or memory version stays one
    copy.stash[PAIR] = (impl, item.name)
    return copy


@pytest.hookimpl(trylast=True)  # after the harness has made the partial-I/O copies
def pytest_collection_modifyitems(config, items):
    plan_file = config.getoption("--mutant-plan")
    if not plan_file:
        return
    plan = json.loads(Path(plan_file).read_text())
    config.stash[CLAIMS] = Path(plan["claims"])
    copies = [copy_for(item, mutant["impl"]) for mutant in plan["mutants"] for item in items
              if any(caught_by(item, c) for c in mutant["catchers"])]
    config.hook.pytest_deselected(items=list(items))
    items[:] = copies
    # how many pairs there are, for whoever starts the workers (claims made / still to make)
    total = Path(f"{plan['claims']}.total")
    tmp = total.with_name(f"{total.name}.{os.getpid()}")
    tmp.write_text(str(len(copies)))
    tmp.replace(total)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """Runs the pair only if no other worker has claimed it."""
    pair = item.stash.get(PAIR, None)
    if pair is None:
        return None
    claim = item.config.stash[CLAIMS] / hashlib.sha256(json.dumps(pair).encode()).hexdigest()[:32]
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return True  # another worker runs it: nothing to do or report here
    return None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outermost: sees the harness's failure story
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    pair = item.stash.get(PAIR, None)
    if pair is None or not (report.failed or report.when == "call" or report.skipped):
        return
    entry = item.config.stash[RESULTS].setdefault(pair, {
        "mutant": pair[0], "name": pair[1], "outcome": "passed", "message": "", "duration": 0.0})
    entry["duration"] += report.duration
    if report.failed and entry["outcome"] != "failed":
        entry["outcome"], entry["message"] = "failed", str(report.longrepr)
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session):
    path = session.config.getoption("--mutant-results")
    if path:
        Path(path).write_text(json.dumps(list(session.config.stash[RESULTS].values()), indent=1))
