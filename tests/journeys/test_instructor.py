"""The instructor's journey (docs/instructors.md, sections 1-3), from a fresh clone: grade one
student's tree, grade a class with batch, hand the course out and grade inside the hand-out.

Two submissions, laid out as section 2 shows: alice hands in a whole labs/ folder holding a
copy of lab 01's reference (full marks), bob lab folders at the top holding the same with
one classic mistake (points lost)."""
import json
import shutil

import pytest

from .journey import apply_mutant, doc_command, fill_usage, full_marks, lost_points, \
    scoreboard_row, usage_line

LAB = "01-tcp-basic"
MUTANT = "server-logs-its-own-address"  # caught by two checks of lab 01


@pytest.mark.timeout(900)
def test_instructor(journey):
    course = journey.clone()
    guide = course / "docs" / "instructors.md"
    alice = course / "submissions" / "alice" / "labs" / LAB
    bob = course / "submissions" / "bob" / LAB
    shutil.copytree(course / "solutions" / LAB, alice)
    shutil.copytree(course / "solutions" / LAB, bob)
    apply_mutant(course, bob, LAB, MUTANT)

    # 3. Grade, one student: the guide's command as written (it names lab 01 and lab 02; alice
    # has no lab 02, which is graded from the skeleton and scores 0, as section 2 says).
    grade = doc_command(guide, r"^\./socklab grade --impl submissions/alice \d\d-", "## 3.")
    out = journey.run(grade, course, timeout=300, expect=(0, 1))
    journey.expect(full_marks(scoreboard_row(out, LAB)),
                   f"a copy of the reference should get full marks on {LAB}", out)
    missing = scoreboard_row(out, "02-recv-buffer")
    journey.expect(missing is not None and missing[0] == 0,
                   "a lab missing from the submission should score 0", out)
    out = journey.run(grade.replace("alice", "bob"), course, timeout=300, expect=(1,))
    journey.expect(lost_points(scoreboard_row(out, LAB)),
                   f"a copy with one mistake ({MUTANT}) should lose points on {LAB}", out)

    # A class: batch, its arguments in the order ./socklab --help shows them, lab 01 only.
    help_text = journey.run("./socklab --help", course, timeout=30)
    batch = fill_usage(usage_line(help_text, "batch"),
                       {"FOLDER": "submissions", "DIR": "grades", "N": "2", "LAB...": LAB})
    out = journey.run(batch, course, timeout=600)
    scores = {}
    for student in ("alice", "bob"):
        summary = course / "grades" / "students" / student / "summary.json"
        journey.expect(summary.is_file(), f"batch wrote no {summary.relative_to(course)}", out)
        data = json.loads(summary.read_text())
        scores[student] = (data["score"], data["max_score"])
    journey.expect(full_marks(scores["alice"]), f"alice (the reference) got {scores['alice']}",
                   out)
    journey.expect(lost_points(scores["bob"]), f"bob (one mistake) got {scores['bob']}", out)

    # 1. Hand out: the student package, unpacked into an empty folder, grades with the
    # README's command (every lab; the reference copied into lab 01 gets full marks).
    package = doc_command(guide, r"^\./socklab package student$", "## 1.")
    out = journey.run(package, course, timeout=120)
    tarball = course / out.strip().splitlines()[-1]
    journey.expect(tarball.is_file(), f"no package at {tarball}", out)
    empty = journey.path("handout")
    journey.run(["tar", "-xzf", str(tarball), "-C", str(empty)], empty, timeout=60)
    handout = empty / "socklab"
    assert not (handout / "solutions").exists(), "the student package hands out solutions/"
    shutil.rmtree(handout / "labs" / LAB)
    shutil.copytree(course / "solutions" / LAB, handout / "labs" / LAB)
    readme = doc_command(handout / "README.md", r"^\./socklab grade$")
    out = journey.run(readme, handout, timeout=400, expect=(0, 1))
    journey.expect(full_marks(scoreboard_row(out, LAB)),
                   f"in the hand-out, a copy of the reference should get full marks on {LAB}",
                   out)
