"""prairielearn.json: PrairieLearn's external grader results (PrairieLearn/PrairieLearn,
docs/externalGrading.md and apps/grader-host/src/index.ts; the contract the suite checks is
tests/contracts/prairielearn.schema.json).

- `score` from 0 to 1, `message`, `output` (the scoreboard), a test per check with `points`
  and `max_points` (and `description`: the check's function, what -k takes).
- gradable: false, with a message, when the tests could not run (an infrastructure error:
  no check collected, pytest crashed, a lab stopped) - the student loses no attempt. A lab
  that does not compile is the student's: gradable, 0 for its checks, and a "compile" test
  (max_points 0, shown neutrally) with the compiler's output.
- The grader host drops results over 1 MB (1024 * 1024 bytes): outputs are cut, longest
  first, until the file fits, and each cut says so.
- The host reads the file only when the grader exits 0: `python3 -m grader prairielearn`
  does, whenever it wrote the file (grader/__main__.py).
"""
from __future__ import annotations

import json

from harness.results import Grading, Outcome

from .files import check_title, cut
from .scoreboard import scoreboard

LIMIT = 1024 * 1024  # bytes, as the grader host counts them (Buffer.byteLength)
WHY = "PrairieLearn takes results of at most 1 MB; run ./socklab check for the whole story"


def prairielearn(grading: Grading, limit: int = LIMIT) -> dict:
    totals = grading.totals
    tests = []
    for r in grading.labs:
        if not r.built:
            tests.append({"name": f"{r.lab}: compile", "points": 0, "max_points": 0,
                          "message": "does not compile", "output": r.build_output})
        if r.outcome is Outcome.ERROR:
            tests.append({"name": f"{r.lab}: run the tests", "points": 0, "max_points": 0,
                          "message": "the tests could not run",
                          "output": r.error or "no check was collected"})
        for c in r.checks:
            tests.append({"name": check_title(r.lab, c), "description": c.name,
                          "points": c.score if r.built else 0.0, "max_points": c.points,
                          "message": "" if c.outcome is Outcome.PASSED else
                          c.message.splitlines()[0] if c.message else c.outcome.value,
                          "output": c.message})
    output = scoreboard(grading)
    if grading.about.get("sandbox_detail"):
        output += f"\n\n{grading.about['sandbox_detail']}"
    broken = [r.lab for r in grading.labs if r.outcome is Outcome.ERROR]
    if not grading.labs:
        result = {"gradable": False, "message": "No lab was graded: the grader found none "
                  "to grade. Please tell your instructor.", "score": 0.0}
    elif broken:
        result = {"gradable": False, "score": 0.0,
                  "message": f"The tests of {', '.join(broken)} could not run: this is not "
                             "your fault, and costs no attempt. Please tell your instructor."}
    else:
        result = {"gradable": True,
                  "score": totals.score / totals.max_score if totals.max_score else 0.0,
                  "message": f"{totals.score:g} of {totals.max_score:g} points"}
    return fit({**result, "output": output, "tests": tests}, limit)


def size(data: dict) -> int:
    return len(json.dumps(data, indent=1).encode())


def fit(data: dict, limit: int) -> dict:
    """data with its longest outputs cut until the whole is at most limit bytes."""
    if size(data) <= limit:
        return data
    fields = [(data, "output", data["output"])] + [(t, "output", t["output"])
                                                   for t in data["tests"]]
    keep = max(len(text) for _, _, text in fields)
    while size(data) > limit and keep > 200:
        keep //= 2
        for holder, key, text in fields:
            holder[key] = cut(text, keep, WHY)
    if size(data) > limit:  # thousands of checks: their names and messages alone are too much
        data["tests"] = data["tests"][:max(1, len(data["tests"]) * limit // size(data) // 2)]
    data["message"] += " (some outputs were cut to fit PrairieLearn's 1 MB limit)"
    return data
