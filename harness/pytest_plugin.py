"""pytest plugin: socklab's options, fixtures, failure reports and results.

Options:
  --impl labs|solutions|mutant/LAB/NAME|PATH   the implementation to test (default labs)
  --build-dir DIR    the CMake build (default ./build, or $SOCKLAB_BUILD_DIR)
  --valgrind         run every program under memcheck and judge its report
  --short-io SPEC    every check runs with its stream sends/recvs cut short (LD_PRELOAD shim):
                     N, or send=N,recv=M,seed=S (harness/shortio.py)
  --lab LAB          for the harness's own tests: only this lab (repeatable)
  --results FILE     write every check's outcome and message as JSON, a Grading of
                     harness/results.py (for grading)
  --limits           rlimits on every program (CPU, memory, file size, processes)
  --limit-fsize SIZE the largest file a program may write under --limits (e.g. 256M)
  --build-error-file FILE   the lab did not compile: every test fails with this output
  --sandbox FILE     run every program behind the walls described in FILE (harness/sandbox.py)
  --weights FILE     an instructor's lesson weights, one `LAB LESSON WEIGHT` a line
                     (harness/weights.py); a bad file: one line, exit status 2

A check's points (in --results) are its lesson's share of its lab: harness/weights.py.

A check marked @pytest.mark.short_io(SPEC) also runs as a check of its own, test_x[short-io],
whose programs run under the shim with SPEC: the partial-I/O version, graded like any other
(left out under --short-io, where every check runs that way).

A check marked @pytest.mark.memory also runs as test_x[memory], whose programs run under
valgrind's memcheck and are judged by its report (harness/valgrind.py): the memory version,
graded like any other, so that a memory error costs points in every graded run (left out
under --valgrind, where every check runs that way).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import pytest

from . import compat, programs
from .checks import CheckFailure
from .lab import Lab, Settings
from .limits import Limits, parse_size
from .process import kill_all
from .results import CheckResult, Grading, LabResult, Outcome, title_for
from .sandbox import Walls
from .shortio import ShortIO
from .story import Story
from .weights import DEFAULT_WEIGHT, WeightsError, lesson_of, read_file, share, table

compat.check_pytest()  # pytest 6.2.5 or newer; on 6.2, pytest.StashKey and .stash as in 7
STORY = pytest.StashKey[Story]()
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
    group.addoption("--weights", default=None, metavar="FILE",
                    help="lesson weights: a `LAB LESSON WEIGHT` a line (harness/weights.py)")


WEIGHTS = pytest.StashKey[dict]()  # (lab, lesson) -> weight, from --weights FILE


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """A bad --weights file stops the run before anything is collected: one line, status 2."""
    path = config.getoption("--weights")
    if not path:
        return None
    tests_dirs = {programs.ROOT / "tests"}
    for arg in config.args:  # an instructor's folder of extra checks names its lessons too
        where = Path(arg.split("::", 1)[0])
        tests_dirs.add(where if where.is_dir() else where.parent)
    try:
        config.stash[WEIGHTS] = read_file(Path(path), sorted(tests_dirs))
    except WeightsError as e:
        print(f"socklab: {e}", file=sys.stderr)
        return 2
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): the weight of the check's lesson when "
                            "docs/lessons and --weights do not name it (default 1)")
    config.addinivalue_line("markers", "short_io(spec): also run the check as test[short-io], "
                            "its programs under the short-I/O shim with spec")
    config.addinivalue_line("markers", "memory: also run the check as test[memory], its "
                            "programs under valgrind's memcheck")
    config.stash[RESULTS] = {}
    config.stash[MARKED] = {}
    config.pluginmanager.register(FastFailureReports(), "socklab-fast-failure-reports")


# -- the copies of marked checks: partial-I/O versions and memory versions ----------------------
SHORT_IO_COPY = pytest.StashKey[ShortIO]()  # the copy's programs run under the shim with this
MEMORY_COPY = pytest.StashKey[bool]()  # the copy's programs run under memcheck
# The memory version's time limit: programs run 10-50 times slower under valgrind.
MEMORY_TIMEOUT = TEST_TIMEOUT * 10


def _copy(collector, item, kind: str):
    """test_x[KIND] (or test_x[PARAMS-KIND]): another instance of a check, graded on its own."""
    callspec = getattr(item, "callspec", None)
    ids = f"{callspec.id}-{kind}" if callspec else kind
    return pytest.Function.from_parent(
        collector, name=f"{item.originalname}[{ids}]", callspec=callspec,
        fixtureinfo=item._fixtureinfo, keywords={ids: True}, originalname=item.originalname)


@pytest.hookimpl(hookwrapper=True)
def pytest_pycollect_makeitem(collector, name, obj):
    outcome = yield
    items = outcome.get_result()
    if not isinstance(items, list):
        return
    every_check_short_io = collector.config.getoption("--short-io")
    every_check_memcheck = collector.config.getoption("--valgrind")
    copies = []
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        marker = item.get_closest_marker("short_io")
        if marker is not None and not every_check_short_io:
            copy = _copy(collector, item, "short-io")
            copy.stash[SHORT_IO_COPY] = ShortIO.parse(marker.args[0])
            copies.append(copy)
        if item.get_closest_marker("memory") is not None and not every_check_memcheck:
            copy = _copy(collector, item, "memory")
            copy.stash[MEMORY_COPY] = True
            copy.add_marker(pytest.mark.timeout(MEMORY_TIMEOUT))
            copies.append(copy)
    if copies:
        outcome.force_result(items + copies)


def carry_copy_kind(item, copy) -> None:
    """Gives copy (another instance of item, e.g. the mutant self-test's) what makes item a
    partial-I/O or memory version."""
    for key in (SHORT_IO_COPY, MEMORY_COPY):
        value = item.stash.get(key, None)
        if value is not None:
            copy.stash[key] = value


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
        build, _ = programs.build_tree_lab(Path(impl), build_dir, lab)
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
MEMORY_NOTE = ("its programs run under valgrind's memcheck, which reports any read or write "
               "outside a block, memory never freed, and descriptors left open")


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
    if request.node.stash.get(MEMORY_COPY, False):  # the memory version of a check
        settings = dataclasses.replace(settings, valgrind=True)
        story.note = f"this is the memory version of the check: {MEMORY_NOTE}"
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
RESULTS = pytest.StashKey[dict]()  # nodeid -> (lab, CheckResult), in the order they ran
MARKED = pytest.StashKey[dict]()  # (lab, lesson) -> @pytest.mark.points(N) of its test


def weigh(config, lab: str, checks: list[CheckResult]) -> None:
    """Each check's points: its lesson's share of the lab (harness/weights.py), the weights
    from --weights FILE, else docs/lessons/LAB.md, else the test's points mark, else 1."""
    override, marked, tabled = config.stash.get(WEIGHTS, {}), config.stash[MARKED], table(lab)

    def weight_of(lesson: str) -> float:
        return override.get((lab, lesson), tabled.get(lesson,
                                                      marked.get((lab, lesson), DEFAULT_WEIGHT)))

    for check, points in zip(checks, share([c.name for c in checks], weight_of)):
        check.points = points


def _check(item) -> CheckResult:
    """The item's entry in --results, made the first time it is asked for."""
    results = item.config.stash[RESULTS]
    marker = item.get_closest_marker("points")
    doc = ((item.function.__doc__ or "").strip().splitlines() or [""])[0]
    short_io = item.stash.get(SHORT_IO_COPY, None)
    if short_io is not None:
        doc = f"{doc} Partial-I/O version: {short_io.describe()}."
    if item.stash.get(MEMORY_COPY, False):
        doc = f"{doc} Memory version: {MEMORY_NOTE}."
    name = item.nodeid.split("::", 1)[-1]
    lab = getattr(item.module, "LAB", None) or ""
    if marker is not None:  # the lesson's weight, unless a table or --weights names it
        item.config.stash[MARKED][(lab, lesson_of(name))] = float(marker.args[0])
    _, check = results.setdefault(item.nodeid, (lab, CheckResult(
        name=name, title=title_for(name, doc), hidden=not _is_visible(item))))
    return check


def _record(item, report) -> None:
    check = _check(item)
    check.duration += report.duration
    if report.failed and check.outcome is Outcome.PASSED:
        check.outcome = Outcome.FAILED
        check.message = str(report.longrepr)
        story = item.stash.get(STORY, None)
        if story is not None:  # for the sequence diagram of the HTML report
            check.events = story.conversation.kept()
            check.failed_at = story.conversation.now()
            check.failed_step = story.steps[-1] if story.steps else ""
    elif report.skipped and report.when != "teardown":
        check.outcome = Outcome.SKIPPED
        check.message = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""


def pytest_collection_finish(session):
    """Under --collect-only, --results lists every check as not run, with its title and
    points: what a batch reports for a lab its time limit stopped before (grader/batch.py)."""
    if session.config.option.collectonly:
        for item in session.items:
            _check(item).outcome = Outcome.ERROR


STARTED = pytest.StashKey[float]()


def pytest_sessionstart(session):
    session.config.stash[STARTED] = time.monotonic()


def pytest_sessionfinish(session, exitstatus):
    kill_all()
    path = session.config.getoption("--results")
    if path:
        labs: dict[str, LabResult] = {}
        for lab, check in session.config.stash[RESULTS].values():
            labs.setdefault(lab, LabResult(lab)).checks.append(check)
        for result in labs.values():
            weigh(session.config, result.lab, result.checks)
        impl = session.config.getoption("--impl")
        grading = Grading(title=f"socklab: {impl}/", impl=impl, labs=list(labs.values()),
                          elapsed=time.monotonic() - session.config.stash.get(STARTED, 0.0))
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(grading.to_json(), indent=1))
        tmp.replace(out)
