"""socklab's grader: the instructors' and the front door's tools, apart from the test API.

The harness (harness/) runs programs and judges them; this package builds on it and is never
imported by it. Modules, one job each:
  __main__    the command line: grade, gradescope, prairielearn, batch, package, check, watch
  grade       a pytest per lab, and the scoreboard
  batch       one submission per student, each graded in a process (and a sandbox) of its own
  room        grading one untrusted submission behind the walls (harness/sandbox.py)
  reports     results.json, prairielearn.json, classroom.json, junit.xml, feedback.txt, ...
  htmlreport  report.html: the scoreboard, each failure's story and sequence diagram
  package     the student hand-out and the Gradescope autograder zip
  loop        the student's loop: ./socklab check LAB and ./socklab watch [LAB]
  doccheck    runs the transcripts of the walkthroughs and handouts against real output

`python3 -m harness ...` and `python3 -m harness.doccheck` are the same commands, kept working
for instructors' scripts; they only hand over to this package.
"""

from harness import compat  # noqa: F401 (refuses too old a Python, in one line)
