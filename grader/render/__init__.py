"""The reports, one renderer per output, each reading the typed results (harness/results.py)
and taking its totals from them; none imports another but files (how a file is written, how
a check is named) and scoreboard (the text the others quote).

  files         write_atomic, a check's name on every platform, cutting long text
  scoreboard    the terminal's scoreboard (./socklab grade), the top of feedback.txt
  feedback      feedback.txt: the scoreboard, then every failure in full
  gradescope    results.json, Gradescope's format
  junit         junit.xml (Jenkins' junit-10.xsd structure; GitLab reads it too)
  prairielearn  prairielearn.json, PrairieLearn's external grader results
  classroom     classroom.json, for GitHub Classroom's grading reporter
  html          report.html: the scoreboard, each failure's story and sequence diagram
  grades_csv    a batch's grades.csv

Each platform's contract, and where it comes from, is in tests/contracts/ (checked by
tests/selftest/test_contracts.py).
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.results import Grading

from . import classroom, feedback, gradescope, html as html_report, junit, prairielearn
from .files import write_atomic

# The file each platform reads, and its renderer.
PLATFORM_FILES = {"gradescope": "results.json", "prairielearn": "prairielearn.json",
                  "classroom": "classroom.json"}


def write_all(grading: Grading, out: Path, html: bool = True) -> None:
    """Writes results.json, prairielearn.json, classroom.json, junit.xml, feedback.txt,
    summary.json (the grading itself, for our own tools) and (with html) report.html into
    out, each atomically."""
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", json.dumps(gradescope.gradescope(grading), indent=1))
    write_atomic(out / "summary.json", json.dumps(grading.to_json(), indent=1))
    write_atomic(out / "prairielearn.json",
                 json.dumps(prairielearn.prairielearn(grading), indent=1))
    write_atomic(out / "classroom.json", classroom.text(classroom.classroom(grading)))
    write_atomic(out / "feedback.txt", feedback.feedback(grading))
    write_atomic(out / "junit.xml", junit.junit_text(grading))
    if html:
        html_report.write(grading, out)
