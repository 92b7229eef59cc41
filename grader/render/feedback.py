"""feedback.txt: the whole story for the student: the scoreboard, then every failure in full."""
from __future__ import annotations

from harness.results import Grading, Outcome

from .files import check_title
from .scoreboard import scoreboard


def feedback(grading: Grading) -> str:
    out = [scoreboard(grading)]
    for r in grading.labs:
        for c in r.checks:
            if c.outcome is Outcome.FAILED and r.built:
                out += ["", "=" * 78, check_title(r.lab, c), "-" * 78, c.message]
    return "\n".join(out) + "\n"
