"""Gradescope's results.json (gradescope/autograder_samples, docs/specs.md; the contract the
suite checks is tests/contracts/gradescope.schema.json).

Markdown output (`"output_format": "md"`), each story in a code block. A lab that does not
compile appears as a failed "compile" entry carrying the compiler's output, a lab whose tests
could not run as a failed "run the tests" entry; all their checks score 0.

Hidden checks (an instructor's extra tests) are marked after_published, never `hidden`: the
spec keeps `hidden` for tests worth no points, and says that while any test is hidden the
students do not see their total score. The top-level score is the whole grade (it overrides
the sum of the tests, so it must equal it); the top-level `output`, which students see at
once, is the scoreboard without the hidden checks: neither their points nor their names.
"""
from __future__ import annotations

from harness.results import Grading, Outcome

from .files import check_title, lab_number
from .scoreboard import scoreboard

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
HIDDEN_CHECKS = ("after_due_date", "after_published")  # tests worth points, shown later


def code_block(text: str) -> str:
    """Text shown as it is in Markdown (Gradescope's "md" output format): a fenced block that
    nothing in the text can close."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text}\n{fence}"


def gradescope(grading: Grading, hidden_visibility: str = "after_published") -> dict:
    """Gradescope's results.json: Markdown output, each story in a code block."""
    if hidden_visibility not in HIDDEN_CHECKS:
        raise ValueError(f"hidden checks carry points: {hidden_visibility!r} is not one of "
                         f"{HIDDEN_CHECKS} (Gradescope keeps 'hidden' for tests worth nothing)")
    tests = []
    for r in grading.labs:
        number = lab_number(r.lab)
        if not r.built:
            tests.append({"name": f"{r.lab}: compile", "score": 0.0, "max_score": 0.0,
                          "status": "failed", "number": f"{number}.0", "tags": [r.lab],
                          "visibility": "visible", "output_format": "md",
                          "output": f"{r.lab} does not compile. The compiler said:\n\n"
                                    + code_block(r.build_output[-8000:])})
        if r.outcome is Outcome.ERROR:
            tests.append({"name": f"{r.lab}: run the tests", "score": 0.0, "max_score": 0.0,
                          "status": "failed", "number": f"{number}.0", "tags": [r.lab],
                          "visibility": "visible", "output_format": "md",
                          "output": "The tests could not run:\n\n"
                                    + code_block(r.error or "no check was collected")})
        for i, c in enumerate(r.checks, 1):
            tests.append({"name": check_title(r.lab, c), "score": c.score if r.built else 0.0,
                          "max_score": c.points, "number": f"{number}.{i}",
                          "status": "passed" if c.outcome is Outcome.PASSED and r.built
                          else "failed",
                          "tags": [r.lab], "output_format": "md",
                          "output": code_block(c.message) if c.message else "passed",
                          "visibility": hidden_visibility if c.hidden else "visible"})
    output = code_block(scoreboard(grading, hidden=False))
    for key in ("sandbox_detail", "note"):
        if grading.about.get(key):
            output += f"\n\n{grading.about[key]}"
    return {"score": grading.totals.score, "execution_time": round(grading.elapsed, 1),
            "output": output, "output_format": "md", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}
