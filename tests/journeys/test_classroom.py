"""The GitHub Classroom journey (.github/workflows/classroom.yml, docs/instructors.md 5b),
from a fresh clone: the workflow's steps in order, each `run:` block run with bash as a
runner runs it (bash -e, GITHUB_OUTPUT a file of its own), the checkout being the clone
itself; then the grading reporter's part done as classroom-resources/autograding-grading-
reporter does it: for each of its `runners`, the variable RUNNER_RESULTS (base64 of the
JSON) decoded, points = the sum of its tests' scores, out of its max_score."""
import base64
import json
import re
import shutil

import pytest
import yaml  # python3-yaml: scripts/setup --journeys

from .journey import apply_mutant, scoreboard_row

LAB = "01-tcp-basic"
MUTANT = "server-logs-its-own-address"
WORKFLOW = ".github/workflows/classroom.yml"
REPORTER = "classroom-resources/autograding-grading-reporter"


def expand(value: str, outputs: dict) -> str:
    """A workflow's ${{ steps.ID.outputs.NAME }}, from the outputs the steps wrote."""
    def one(m):
        found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", m.group(1).strip())
        assert found, f"{WORKFLOW}: the journey cannot evaluate ${{{{ {m.group(1)} }}}}"
        return outputs.get(found.group(1), {}).get(found.group(2), "")
    return re.sub(r"\$\{\{(.*?)\}\}", one, str(value))


def run_workflow(journey, course):
    """The job's steps, in order; returns the reporter's view (runner -> its results) and
    what the last `run:` step printed."""
    workflow = yaml.safe_load((course / WORKFLOW).read_text())
    (job,) = workflow["jobs"].values()
    outputs, reported = {}, {}
    for number, step in enumerate(job["steps"]):
        uses = step.get("uses", "")
        env = {k: expand(v, outputs) for k, v in (step.get("env") or {}).items()}
        if uses.startswith("actions/checkout@"):
            continue  # the journey's clone is the checkout
        if "run" in step:
            output_file = journey.path("github", f"output-{number}") / "GITHUB_OUTPUT"
            output_file.touch()
            minutes = step.get("timeout-minutes", 10)
            printed = journey.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                        course, timeout=min(minutes * 60, 400),
                        env={**env, "CI": "true", "GITHUB_ACTIONS": "true",
                             "GITHUB_WORKSPACE": str(course), "GITHUB_OUTPUT": str(output_file)})
            if "id" in step:
                outputs[step["id"]] = dict(line.split("=", 1) for line in
                                           output_file.read_text().splitlines() if "=" in line)
        elif uses.startswith(f"{REPORTER}@"):
            for runner in re.split(r"[\s,]+", step["with"]["runners"].strip()):
                encoded = env.get(f"{runner.upper()}_RESULTS", "")
                assert encoded, f"{WORKFLOW}: the reporter's {runner.upper()}_RESULTS is empty"
                reported[runner] = json.loads(base64.b64decode(encoded).decode("utf-8"))
        else:
            raise AssertionError(f"{WORKFLOW}: the journey does not know the action {uses}")
    assert reported, f"{WORKFLOW}: no step hands results to {REPORTER}"
    return reported, printed


def points(results: dict) -> tuple[float, float]:
    """As the reporter adds them up (notify-classroom.js): the sum of the tests' scores, out
    of the top-level max_score (a test's own max_score, if any, is not read)."""
    return sum(t["score"] for t in results["tests"]), results["max_score"]


@pytest.mark.timeout(900)
def test_classroom(journey):
    """Every lab is graded, the others being untouched skeletons (0 points), so the points
    the reporter sees are lab 01's; lab 01's own maximum is its row of the scoreboard the
    workflow's step printed."""
    course = journey.clone()
    lab = course / "labs" / LAB
    shutil.rmtree(lab)
    shutil.copytree(course / "solutions" / LAB, lab)
    reported, out = run_workflow(journey, course)
    (results,) = reported.values()
    got, maximum = points(results)
    row = scoreboard_row(out, LAB)
    journey.expect(row is not None and got == row[1] > 0 and maximum > got,
                   f"the reference in labs/{LAB}: the reporter sees {got}/{maximum}, lab "
                   f"{LAB}'s row of the scoreboard says {row}", out)

    apply_mutant(course, lab, LAB, MUTANT)
    reported, out = run_workflow(journey, course)
    (results,) = reported.values()
    got, maximum = points(results)
    journey.expect(got < row[1], f"one mistake ({MUTANT}) in labs/{LAB}: the reporter sees "
                   f"{got}/{maximum}, less than lab {LAB}'s {row[1]}", out)
    journey.expect(results["status"] == "fail",
                   "the reporter should fail the run (a check failed)", out)
