"""grades.csv: a batch's grades, one row a student: each lab's points and the most it was
worth for them ("LAB max": 0 when the lab's tests could not run), the total and its maximum,
and a note (stopped at the time limit, grading failed)."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from harness.results import Grading


@dataclass
class Row:
    student: str
    grading: Grading | None = None  # None: not graded (yet), or nothing came of it
    note: str = ""


def grades_csv(rows: list[Row], labs: Sequence[str] = ()) -> str:
    """labs: the labs asked for, each a column even for a student stopped before it."""
    labs = sorted({*labs, *(r.lab for row in rows if row.grading for r in row.grading.labs)})
    with io.StringIO(newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *[c for lab in labs for c in (lab, f"{lab} max")],
                         "total", "max", "note"])
        for row in rows:
            cells = []
            for lab in labs:
                r = row.grading.lab(lab) if row.grading else None
                cells += [f"{r.score:g}" if r else "0", f"{r.max_score:g}" if r else ""]
            totals = row.grading.totals if row.grading else None
            writer.writerow([row.student, *cells, f"{totals.score if totals else 0:g}",
                             f"{totals.max_score:g}" if totals else "", row.note])
        return f.getvalue()
