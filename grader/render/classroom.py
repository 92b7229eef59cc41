"""classroom.json: what GitHub Classroom's grading reporter reads
(classroom-resources/autograding-grading-reporter, src/main.js, src/console-results.js,
src/notify-classroom.js; the contract the suite checks is tests/contracts/classroom.schema.json).

The workflow (.github/workflows/classroom.yml) hands this file, base64-encoded, to the reporter
in the environment variable SOCKLAB_RESULTS (runner `socklab`); the reporter decodes it with
Buffer.from(..., "base64") and JSON.parse. What the reporter does with it:

- the points: the sum of the tests' `score` over the top-level `max_score`
  (notify-classroom.js: `Points ${totalPoints}/${maxPoints}`, added up in JavaScript's
  doubles, in order); a test's own max_score is not read, and not written. A check's points
  are hundredths (harness/weights.py), which doubles do not add exactly (0.1 + 0.2): the
  scores are written so that the reporter's sum lands on the hundredth (exact_running_sum),
  and a full mark reads `Points 42/42`, never `Points 41.99999999999999/42`;
- the log a student reads (console-results.js): for a passing test its name; for a failing
  one its name and, when present, its `test_code`, never its `message`; for a test with
  status "error", only its `message`. So a failed check's first lines go in `test_code`, and
  a lab whose tests could not run is a test of status "error" whose message says why;
- the step fails on a top-level status "fail" or "error" (main.js).

The encoded file is an environment variable and a step output: it is kept under 64 KiB
(BASE64_LIMIT) whatever the number of failures: the file is compact, a check is named by its
lab's number and its sentence ("09: Step 7: ..."), a test carries only what the reporter reads, and when all of it is still too much the failures' messages go
first, then the first lines shown for each failure are cut to an equal share, then, for a
course of some 240 checks or more all failing, the names too (fit).
"""
from __future__ import annotations

import base64
import json
import math
import re

from harness.results import Grading, Outcome

from .files import head_lines, lab_number

BASE64_LIMIT = 64 * 1024  # bytes of the base64 string
SHOWN_LINES = 4  # of a failure's story, in test_code: the step, expected, actual, hint
SHOWN_AT_LEAST = 40  # characters of a failure's first line, whatever the number of failures
NAME_AT_LEAST = 40  # characters of a check's name, whatever the number of failures


def number(x: float) -> float | int:
    """1 rather than 1.0: a few bytes less for each of up to hundreds of tests."""
    return int(x) if float(x).is_integer() else x


def exact_running_sum(scores: list[float]) -> list[float]:
    """The scores, each moved by a few units in the last place, so that adding them up in
    order, as the reporter does (0 + s1 + s2 + ...), lands after each one on the sum so far
    rounded to the hundredth whenever a double can (from 0.64, adding no double gives 1.76:
    the next score makes up for it), and so on the total the other reports show."""
    out, running, wanted = [], 0.0, 0
    for score in scores:
        wanted += round(score * 100)
        target = wanted / 100
        step = target - running
        up, down = [step], [step]
        for _ in range(4):  # the nearest doubles on either side
            up.append(math.nextafter(up[-1], math.inf))
            down.append(math.nextafter(down[-1], -math.inf))
        candidates = up + down[1:]
        step = min(candidates, key=lambda x: (abs(running + x - target), abs(x - step)))
        out.append(step)
        running += step
    return out


def text(data: dict) -> str:
    """The file as written (compact: the workflow encodes it whole)."""
    return json.dumps(data, separators=(",", ":"))


def encoded_size(data: dict) -> int:
    return len(base64.b64encode(text(data).encode()))


def classroom(grading: Grading, limit: int = BASE64_LIMIT) -> dict:
    tests = []
    for r in grading.labs:
        if not r.built:
            tests.append({"name": f"{r.lab}: compile", "status": "fail", "score": 0,
                          "line_no": 0, "message": r.build_output[-2000:],
                          "test_code": compiler_errors(r.build_output)})
        if r.outcome is Outcome.ERROR:
            tests.append({"name": f"{r.lab}: run the tests", "status": "error", "score": 0,
                          "line_no": 0, "message": f"the tests of {r.lab} could not run: "
                          + head_lines(r.error or "no check was collected", 6)})
        for c in r.checks:
            test = {"name": f"{lab_number(r.lab)}: {c.title}",  # the lab's number: bytes saved
                    "status": "pass" if c.outcome is Outcome.PASSED and r.built else "fail",
                    "score": number(c.score if r.built else 0), "line_no": 0}
            if test["status"] == "fail":
                test["message"] = c.message[-2000:]
                test["test_code"] = head_lines(c.message or c.outcome.value, SHOWN_LINES)
            tests.append(test)
    scores = exact_running_sum([t["score"] for t in tests])
    for test, score in zip(tests, scores):
        test["score"] = number(score)
    status = {Outcome.PASSED: "pass", Outcome.FAILED: "fail",
              Outcome.ERROR: "error"}[grading.outcome]
    return fit({"version": 1, "status": status, "max_score": number(grading.totals.max_score),
                "tests": tests}, limit)


def compiler_errors(output: str, lines: int = 8) -> str:
    """The compiler's first error lines (where the fix is), else its first lines."""
    errors = [line for line in output.splitlines() if "error" in line]
    return head_lines("\n".join(errors) if errors else output, lines)


def fit(data: dict, limit: int) -> dict:
    """The failures' messages go first (the reporter never prints a failure's message);
    then the lines shown for each failure are cut to an equal share of what is left, never
    below the first SHOWN_AT_LEAST characters; never a test left out."""
    if encoded_size(data) <= limit:
        return data
    shown = [t for t in data["tests"] if "test_code" in t]
    for t in shown:
        t.pop("message", None)
    if encoded_size(data) <= limit or not shown:
        return data
    codes = [t.pop("test_code") for t in shown]
    room = limit * 3 // 4 - len(text(data)) - len(shown) * len(',"test_code":""')
    share = max(SHOWN_AT_LEAST, room // len(shown))
    for t, code in zip(shown, codes):
        t["test_code"] = code if len(json.dumps(code)) <= share else \
            code[:max(SHOWN_AT_LEAST, share - 10) - 1] + "\u2026"
    if encoded_size(data) <= limit:
        return data
    # Still too much (some 240 failing checks or more): the names get an equal share too,
    # each cut in its middle, so that its start (the lab, the step) and its id stay.
    names = [t.pop("name") for t in data["tests"]]
    room = limit * 3 // 4 - len(text(data)) - len(names) * len('"name":"",')
    share = max(NAME_AT_LEAST, room // len(names))
    data["tests"] = [{"name": cut_name(name, share), **t} for name, t in zip(names, data["tests"])]
    return data


def cut_name(name: str, share: int) -> str:
    """name in at most share characters of JSON: its start, an ellipsis, its "[id]" if any."""
    if len(json.dumps(name)) <= share:
        return name
    m = re.search(r"\s*\[[^\]]*\]$", name)
    tail = m.group(0) if m else ""
    keep = max(1, share - len(tail) - 10)  # the quotes, the ellipsis's escape, some slack
    return name[:keep] + "\u2026" + tail
