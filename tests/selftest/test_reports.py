"""The conversation and the reports: a failed check shows the socket calls that led to it
(the tracer, harness/shim/trace.c, merged with the peers' events), the HTML report draws it,
and every platform's results file is what its platform reads.

The real failure here is lab 09's mutant client-one-recv-per-reply: a client that takes one
recv() for one framed reply, against a Python server that sends all its replies in one write.
"""
import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from grader.render import classroom, gradescope, html, prairielearn
from harness.results import CheckResult, Grading, LabResult, Outcome

from .support import ROOT, run_lab_tests, gradescope_schema, validate

LAB = "09-sticky-packets"
MUTANT = f"mutant/{LAB}/client-one-recv-per-reply"
CHECK = "test_echo_client_sends_frames_and_prints_replies[one write]"


@pytest.fixture(scope="module")
def failure(tmp_path_factory, settings):
    run = run_lab_tests(LAB, MUTANT, settings.build_dir, tmp_path_factory.mktemp("reports"),
                        "-k", "frames_and_prints_replies and one")
    if CHECK not in run.tests:
        pytest.fail(f"the mutant's check did not run:\n{run.output[-3000:]}")
    return run.tests[CHECK]


def graded(check: CheckResult) -> Grading:
    """A grading of one lab: a check that passed, and check."""
    passing = CheckResult("test_a_passing_one", "A check that passed.", 1.0, Outcome.PASSED)
    return Grading("socklab: a test", labs=[LabResult(LAB, checks=[passing, check])])


def test_the_story_shows_the_short_recv_and_the_frames_sent_in_one_write(failure):
    assert failure.outcome is Outcome.FAILED
    story = failure.message
    sent = re.search(r"peer +sends (\d+) bytes in one write", story)
    got = re.search(r"client +recv\(\d+, 65536\) = (\d+)", story)
    assert sent and got, story
    # the four replies came in one write, and one recv() took more than the first frame
    assert int(got.group(1)) > 4 + len("hello"), story
    assert failure.events and failure.failed_at > 0


def test_no_byte_is_received_before_it_was_sent(failure):
    """Causal order on one clock: a send is timed when it began (the tracer's and the peers'
    alike), a recv when it returned, so that by each recv of one side the other side has
    sent at least as many bytes as it has received."""
    sent = {"client": 0, "peer": 0}
    received = dict(sent)
    for event in sorted(failure.events, key=lambda e: e["t"]):
        who, other = event["who"], "peer" if event["who"] == "client" else "client"
        if event["call"] == "send" and event["ret"] > 0:
            sent[who] += event["ret"]
        elif event["call"] == "recv" and event["ret"] > 0:
            received[who] += event["ret"]
            assert received[who] <= sent[other], (event, failure.events)
    assert received["client"] > 0 and received["peer"] > 0, failure.events


class Page(HTMLParser):
    """What the report is made of: its tags, and every address it would load."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.loads: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.loads.append(value)
            if name == "style" or (value and "url(" in value and "url(#" not in value):
                self.loads.append(f"{name}={value}")


def test_the_html_report_is_one_self_contained_file(failure, tmp_path):
    text = html.report(graded(failure))
    page = Page()
    page.feed(text)
    assert "svg" in page.tags and "script" not in page.tags and "img" not in page.tags
    assert page.loads == [], page.loads
    assert "@import" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "the check failed here" in text
    assert re.search(r"recv got \d+ of 65536", text)


def test_the_html_report_escapes_what_programs_print():
    hostile = CheckResult("test_x", "A check.", 1.0, Outcome.FAILED,
                          "<script>alert(1)</script>\x1b[2J\x00", 0.1,
                          events=[{"t": 0.1, "who": "client", "call": "recv", "fd": 3,
                                   "asked": 10, "ret": 3, "error": "",
                                   "detail": '"<b>\\x1b"'}], failed_at=0.2,
                          failed_step="<img src=x>")
    text = html.report(Grading("t", labs=[LabResult(LAB, checks=[hostile])]))
    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    assert "\x1b" not in text and "\x00" not in text


def test_the_report_renders_in_headless_chromium(failure, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium here (Debian's package: chromium)")
    page = tmp_path / "report.html"
    page.write_text(html.report(graded(failure)))
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gradescope_output_is_markdown_and_follows_the_schema(failure):
    data = gradescope.gradescope(graded(failure))
    validate(data, gradescope_schema())
    assert data["output_format"] == "md" and data["output"].startswith("```")
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert failed and failed[0]["output"].startswith("```") and failed[0]["output_format"] == "md"


def test_a_story_cannot_close_its_markdown_block():
    text = gradescope.code_block("before\n```\n<b>after</b>")
    assert text.startswith("````\n") and text.endswith("\n````")


def test_prairielearn_and_classroom_results(failure):
    result = graded(failure)
    pl = prairielearn.prairielearn(result)
    assert pl["gradable"] is True and pl["score"] == pytest.approx(0.5)
    assert {t["points"] for t in pl["tests"]} == {0.0, 1.0}
    gh = classroom.classroom(result)
    assert gh["version"] == 1 and gh["status"] == "fail" and gh["max_score"] == 2
    json.loads(base64.b64decode(base64.b64encode(json.dumps(gh).encode())))  # what the step does
    workflow = (ROOT / ".github" / "workflows" / "classroom.yml").read_text()
    assert "classroom.json" in workflow and "autograding-grading-reporter" in workflow
