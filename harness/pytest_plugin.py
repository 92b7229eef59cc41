"""pytest plugin: socklab's options, fixtures, failure reports and results.

Options:
  --impl labs|solutions|mutant/LAB/NAME|PATH   the implementation to test (default labs)
  --build-dir DIR    the CMake build (default ./build, or $SOCKLAB_BUILD_DIR)
  --valgrind         run every program under memcheck and judge its report
  --short-io SPEC    every check runs with its stream sends/recvs cut short (LD_PRELOAD shim):
                     N, or send=N,recv=M,seed=S (harness/shortio.py)
  --lab LAB          for the harness's own tests: only this lab (repeatable)
  --results FILE     write every check's outcome and message as JSON (for grading)
  --limits           rlimits on every program (CPU, memory, file size, processes)
  --limit-fsize SIZE the largest file a program may write under --limits (e.g. 256M)
  --build-error-file FILE   the lab did not compile: every test fails with this output
  --sandbox FILE     run every program behind the walls described in FILE (harness/sandbox.py)

A check marked @pytest.mark.short_io(SPEC) also runs as a check of its own, test_x[short-io],
whose programs run under the shim with SPEC: the partial-I/O version, graded like any other
(left out under --short-io, where every check runs that way).
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from . import compat, programs
from .checks import CheckFailure
from .lab import Lab, Settings
from .limits import Limits, parse_size
from .process import kill_all
from .sandbox import Walls
from .shortio import ShortIO
from .story import Story

compat.check_pytest()  # pytest 6.2.5 or newer; on 6.2, pytest.StashKey and .stash as in 7
STORY = pytest.StashKey[Story]()
DEFAULT_POINTS = 1
TEST_TIMEOUT = 60  # per test, a last resort: every wait in the harness has its own deadline


def pytest_addoption(parser):
    group = parser.getgroup("socklab")
    group.addoption("--impl", default="labs",
                    help="labs (default), solutions, mutant/LAB/NAME, or a submission tree")
    group.addoption("--build-dir", default=None, help="the CMake build directory")
    group.addoption("--valgrind", action="store_true", help="run every program under memcheck")
    group.addoption("--short-io", type=ShortIO.parse, default=None, metavar="SPEC",
                    help="cut each stream send/recv short: N, or send=N,recv=M,seed=S")
    group.addoption("--lab", action="append", default=[], help="harness self-tests: this lab")
    group.addoption("--results", default=None, help="write every check's outcome here (JSON)")
    group.addoption("--limits", action="store_true", help="rlimits on every program")
    group.addoption("--limit-fsize", default=None, help="largest file a program may write")
    group.addoption("--build-error-file", default=None, help="the lab did not compile")
    group.addoption("--sandbox", default=None, metavar="FILE",
                    help="run programs behind these walls (written by the grader)")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): what the check is worth (default 1)")
    config.addinivalue_line("markers", "short_io(spec): also run the check as test[short-io], "
                            "its programs under the short-I/O shim with spec")
    config.stash[RESULTS] = {}
    config.pluginmanager.register(FastFailureReports(), "socklab-fast-failure-reports")


# -- the partial-I/O versions: a copy of each marked check, under the short-I/O shim -----------
SHORT_IO_COPY = pytest.StashKey[ShortIO]()


@pytest.hookimpl(hookwrapper=True)
def pytest_pycollect_makeitem(collector, name, obj):
    outcome = yield
    items = outcome.get_result()
    if not isinstance(items, list) or collector.config.getoption("--short-io"):
        return
    copies = []
    for item in items:
        marker = item.get_closest_marker("short_io") if isinstance(item, pytest.Function) else None
        if marker is None:
            continue
        callspec = getattr(item, "callspec", None)
        ids = f"{callspec.id}-short-io" if callspec else "short-io"
        copy = pytest.Function.from_parent(
            collector, name=f"{item.originalname}[{ids}]", callspec=callspec,
            fixtureinfo=item._fixtureinfo, keywords={ids: True}, originalname=item.originalname)
        copy.stash[SHORT_IO_COPY] = ShortIO.parse(marker.args[0])
        copies.append(copy)
    if copies:
        outcome.force_result(items + copies)


def pytest_collection_modifyitems(config, items):
    scale = 10 if config.getoption("--valgrind") else 1
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT * scale))


def settings_from(config) -> Settings:
    build_dir = config.getoption("--build-dir")
    limits = None
    if config.getoption("--limits"):
        fsize = config.getoption("--limit-fsize")
        limits = Limits(file_size=parse_size(fsize)) if fsize else Limits()
    error_file = config.getoption("--build-error-file")
    walls_file = config.getoption("--sandbox")
    return Settings(walls=Walls.load(walls_file) if walls_file else Walls(),
                    build_dir=Path(build_dir).resolve() if build_dir else
                    programs.default_build_dir(),
                    impl=config.getoption("--impl"), valgrind=config.getoption("--valgrind"),
                    short_io=config.getoption("--short-io"), limits=limits,
                    build_error=Path(error_file).read_text() if error_file else None)


@pytest.fixture(scope="session")
def settings(pytestconfig) -> Settings:
    return settings_from(pytestconfig)


class Builds:
    """Finds (and for a submission tree, builds) the programs of each lab, once a session."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._cache: dict[str, tuple] = {}

    def get(self, lab: str):
        if lab not in self._cache:
            try:
                self._cache[lab] = (self._find(lab), None)
            except programs.BuildError as e:
                self._cache[lab] = (None, str(e))
        return self._cache[lab]

    def _find(self, lab: str):
        impl, build_dir = self.settings.impl, self.settings.build_dir
        if not programs.is_tree(impl):
            return programs.find(build_dir, impl, lab)
        tree = Path(impl)
        sub_dir = programs.submission_build_dir(tree, build_dir)
        sub_dir.mkdir(parents=True, exist_ok=True)
        # Two harness runs grading the same tree at once take turns with its build.
        with open(sub_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            programs.configure_submission(tree, sub_dir)
            build = programs.find(sub_dir, "submission", lab)
            programs.build_target(sub_dir, build.target)
            for shim in ("socklab_shortio", "socklab_trace"):  # the lab's target leaves them out
                programs.build_target(sub_dir, shim)
        return build


@pytest.fixture(scope="session")
def builds(settings) -> Builds:
    return Builds(settings)


@pytest.fixture
def story(request):
    story = Story()
    request.node.stash[STORY] = story
    yield story
    for proc in story.procs:  # pass or fail, nothing a test started outlives it
        proc.kill()


# The mutant self-test runs a lab's checks against many implementations in one session: each
# copy of a check carries its own (tests/selftest/mutant_worker.py).
ITEM_IMPL = pytest.StashKey[str]()


@pytest.fixture
def lab(request, settings, builds, story, tmp_path) -> Lab:
    name = getattr(request.module, "LAB", None)
    if name is None:
        raise pytest.UsageError(f"{request.module.__name__} must set LAB = 'NN-name'")
    impl = request.node.stash.get(ITEM_IMPL, None)
    if impl is not None:  # a self-test's copy of the check, for another implementation
        settings = dataclasses.replace(settings, impl=impl)
        builds = Builds(settings)
    build, error = builds.get(name)
    short_io = request.node.stash.get(SHORT_IO_COPY, None)
    if short_io is not None:  # the partial-I/O version of a check
        settings = dataclasses.replace(settings, short_io=short_io)
        story.note = f"this is the partial-I/O version of the check: {short_io.describe()}"
    return Lab(name, build, error, settings, story, tmp_path)


class FastFailureReports:
    """A failed check's report, without pytest's rendering of the traceback (the story takes
    its place: see pytest_runtest_makereport below): that rendering costs each failure a
    fifth of a second, a lab with thirty failures six seconds."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        if (call.when != "call" or call.excinfo is None or item.stash.get(STORY, None) is None
                or not isinstance(call.excinfo.value, CheckFailure)):
            return None
        return pytest.TestReport(
            item.nodeid, item.location, {x: 1 for x in item.keywords}, "failed", "", call.when,
            [(f"Captured {key} {when}", content) for when, key, content in item._report_sections],
            call.duration, user_properties=item.user_properties)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    story = item.stash.get(STORY, None)
    if report.failed and call.excinfo is not None and story is not None:
        error = call.excinfo.value
        if isinstance(error, CheckFailure):
            report.longrepr = story.render(error)
        elif item.config.getoption("--results"):
            # Grading: a traceback would quote the test's source (hidden tests included).
            report.longrepr = story.render(error, quote_error=_is_visible(item))
        else:  # a bug in the test or the harness: keep the traceback, add the story
            report.longrepr = f"{report.longrepr}\n\n{story.render(error)}"
    if report.failed or report.when == "call":
        _record(item, report)


def _is_visible(item) -> bool:
    """A check from the course's own tests/ (an instructor's hidden ones are elsewhere)."""
    return Path(item.path).resolve().is_relative_to(programs.ROOT / "tests")


# -- results, for grading ------------------------------------------------------------------
RESULTS = pytest.StashKey[dict]()


def _record(item, report) -> None:
    results = item.config.stash[RESULTS]
    marker = item.get_closest_marker("points")
    doc = ((item.function.__doc__ or "").strip().splitlines() or [""])[0]
    short_io = item.stash.get(SHORT_IO_COPY, None)
    if short_io is not None:
        doc = f"{doc} Partial-I/O version: {short_io.describe()}."
    entry = results.setdefault(item.nodeid, {
        "name": item.nodeid.split("::", 1)[-1],
        "module": item.module.__name__ if item.module else "",
        "path": str(item.path),
        "lab": getattr(item.module, "LAB", None),
        "points": marker.args[0] if marker else DEFAULT_POINTS,
        "doc": doc,
        "outcome": "passed", "message": "", "duration": 0.0,
    })
    entry["duration"] += report.duration
    if report.failed and entry["outcome"] == "passed":
        entry["outcome"] = "failed"
        entry["message"] = str(report.longrepr)
        story = item.stash.get(STORY, None)
        if story is not None:  # for the sequence diagram of the HTML report
            entry["events"] = story.conversation.kept()
            entry["failed_at"] = story.conversation.now()
            entry["failed_step"] = story.steps[-1] if story.steps else ""
    elif report.skipped and report.when != "teardown":
        entry["outcome"] = "skipped"
        entry["message"] = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""


def pytest_sessionfinish(session, exitstatus):
    kill_all()
    path = session.config.getoption("--results")
    if path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"finished": time.time(),
                                   "tests": list(session.config.stash[RESULTS].values())},
                                  indent=1))
        tmp.replace(out)
