"""The Gradescope journey (docs/instructors.md, sections 1 and 5), from a fresh clone: the
autograder zip, unpacked and set up by its own setup.sh, then run_autograder run as
Gradescope runs it, in a root laid out as Gradescope lays it out (/autograder/source: the
zip; /autograder/submission: the student's upload; /autograder/results: what it reads)."""
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from .journey import apply_mutant, doc_command, host_root

LAB = "01-tcp-basic"
MUTANT = "server-logs-its-own-address"


def unzip(archive: Path, dest: Path) -> None:
    """As unzip does: with each file's mode (setup.sh and run_autograder are executable)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            path = Path(z.extract(info, dest))
            mode = info.external_attr >> 16 & 0o777
            if mode and path.is_file():
                path.chmod(mode)


@pytest.mark.timeout(600)
def test_gradescope(journey):
    course = journey.clone()
    guide = course / "docs" / "instructors.md"
    # Section 1's command, without its --hidden folder: the course's own checks are graded.
    package = doc_command(guide, r"^\./socklab package gradescope", "## 1.")
    package = re.sub(r"\s+--hidden\s+\S+", "", package)
    out = journey.run(package, course, timeout=120)
    archive = course / out.strip().splitlines()[-1]
    journey.expect(archive.is_file(), f"no zip at {archive}", out)

    autograder = journey.path("autograder")
    for folder in ("source", "submission", "results"):
        (autograder / folder).mkdir()
    unzip(archive, autograder / "source")
    place = "Gradescope's layout: /autograder is " + str(autograder)
    # The image's build: Gradescope runs setup.sh once, from the unzipped source.
    journey.run(["bash", "/autograder/source/setup.sh"], autograder, timeout=400,
                within=host_root([("/autograder", autograder)], chdir="/autograder/source"),
                place=f"/autograder/source ({place})")

    def grade(submission: Path) -> dict:
        """One upload: the lab folder, at the submission's top; run_autograder, copied to
        /autograder as Gradescope does, run with a fresh results folder."""
        shutil.rmtree(autograder / "submission")
        shutil.copytree(submission, autograder / "submission" / LAB)
        shutil.rmtree(autograder / "results")
        (autograder / "results").mkdir()
        shutil.copy2(autograder / "source" / "run_autograder", autograder / "run_autograder")
        out = journey.run(["/autograder/run_autograder"], autograder, timeout=300,
                          within=host_root([("/autograder", autograder)], chdir="/autograder"),
                          place=f"/autograder ({place})")
        results = autograder / "results" / "results.json"
        journey.expect(results.is_file(), "run_autograder wrote no results.json", out)
        data = json.loads(results.read_text())
        data["max"] = round(sum(t["max_score"] for t in data["tests"]), 2)  # hundredths
        data["out"] = out
        return data

    reference = grade(course / "solutions" / LAB)
    journey.expect(reference["max"] > 0 and reference["score"] == reference["max"],
                   f"the reference got {reference['score']} of {reference['max']}",
                   reference["out"])
    mistaken = journey.path("mistaken", LAB)
    shutil.rmtree(mistaken)
    shutil.copytree(course / "solutions" / LAB, mistaken)
    apply_mutant(course, mistaken, LAB, MUTANT)
    wrong = grade(mistaken)
    journey.expect(wrong["score"] < wrong["max"],
                   f"one mistake ({MUTANT}) got {wrong['score']} of {wrong['max']}", wrong["out"])
