"""classroom.json: what GitHub Classroom's grading reporter reads
(classroom-resources/autograding-grading-reporter, src/main.js, src/console-results.js,
src/notify-classroom.js; the contract the suite checks is tests/contracts/classroom.schema.json).

The workflow (.github/workflows/classroom.yml) hands this file, base64-encoded, to the reporter
in the environment variable SOCKLAB_RESULTS (runner `socklab`); the reporter decodes it with
Buffer.from(..., "base64") and JSON.parse. What the reporter does with it:

- the points: the sum of the tests' `score` over the top-level `max_score`
  (notify-classroom.js), so max_score is the sum of the tests' max_score;
- the log a student reads (console-results.js): for a passing test its name; for a failing
  one its name and, when present, its `test_code`, never its `message`; for a test with
  status "error", only its `message`. So a failed check's first lines go in `test_code`, and
  a lab whose tests could not run is a test of status "error" whose message says why;
- the step fails on a top-level status "fail" or "error" (main.js).

The encoded file is an environment variable and a step output: it is kept under 64 KiB
(BASE64_LIMIT) whatever the number of failures, by cutting the messages first, then the
first lines shown for each failure.
"""
from __future__ import annotations

import base64
import json

from harness.results import Grading, Outcome

from .files import check_title, head_lines

BASE64_LIMIT = 64 * 1024  # bytes of the base64 string
SHOWN_LINES = 4  # of a failure's story, in test_code: the step, expected, actual, hint


def encoded_size(data: dict) -> int:
    return len(base64.b64encode(json.dumps(data).encode()))


def classroom(grading: Grading, limit: int = BASE64_LIMIT) -> dict:
    tests = []
    for r in grading.labs:
        if not r.built:
            tests.append({"name": f"{r.lab}: compile", "status": "fail", "score": 0,
                          "max_score": 0, "line_no": 0, "execution_time": "",
                          "message": r.build_output[-2000:],
                          "test_code": compiler_errors(r.build_output)})
        if r.outcome is Outcome.ERROR:
            tests.append({"name": f"{r.lab}: run the tests", "status": "error", "score": 0,
                          "max_score": 0, "line_no": 0, "execution_time": "",
                          "message": f"the tests of {r.lab} could not run: "
                                     + head_lines(r.error or "no check was collected", 6)})
        for c in r.checks:
            test = {"name": check_title(r.lab, c),
                    "status": "pass" if c.outcome is Outcome.PASSED and r.built else "fail",
                    "score": c.score if r.built else 0, "max_score": c.points, "line_no": 0,
                    "execution_time": f"{c.duration:.2f}s", "message": ""}
            if test["status"] == "fail":
                test["message"] = c.message[-2000:]
                test["test_code"] = head_lines(c.message or c.outcome.value, SHOWN_LINES)
            tests.append(test)
    status = {Outcome.PASSED: "pass", Outcome.FAILED: "fail",
              Outcome.ERROR: "error"}[grading.outcome]
    return fit({"version": 1, "status": status, "max_score": grading.totals.max_score,
                "tests": tests}, limit)


def compiler_errors(output: str, lines: int = 8) -> str:
    """The compiler's first error lines (where the fix is), else its first lines."""
    errors = [line for line in output.splitlines() if "error" in line]
    return head_lines("\n".join(errors) if errors else output, lines)


def fit(data: dict, limit: int) -> dict:
    """Messages are cut first (the reporter does not print a failure's), then the lines
    shown for each failure, then each failure is named only; never a test left out."""
    failing = [t for t in data["tests"] if t["status"] != "pass"]
    for keep in (2000, 500, 100, 0):
        if encoded_size(data) <= limit:
            return data
        for t in failing:
            if t["status"] == "fail":
                t["message"] = t["message"][-keep:] if keep else ""
    for lines in (3, 2, 1):
        if encoded_size(data) <= limit:
            return data
        for t in failing:
            if "test_code" in t:
                t["test_code"] = head_lines(t["test_code"], lines, width=120)
    for t in failing:
        if encoded_size(data) <= limit:
            break
        t.pop("test_code", None)
    return data
