"""The PrairieLearn journey (docs/instructors.md, section 5b), from a fresh clone: the image
built as the guide says, then the question's entrypoint run as PrairieLearn's grader host
runs it: the command string split with shlex.split and exec'd with no shell, in a container
whose /grade is mounted fresh for the job, holding only the job's files (/grade/student,
/grade/data/data.json, an empty /grade/results): whatever the image put under /grade is
hidden. The grading must exit 0 and leave /grade/results/results.json."""
import json
import re
import shlex
import shutil

import pytest

from .journey import apply_mutant, code_blocks, host_root, section

LAB = "01-tcp-basic"
MUTANT = "server-logs-its-own-address"


def entrypoint_of(text: str) -> str:
    """The question's entrypoint as the guide gives it: the `entrypoint` of its info.json
    example, or else its first code block (an older guide's)."""
    blocks = code_blocks(text)
    for block in blocks:
        found = re.search(r'"entrypoint":\s*"([^"]+)"', block)
        if found:
            return found.group(1)
    return blocks[0].strip()


def image_steps(course, text: str) -> list[str]:
    """How the guide says to build the image: the Containerfile it names (its RUN steps that
    build the course; apt-get's own steps would change this machine's package lists, and
    scripts/setup, which they wrap, finds the packages here), or its sentence
    '(run `COMMAND`, `COMMAND` in it'."""
    if "containers/Containerfile" in text:
        containerfile = (course / "containers" / "Containerfile").read_text()
        runs = re.findall(r"^RUN ((?:.*\\\n)*.*)$", containerfile, re.MULTILINE)
        commands = [c.strip() for run in runs[:1] for c in
                    re.sub(r"\\\n", " ", run).split("&&")]
        steps = [c for c in commands if not c.startswith(("apt-get", "rm -rf /var/lib/apt"))]
        assert steps, "containers/Containerfile: no RUN step builds the course"
        return [" && ".join(steps)]
    found = re.search(r"\(run ((?:`[^`]+`,?\s*)+)in it", text)
    assert found, "docs/instructors.md, 5b: no longer says how to build the image"
    return re.findall(r"`([^`]+)`", found.group(1))


@pytest.mark.timeout(600)
def test_prairielearn(journey):
    course = journey.clone()
    text = section(course / "docs" / "instructors.md", "## 5b.")
    where = re.search(r"the course in\s+`(/[^`]+)`", text)
    assert where, "docs/instructors.md, 5b: no longer says where the image holds the course " \
                  "('the course in `/PATH`')"
    in_image = where.group(1)
    entrypoint = entrypoint_of(text)
    image = [(in_image, course)]
    for step in image_steps(course, text):  # the image's build, where the course is in it
        journey.run(step, course, timeout=400, within=host_root(image, chdir=in_image),
                    place=f"{in_image} of the image (the clone, bound there)")

    def grade(solution_copy) -> dict:
        """One job: its own /grade; the student's files as the entrypoint takes them (a
        lab's files side by side when it names the lab, else lab folders)."""
        job = journey.path(f"job-{len(list(journey.tmp.glob('job-*')))}")
        student = job / "student"
        shutil.copytree(solution_copy, student if LAB in entrypoint else student / LAB)
        (job / "data").mkdir()
        (job / "data" / "data.json").write_text(json.dumps({
            "params": {}, "correct_answers": {}, "submitted_answers": {}, "format_errors": {},
            "partial_scores": {}, "score": 0, "feedback": {}, "variant_seed": 1,
            "options": {}, "raw_submitted_answers": {}, "editable": False,
            "panel": "question", "extensions": {}, "num_valid_submissions": 1}))
        (job / "results").mkdir()
        argv = shlex.split(entrypoint)  # the grader host's own split: no shell
        out = journey.run(argv, job, timeout=300, within=host_root([*image, ("/grade", job)]),
                          place=f"PrairieLearn's container: / of the image, /grade is {job}")
        results = job / "results" / "results.json"
        journey.expect(results.is_file(), "the entrypoint left no /grade/results/results.json",
                       out)
        data = json.loads(results.read_text())
        data["out"] = out
        return data

    reference = grade(course / "solutions" / LAB)
    journey.expect(reference.get("gradable", True) and reference["score"] == 1,
                   f"the reference got score {reference['score']} (1 is full marks): "
                   f"{reference.get('message', '')}", reference["out"])
    mistaken = journey.path("mistaken", LAB)
    shutil.rmtree(mistaken)
    shutil.copytree(course / "solutions" / LAB, mistaken)
    apply_mutant(course, mistaken, LAB, MUTANT)
    wrong = grade(mistaken)
    journey.expect(wrong.get("gradable", True) and wrong["score"] < 1,
                   f"one mistake ({MUTANT}) got score {wrong['score']}", wrong["out"])
