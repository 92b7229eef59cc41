"""Each platform's results, checked against the platform's own contract: the schemas in
tests/contracts/ (written here from each platform's documents and code, their sources named
in each file's header), and the rules those sources state in prose or in code, one test each.

  junit.xml          Jenkins' xunit-plugin junit-10.xsd; GitLab's unit test reports
  results.json       Gradescope's autograder specification
  prairielearn.json  PrairieLearn's external grading docs and its grader host
  classroom.json     GitHub Classroom's autograding-grading-reporter

The renderers are fed a real grading of the solutions of the labs with parametrized checks,
and gradings made here for the cases a real one rarely shows (a compile error, a lab whose
tests cannot run, 238 failures with long stories, hidden checks).
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from grader import grade
from grader.render import classroom, gradescope, junit, prairielearn, write_all
from grader.render.scoreboard import scoreboard
from harness.results import CheckResult, Grading, LabResult, Outcome

from .support import ROOT

CONTRACTS = ROOT / "tests" / "contracts"
PARAMETRIZED = ["02-recv-buffer", "03-tcp-echo", "09-sticky-packets"]  # a sentence, many ids
REAL_LABS = ["01-tcp-basic", *PARAMETRIZED]
COURSE_CHECKS = 270  # every check of the nine labs, partial-I/O and memory copies included


# -- the contracts --------------------------------------------------------------------------

def check_json(data: dict, contract: str) -> None:
    schema = json.loads((CONTRACTS / f"{contract}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)


def junit_errors(text: str, tmp_path: Path) -> str:
    """What xmllint says of text against tests/contracts/junit.xsd ("" when it validates)."""
    path = tmp_path / f"junit-{abs(hash(text))}.xml"
    path.write_text(text)
    done = subprocess.run(["xmllint", "--noout", "--schema", str(CONTRACTS / "junit.xsd"),
                           str(path)], capture_output=True, text=True)
    return "" if done.returncode == 0 else done.stderr


def reporter_log(encoded: str) -> str:
    """What GitHub Classroom's grading reporter prints of a runner's results, as its
    src/main.js decodes them and src/console-results.js prints each test."""
    results = json.loads(base64.b64decode(encoded).decode("utf-8"))
    out = []
    for test in results["tests"]:
        line = f" - line {test['line_no']}" if test.get("line_no") != 0 else ""
        if test["status"] == "pass":
            out.append(f"ok {test['name']}{line}")
        elif test["status"] == "error":
            out.append(f"Error: {test.get('message') or test['name']}")
        else:
            out.append(f"x {test['name']}{line}")
        if test.get("test_code"):
            out.append(f"Test code:\n{test['test_code']}")
    return "\n".join(out)


def encode(data: dict) -> str:
    """What .github/workflows/classroom.yml hands the reporter: base64 -w0 of the file."""
    return base64.b64encode(classroom.text(data).encode()).decode()


# -- gradings -------------------------------------------------------------------------------

def check(name: str, outcome=Outcome.PASSED, points: float = 1, message: str = "",
          title: str | None = None, hidden: bool = False) -> CheckResult:
    return CheckResult(name, title or f"The check {name}.", points, outcome, message, 0.1,
                       hidden=hidden)


STORY = ("step 3 failed: send the request\n  expected: 'HELLO'\n  actual:   'hello'\n"
         "  hint:     toupper() each byte\n\nserver (exited with status 1): ...")


def sample() -> Grading:
    """A lab with a pass and a failure, one that does not compile, one whose tests crashed."""
    return Grading("socklab: a test", "labs", [
        LabResult("01-tcp-basic", checks=[check("test_a"), check("test_b", Outcome.FAILED,
                                                                 message=STORY)]),
        LabResult("04-tcp-iterative", built=False, build_output="server.c:3:1: error: oops",
                  checks=[check("test_c", Outcome.FAILED, message="does not compile")]),
        LabResult("05-tcp-threaded", error="pytest hit an internal error\nTraceback ..."),
    ], elapsed=3.0)


@pytest.fixture(scope="module")
def real(tmp_path_factory, settings) -> tuple[Grading, Path]:
    """The solutions of lab 01 and of the labs with parametrized checks, graded for real."""
    if not (ROOT / "solutions").exists():
        pytest.skip("needs solutions/")
    out = tmp_path_factory.mktemp("real")
    done = subprocess.run([sys.executable, "-m", "grader", "grade", "--impl", "solutions",
                           *REAL_LABS, "--out", str(out), "--build-dir",
                           str(settings.build_dir), "--html"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    grading = Grading.from_json(json.loads((out / "summary.json").read_text()))
    assert [r.lab for r in grading.labs] == REAL_LABS
    return grading, out


# -- the model --------------------------------------------------------------------------------

def test_the_model_reads_back_what_it_writes():
    grading = sample()
    again = Grading.from_json(json.loads(json.dumps(grading.to_json())))
    assert again == grading
    assert again.totals == grading.totals and again.outcome is Outcome.ERROR
    assert [r.outcome for r in again.labs] == [Outcome.FAILED, Outcome.FAILED, Outcome.ERROR]
    nothing = LabResult("01-tcp-basic")  # built, and no check: never 0/0 = 100%
    assert nothing.outcome is Outcome.ERROR and Grading("t", labs=[nothing]).outcome is Outcome.ERROR


# -- unique names -----------------------------------------------------------------------------

def test_check_names_are_unique_on_every_platform(real):
    grading, out = real
    for lab in PARAMETRIZED:  # the labs whose checks share a sentence across parameters
        titles = [c.title for c in grading.lab(lab).checks]
        assert any(t.endswith("]") for t in titles), f"{lab}: no parametrized check"
    results = json.loads((out / "results.json").read_text())
    pl = json.loads((out / "prairielearn.json").read_text())
    gh = json.loads((out / "classroom.json").read_text())
    cases = [(c.get("classname"), c.get("name"))
             for c in ET.parse(out / "junit.xml").getroot().iter("testcase")]
    for platform, names in (("results.json", [t["name"] for t in results["tests"]]),
                            ("prairielearn.json", [t["name"] for t in pl["tests"]]),
                            ("classroom.json", [t["name"] for t in gh["tests"]]),
                            ("junit.xml", cases)):
        twice = sorted({str(n) for n in names if names.count(n) > 1})
        assert not twice, f"{platform} names these more than once: {twice[:5]}"
        assert len(names) == grading.totals.checks, platform


# -- JUnit: Jenkins' junit-10.xsd, GitLab's unit test reports --------------------------------

def test_junit_follows_its_schema(real, tmp_path):
    grading, out = real
    assert junit_errors((out / "junit.xml").read_text(), tmp_path) == ""
    assert junit_errors(junit.junit_text(sample()), tmp_path) == ""


def test_junit_counts_the_compile_and_run_error_cases(tmp_path):
    root = ET.fromstring(junit.junit_text(sample()))
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert suite.get("errors") is not None
        assert int(suite.get("tests")) == len(cases), suite.get("name")
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors")) == sum(c.find("error") is not None for c in cases)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["04-tcp-iterative"].find("testcase[@name='compile']/failure") is not None
    assert suites["05-tcp-threaded"].get("errors") == "1"
    assert int(root.get("tests")) == len(list(root.iter("testcase")))


def test_junit_keeps_properties_out_of_testcases(tmp_path):
    text = junit.junit_text(sample())
    root = ET.fromstring(text)
    assert all(case.find("properties") is None for case in root.iter("testcase"))
    case = root.find(".//testcase[@name='The check test_b.']")
    assert "points: 0 of 1" in case.findtext("system-out") and "test_b" in case.findtext(
        "system-out")
    # and the schema is what says so: a testcase with properties does not validate
    broken = text.replace("<system-out>points: 0 of 1",
                          '<properties><property name="points" value="0"/></properties>'
                          "<system-out>points: 0 of 1", 1)
    assert broken != text and "properties" in junit_errors(broken, tmp_path)


# -- PrairieLearn -----------------------------------------------------------------------------

def test_prairielearn_follows_its_schema(real):
    grading, out = real
    check_json(json.loads((out / "prairielearn.json").read_text()), "prairielearn")
    check_json(prairielearn.prairielearn(sample()), "prairielearn")


def test_prairielearn_an_infrastructure_error_is_not_gradable():
    data = prairielearn.prairielearn(sample())
    assert data["gradable"] is False and "05-tcp-threaded" in data["message"]
    empty = Grading("t", labs=[LabResult("01-tcp-basic")])  # built, and no check collected
    assert prairielearn.prairielearn(empty)["gradable"] is False
    assert prairielearn.prairielearn(Grading("t"))["gradable"] is False


def test_prairielearn_a_compile_error_is_gradable_with_the_compilers_output():
    grading = sample()
    del grading.labs[2]  # no infrastructure error: the compile error is the student's
    data = prairielearn.prairielearn(grading)
    assert data["gradable"] is True and data["score"] == pytest.approx(1 / 3)
    compile_test = next(t for t in data["tests"] if t["name"] == "04-tcp-iterative: compile")
    assert "error: oops" in compile_test["output"]
    only = Grading("t", labs=[grading.labs[1]])
    assert prairielearn.prairielearn(only)["gradable"] is True
    assert prairielearn.prairielearn(only)["score"] == 0


def test_prairielearn_results_fit_in_1_MB(tmp_path):
    story = STORY + "\n" + "x" * 60_000 + "\nthe last words of the server"
    grading = Grading("t", labs=[LabResult("01-tcp-basic", checks=[
        check(f"test_{i}", Outcome.FAILED, message=story) for i in range(COURSE_CHECKS)])])
    write_all(grading, tmp_path, html=False)
    written = (tmp_path / "prairielearn.json").read_bytes()
    assert len(written) <= 1024 * 1024, len(written)
    data = json.loads(written)
    check_json(data, "prairielearn")
    assert "cut" in data["message"] and len(data["tests"]) == COURSE_CHECKS
    first = data["tests"][0]["output"]
    assert first.startswith("step 3 failed") and "characters cut here" in first
    assert first.endswith("the last words of the server")


def platform_run(tmp_path: Path, build_dir: Path, platform: str, labs: list[str],
                 poll: Path | None = None) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """`python3 -m grader PLATFORM SUBMISSION RESULTS` on the untouched skeletons of labs;
    with poll, every version of the results file seen while it ran."""
    submission = tmp_path / "submission"
    for lab in labs:
        shutil.copytree(ROOT / "labs" / lab, submission / lab)
    results = poll or tmp_path / "results" / "results.json"
    proc = subprocess.Popen([sys.executable, "-m", "grader", platform, str(submission),
                             str(results), "--build-dir", str(build_dir)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[dict] = []
    deadline = time.monotonic() + 600
    while poll and proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"python3 -m grader {platform} ran longer than 600 s")
        try:
            data = json.loads(results.read_text())  # written atomically: never half a file
            if data not in seen:
                seen.append(data)
        except FileNotFoundError:
            pass
        time.sleep(0.05)  # no event says "the results file was replaced": look again shortly
    output, _ = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, output), seen


def test_prairielearn_command_exits_0_when_it_wrote_results(tmp_path, build_dir):
    """The grader host reads results.json only after an exit status of 0: a submission that
    fails every check still gets its results read."""
    done, _ = platform_run(tmp_path, build_dir, "prairielearn", ["01-tcp-basic"])
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert done.returncode == 0, done.stdout[-3000:]
    check_json(results, "prairielearn")
    assert results["gradable"] is True and results["score"] == 0, results["message"]


# -- GitHub Classroom -------------------------------------------------------------------------

def test_classroom_follows_its_schema(real):
    grading, out = real
    check_json(json.loads((out / "classroom.json").read_text()), "classroom")
    check_json(classroom.classroom(sample()), "classroom")


def test_classroom_fits_64_KiB_and_shows_each_failures_first_lines():
    title = "A check whose sentence is as long as the course's are on average, " + "x" * 20
    grading = Grading("t", labs=[LabResult("09-sticky-packets", checks=[
        check(f"test_{i}[{i}]", Outcome.FAILED, message=f"step {i} failed: the frame\n"
              f"  expected: {i} bytes\n" + "y" * 20_000, title=f"{title}[{i}]")
        for i in range(COURSE_CHECKS)])])
    data = classroom.classroom(grading)
    check_json(data, "classroom")
    encoded = encode(data)
    assert len(encoded) <= 64 * 1024, len(encoded)
    log = reporter_log(encoded)
    for i in range(COURSE_CHECKS):
        assert f"step {i} failed: the frame" in log, f"the reporter does not show failure {i}"
    few = Grading("t", labs=[LabResult(grading.labs[0].lab, checks=grading.labs[0].checks[:3])])
    assert f"expected: 2 bytes" in reporter_log(encode(classroom.classroom(few)))


def test_classroom_points_are_the_reporters_sums(real):
    grading, out = real
    for data, expected in ((json.loads((out / "classroom.json").read_text()), grading),
                           (classroom.classroom(sample()), sample())):
        assert data["max_score"] == expected.totals.max_score
        assert sum(t["score"] for t in data["tests"]) == expected.totals.score


def test_classroom_a_failure_shows_where_the_reporter_prints():
    data = classroom.classroom(sample())
    log = reporter_log(encode(data))
    assert "expected: 'HELLO'" in log  # a failed check's first lines (its test_code)
    assert "error: oops" in log  # the compiler's error
    assert "pytest hit an internal error" in log  # a lab whose tests could not run
    assert data["status"] == "error"


# -- Gradescope -------------------------------------------------------------------------------

def test_gradescope_follows_its_schema(real):
    grading, out = real
    check_json(json.loads((out / "results.json").read_text()), "gradescope")
    check_json(gradescope.gradescope(sample()), "gradescope")


def hidden_sample() -> Grading:
    return Grading("socklab: /submission", "submission", [LabResult("01-tcp-basic", checks=[
        check("test_a"), check("test_b", Outcome.FAILED, message=STORY),
        check("test_secret", Outcome.FAILED, points=5, message="secret story",
              title="The instructor's secret check.", hidden=True),
        check("test_secret_passed", points=3, title="Another secret.", hidden=True)])])


def test_gradescope_hidden_checks_stay_hidden_until_published():
    data = gradescope.gradescope(hidden_sample())
    hidden = [t for t in data["tests"] if "secret" in t["name"].lower()]
    assert hidden and all(t["visibility"] == "after_published" for t in hidden)
    # what students see at once: the visible checks' points, no hidden check named
    assert "secret" not in data["output"].lower() and "test_secret" not in data["output"]
    assert "1/2" in data["output"] and "/10" not in data["output"]
    # the grade is all of it: the top-level score overrides the tests' total, so equals it
    assert data["score"] == sum(t["score"] for t in data["tests"]) == 4
    with pytest.raises(ValueError):  # the spec keeps `hidden` for tests worth no points
        gradescope.gradescope(hidden_sample(), hidden_visibility="hidden")


def test_gradescope_results_are_written_after_each_lab(tmp_path, build_dir):
    labs = ["01-tcp-basic", "06-udp-basic"]
    results = tmp_path / "autograder" / "results" / "results.json"
    done, seen = platform_run(tmp_path, build_dir, "gradescope", labs, poll=results)
    assert done.returncode == 0, done.stdout[-3000:]
    final = json.loads(results.read_text())
    check_json(final, "gradescope")
    assert {tag for t in final["tests"] for tag in t["tags"]} == set(labs)
    first_only = [d for d in seen if {tag for t in d.get("tests", []) for tag in t["tags"]}
                  == {labs[0]}]
    assert first_only, "no results.json with the first lab alone was written while grading"


# -- a lab whose tests cannot run ---------------------------------------------------------------

@pytest.mark.parametrize("module", ["raise RuntimeError('the tests are broken')\n", ""])
def test_a_lab_whose_tests_cannot_run_is_an_error_everywhere(module, tmp_path, build_dir):
    """A test module that crashes pytest, or one with no check in it: never a pass, never
    0/0 = 100%."""
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_01_tcp_basic.py").write_text(f'LAB = "01-tcp-basic"\n{module}')
    labs = grade.grade(build_dir, "solutions", ["01-tcp-basic"], tmp_path / "work", [],
                       [tests])
    grading = Grading("socklab: solutions/", "solutions", labs)
    assert labs[0].outcome is Outcome.ERROR and grading.outcome is Outcome.ERROR, labs[0]
    assert labs[0].error  # why, with pytest's last words
    assert "tests could not run" in scoreboard(grading)
    gs = gradescope.gradescope(grading)
    assert [t["status"] for t in gs["tests"]] == ["failed"]
    assert classroom.classroom(grading)["status"] == "error"
    assert prairielearn.prairielearn(grading)["gradable"] is False
    suite = ET.fromstring(junit.junit_text(grading)).find("testsuite")
    assert suite.get("errors") == "1" and suite.get("tests") == "1"


def test_what_a_platform_gets_when_the_grader_fails_follows_its_contract():
    from grader.__main__ import PLATFORMS
    check_json(PLATFORMS["gradescope"][1], "gradescope")
    check_json(PLATFORMS["prairielearn"][1], "prairielearn")
    assert PLATFORMS["prairielearn"][1]["gradable"] is False


def test_the_renderers_import_no_one_but_their_shared_helpers():
    """One renderer per output, none importing another (no cycles): each may use
    render/files.py and render/scoreboard.py (the text the others quote), and the model."""
    import ast
    shared = {"files", "scoreboard"}
    for path in sorted((ROOT / "grader" / "render").glob("*.py")):
        if path.stem == "__init__":
            continue
        tree = ast.parse(path.read_text())
        local = {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}
        grader = {node.module for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                  and node.module.startswith("grader")}
        allowed = set() if path.stem == "files" else {"files"} if path.stem == "scoreboard" \
            else shared
        assert local <= allowed and not grader, f"{path.name} imports {sorted(local | grader)}"


def test_grades_csv_has_each_labs_maximum():
    import csv
    import io
    from grader.render.grades_csv import Row, grades_csv
    rows = list(csv.DictReader(io.StringIO(grades_csv([
        Row("alice", sample()), Row("bob", note="grading failed")]))))
    alice, bob = rows
    assert alice["01-tcp-basic"] == "1" and alice["01-tcp-basic max"] == "2"
    assert alice["04-tcp-iterative"] == "0" and alice["04-tcp-iterative max"] == "1"
    assert alice["05-tcp-threaded max"] == "0"  # its tests could not run: nothing to earn
    assert alice["total"] == "1" and alice["max"] == "3"
    assert bob["01-tcp-basic"] == "0" and bob["max"] == "" and bob["note"] == "grading failed"


# -- points by lesson: hundredths ---------------------------------------------------------------

def test_points_in_hundredths_reach_every_report_as_the_same_total(tmp_path):
    """A check's points are its lesson's share (harness/weights.py), in hundredths: every
    report shows the same total, and the sums platforms make themselves (GitHub Classroom's
    reporter adds the tests' scores in doubles) land on it exactly."""
    from grader.render.grades_csv import Row, grades_csv
    from harness import weights
    names = [f"test_a[{i}]" for i in range(7)] + ["test_b", "test_c", "test_c[short-io]"]
    points = weights.share(names, {"test_a": 1, "test_b": 1, "test_c": 3}.get)
    failed = {"test_a[2]", "test_a[5]", "test_c[short-io]"}
    grading = Grading("socklab: labs/", "labs", [LabResult("02-recv-buffer", checks=[
        check(n, Outcome.FAILED if n in failed else Outcome.PASSED, points=p, message=STORY)
        for n, p in zip(names, points)])], elapsed=1.0)
    score, most = grading.totals.score, grading.totals.max_score
    assert most == 10 and score == 6.43 and len({round(p * 100) for p in points}) > 1
    write_all(grading, tmp_path)
    shown = f"{score:g}/{most:g}"
    gs = json.loads((tmp_path / "results.json").read_text())
    assert gs["score"] == score and round(sum(t["max_score"] for t in gs["tests"]), 2) == most
    pl = json.loads((tmp_path / "prairielearn.json").read_text())
    assert pl["score"] == score / most and pl["message"] == f"{score:g} of {most:g} points"
    gh = json.loads((tmp_path / "classroom.json").read_text())
    running = 0.0
    for test in gh["tests"]:  # as notify-classroom.js adds them
        running += test["score"]
    assert running == score and gh["max_score"] == most
    suite = ET.fromstring((tmp_path / "junit.xml").read_text()).find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["points"] == f"{score:g}" and props["max_points"] == f"{most:g}"
    assert shown in scoreboard(grading) and shown in (tmp_path / "feedback.txt").read_text()
    assert shown in (tmp_path / "report.html").read_text()
    csv_text = grades_csv([Row("alice", grading)])
    assert f"alice,{score:g},{most:g},{score:g},{most:g}," in csv_text
