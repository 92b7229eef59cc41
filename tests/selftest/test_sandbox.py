"""The sandbox holds against hostile submissions (docs/instructors.md, "The sandbox").

tests/selftest/hostile/ is a corpus of attacks a cheating or careless student might write:
each NAME.h is added to the lab 01 skeleton's server (it runs at the start of main, then the
skeleton stops at its first TODO), and each compile attack is a whole server.c. A skeleton
scores 0, so each of them must score exactly 0 - anything more is a successful cheat - and
leave the course, the reports and the machine as they were. Two copies of the reference
solution are graded in the same batch, one before and one after the attacks (the batch
goes in name order), and keep full marks. The fork bomb is graded in a batch of its own, at
the same time: it holds every process its uid may have, and in this module the gradings of
one batch share a uid (a real grading has a uid of its own).

The other gradings (`grade --impl` of some attacks, Gradescope mode, a folder graded twice)
run alongside the batches, one after the other, each with its own uid, and the tests read
their results.

Every grading here runs inside an extra pid namespace of its own (`unshare --pid`), and
every attack acts only when it finds itself caged (hostile/caged.h), so that a bug in the
sandbox cannot harm the machine.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import sandbox

from .support import ROOT

LAB = "01-tcp-basic"
HOSTILE = ROOT / "tests" / "selftest" / "hostile"
MARK = f"socklab-hostile-{uuid.uuid4().hex[:8]}"  # appears in a report only if a cheat worked
# Small caps for these gradings, so that the hogs reach them quickly; still larger than any
# one process's share, so that only a cap on the submission in total contains them.
MEMORY_CAP, HOG_MIB = "256M", 120
DISK_CAP, FILE_MIB = "64M", 16
# The uids this module's gradings run their programs as: its own, so that another suite
# running at the same time (with sandboxes of its own) is not taken for a leftover; one for
# the batch, one for the fork bomb's batch, and one for each grading that runs alongside.
BATCH_UID, BOMB_UID, *SOLO_UIDS = sandbox.reserve_uids(12)
BOMB = "fork-bomb"
SOLO_JOBS = 1  # gradings at once alongside the batches (themselves two and one at once)

COMPILE_ATTACKS = {  # server.c, whole: what the compiler must not read or must not finish
    "include-solution": '#include "../solutions/01-tcp-basic/server.c"\n',
    "include-solution-by-path": '#include "@ROOT@/solutions/01-tcp-basic/server.c"\n',
    "include-hidden-test": '#include "@HIDDEN@/test_01_tcp_basic_hidden.py"\n',
    "include-shadow": '#include "/etc/shadow"\n',
    "include-dev-zero": '#include "/dev/zero"\n',
}

HIDDEN_TEST = f'''"""An instructor's hidden checks: their source must never reach a student."""
LAB = "01-tcp-basic"


def test_hidden_source_stays_hidden(lab):
    """A hidden check whose own assertion fails."""
    assert "{MARK}-hidden-source" == lab.name
'''

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0 or not sandbox.namespaces_work(),
                       reason="the corpus needs root and namespaces (its safety catch)"),
]


# -- making the corpus ---------------------------------------------------------------------------

def fill(text: str, paths: dict[str, str]) -> str:
    for key, value in paths.items():
        text = text.replace(f"@{key}@", value)
    return text


def attack_submission(folder: Path, name: str, attack: str, paths: dict[str, str]) -> None:
    """The lab 01 skeleton, with attack.h run at the start of the server's main()."""
    lab_dir = folder / name / LAB
    shutil.copytree(ROOT / "labs" / LAB, lab_dir)
    (lab_dir / "attack.h").write_text(fill((HOSTILE / "caged.h").read_text() + "\n" + attack, paths))
    server = lab_dir / "server.c"
    text = server.read_text()
    assert "int main(" in text and "    stop_on_signals();\n" in text
    text = text.replace("int main(", '#include "attack.h"\n\nint main(', 1)
    server.write_text(text.replace("    stop_on_signals();\n",
                                   "    stop_on_signals();\n    attack();\n", 1))


def course_state() -> str:
    """A digest of every file of the course (builds and caches aside), names and bytes."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = Path(dirpath).relative_to(ROOT)
        dirnames[:] = sorted(d for d in dirnames
                             if not (rel == Path(".") and (d.startswith("build") or d == ".git"))
                             and d not in ("__pycache__", ".pytest_cache"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            digest.update(str(rel / name).encode())
            if path.is_file() and not path.is_symlink():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def sandbox_processes(uid: int) -> list[str]:
    """Processes running as one of this module's sandbox uids: none may outlive a grading."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                                 .decode(errors="replace"))
            except OSError:
                pass
    return found


def caged_run(args: list[str], uid: int, timeout: float = 600) -> subprocess.CompletedProcess:
    """python3 -m harness ARGS, in a pid namespace of its own (the corpus's second catch),
    its programs running as uid."""
    return subprocess.run(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                           sys.executable, "-m", "harness", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT),
                               "SOCKLAB_SANDBOX_UID": str(uid)})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, settings):
    if not (ROOT / "solutions" / LAB).exists():
        pytest.skip("needs solutions/ for the reference submissions")
    base = tmp_path_factory.mktemp("hostile")
    hidden = base / "hidden"
    hidden.mkdir()
    (hidden / "test_01_tcp_basic_hidden.py").write_text(HIDDEN_TEST)
    out = base / "grades"
    bomb_out = out / "fork-bomb-batch"  # inside out: every report is searched for cheats
    subs = base / "submissions"
    bomb_subs = base / "fork-bomb-submissions"
    paths = {"ROOT": str(ROOT), "HIDDEN": str(hidden), "MARK": MARK,
             "PWNED": str(base / "pwned"), "HOG_MIB": str(HOG_MIB), "FILE_MIB": str(FILE_MIB)}
    for header in sorted(HOSTILE.glob("*.h")):
        if header.name != "caged.h":
            name = header.stem.replace("_", "-")
            folder, reports = (bomb_subs, bomb_out) if name == BOMB else (subs, out)
            attack_submission(folder, name, header.read_text(),
                              {**paths, "OUT": str(reports / "students" / name)})
    for name, source in COMPILE_ATTACKS.items():
        shutil.copytree(ROOT / "labs" / LAB, subs / name / LAB)
        (subs / name / LAB / "server.c").write_text(fill(source, paths))
    for name in ("aaa-reference", "zzz-reference"):  # graded first and last
        shutil.copytree(ROOT / "solutions" / LAB, subs / name / LAB)
    return {"base": base, "subs": subs, "out": out, "bomb_subs": bomb_subs, "bomb_out": bomb_out,
            "hidden": hidden, "paths": paths, "build_dir": settings.build_dir}


def limits() -> list[str]:
    return [f"--limit-memory={MEMORY_CAP}", f"--limit-disk={DISK_CAP}"]


def batch_args(corpus, subs: Path, out: Path, jobs: int, timeout: int = 120) -> list[str]:
    return ["batch", str(subs), LAB, "--out", str(out), "--jobs", str(jobs),
            "--timeout", str(timeout), "--tests-dir", str(corpus["hidden"]),
            "--build-dir", str(corpus["build_dir"]),
            *limits()]


def read_rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def gradings(corpus):
    """Every grading of the module that needs the corpus, run at once: the batch (two at a
    time), the fork bomb's batch, and the solo gradings (SOLO_JOBS at a time, each with a
    uid of its own, so that each finds its own leftovers)."""
    solos = solo_gradings(corpus)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the fork bomb's grading is the longest (each check makes and kills its processes)
        bomb = pool.submit(caged_run, batch_args(corpus, corpus["bomb_subs"], corpus["bomb_out"], 1,
                                                 timeout=300), BOMB_UID)
        with ThreadPoolExecutor(max_workers=SOLO_JOBS) as solo_pool:
            solo = {key: solo_pool.submit(run_solo, uid, grading)
                    for uid, (key, grading) in zip(SOLO_UIDS, solos.items())}
            before = course_state()
            done = caged_run(batch_args(corpus, corpus["subs"], corpus["out"], 2), BATCH_UID)
            batch = {"done": done, "course_before": before, "course_after": course_state(),
                     "left": sandbox_processes(BATCH_UID)}
            bomb_done = bomb.result()
            batch["left"] += sandbox_processes(BOMB_UID)
            solo = {key: future.result() for key, future in solo.items()}
    return {"batch": {**batch, "bomb_done": bomb_done}, "solo": solo}


def run_solo(uid: int, grading) -> dict:
    """One grading alongside the batches: its result, whether the course changed meanwhile,
    and the processes of its uid left after it."""
    before = course_state()
    try:
        result, error = grading(uid), None
    except Exception as e:  # noqa: BLE001 - the test of this grading reports it
        result, error = None, e
    return {"result": result, "error": error, "course_changed": course_state() != before,
            "left": sandbox_processes(uid)}


def solo_of(gradings, key: tuple) -> dict:
    solo = gradings["solo"][key]
    if solo["error"] is not None:
        raise solo["error"]
    return solo


@pytest.fixture(scope="module")
def batch(corpus, gradings):
    done, bomb_done = gradings["batch"]["done"], gradings["batch"]["bomb_done"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert bomb_done.returncode == 0, bomb_done.stdout + bomb_done.stderr
    rows = read_rows(corpus["out"])
    bomb_rows = read_rows(corpus["bomb_out"])
    student_dirs = {**{s: corpus["out"] / "students" / s for s in rows},
                    **{s: corpus["bomb_out"] / "students" / s for s in bomb_rows}}
    return {**gradings["batch"], "rows": {**rows, **bomb_rows}, "student_dirs": student_dirs,
            **corpus}


def reports_of(out: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in sorted(out.iterdir())
            if p.is_file() and p.suffix in (".json", ".xml", ".txt", ".csv")}


def feedback(batch, student: str) -> str:
    return (batch["student_dirs"][student] / "feedback.txt").read_text(errors="replace")


def full_marks(batch) -> float:
    """What the reference earns: every point but the hidden check's, which fails by design
    (its lesson's share of the lab: harness/weights.py)."""
    summary = json.loads((batch["out"] / "students" / "aaa-reference" / "summary.json")
                         .read_text())
    hidden = sum(c["points"] for lab in summary["labs"] for c in lab["checks"] if c["hidden"])
    return round(float(summary["max_score"]) - hidden, 2)


# -- batch mode ------------------------------------------------------------------------------------

def test_batch_grades_every_submission(batch):
    """Every submission has its row, whatever the others did."""
    expected = {p.name for folder in (batch["subs"], batch["bomb_subs"]) for p in folder.iterdir()}
    assert set(batch["rows"]) == expected
    assert all(row["note"] in ("", "stopped: time limit") for row in batch["rows"].values()), \
        {s: r["note"] for s, r in batch["rows"].items() if r["note"]}


def test_references_keep_full_marks_before_and_after_the_attacks(batch):
    """The reference solution graded first and last keeps every point."""
    for name in ("aaa-reference", "zzz-reference"):
        assert float(batch["rows"][name][LAB]) == full_marks(batch) > 0, feedback(batch, name)


def test_every_attack_scores_what_its_code_earns(batch):
    """Each attack is the skeleton plus an attack: 0 points, never more."""
    for student, row in batch["rows"].items():
        if "reference" not in student:
            assert float(row[LAB]) == 0, f"{student}: {row[LAB]}\n{feedback(batch, student)}"


def test_attacks_ran_caged(batch):
    """The attacks found themselves caged (so they really attacked) - never 'not caged'."""
    text = feedback(batch, "environment")
    assert "hostile: env PATH" in text, text[-3000:]
    for student in batch["rows"]:
        assert "hostile: not caged" not in feedback(batch, student), student


def test_no_report_holds_a_cheat_or_a_secret(batch):
    """No report carries the attacks' marker, a hidden test's source, the solution's code or
    a line of /etc/shadow."""
    solution_line = next(line for line in (ROOT / "solutions" / LAB / "server.c").read_text()
                         .splitlines() if "getsockname" in line and len(line) > 30)
    shadow = Path("/etc/shadow").read_text().splitlines()[:1]
    for path in sorted(batch["out"].rglob("*")):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert MARK not in text, path
            assert solution_line.strip() not in text, path
            for line in shadow:
                assert line not in text, path


def test_hidden_checks_are_graded_without_their_source(batch):
    results = json.loads((batch["out"] / "students" / "aaa-reference" / "results.json")
                         .read_text())
    hidden = [t for t in results["tests"] if "hidden check" in t["name"]]
    assert hidden and hidden[0]["status"] == "failed"
    assert "details are hidden" in hidden[0]["output"]


def test_the_course_is_unchanged(batch):
    assert batch["course_after"] == batch["course_before"]


def test_no_process_outlives_the_batch(batch):
    assert batch["left"] == []


def test_no_link_was_followed(batch):
    assert not Path(batch["paths"]["PWNED"]).exists()


def test_the_grader_and_the_next_student_survive_a_killer(batch):
    """kill-everyone sees only its own processes: the batch went on, the next submissions
    (the reference among them) compiled and kept their points."""
    assert "hostile: not caged" not in feedback(batch, "kill-everyone")
    assert float(batch["rows"]["zzz-reference"][LAB]) == full_marks(batch)


def test_program_environment_is_the_documented_minimum(batch):
    text = feedback(batch, "environment")
    names = set(re.findall(r"hostile: env (\w+)", text))
    assert names and names <= {*sandbox.BASE_ENV, *sandbox.TEST_ENV}, names
    assert set(re.findall(r"hostile: interface *(\w+)", text)) == {"lo"}


def test_processes_memory_and_disk_are_capped_in_total(batch):
    bomb = feedback(batch, BOMB)
    made = [int(n) for n in re.findall(r"hostile: made (\d+) processes", bomb)]
    assert made and max(made) < 512, made
    hog = feedback(batch, "memory-hog")
    held = re.findall(r"child \d holds (\d+) MiB", hog)
    assert "a hog was killed" in hog or held.count(str(HOG_MIB)) < 3, hog[-3000:]
    disk = [int(n) for n in re.findall(r"hostile: wrote (\d+) MiB", feedback(batch, "disk-filler"))]
    assert disk and max(disk) < 8 * FILE_MIB, disk


def test_compile_attacks_do_not_compile_and_quote_nothing(batch):
    for name in COMPILE_ATTACKS:
        text = feedback(batch, name)
        assert "does not compile" in text, f"{name}:\n{text[-2000:]}"
    stopped = feedback(batch, "include-dev-zero").lower()  # by the memory cap or the clock
    assert any(word in stopped for word in ("out of memory", "killed", "took longer than")), \
        stopped[-2000:]


def test_reports_stay_valid_whatever_a_program_prints(batch):
    for student in batch["rows"]:
        ET.parse(batch["student_dirs"][student] / "junit.xml")  # raises if invalid
    text = feedback(batch, "escape-codes")
    assert "\x1b" not in text and "\x00" not in text
    assert "\\x1b[2J" in text, text[-2000:]


# -- grade --impl and Gradescope mode ------------------------------------------------------------------

ONE_BY_ONE = ["plant-and-kill", "patch-harness", "daemon", "read-secrets", "include-hidden-test"]
GRADESCOPE = ["plant-and-kill", "aaa-reference"]


def solo_gradings(corpus) -> dict:
    """The gradings that run alongside the batches: key -> grading(uid)."""
    work = corpus["base"] / "solo"
    gradings = {}
    for student in ONE_BY_ONE:
        gradings[("grade", student)] = \
            lambda uid, student=student: grade_impl(corpus, student, work / f"grade-{student}", uid)
    for student in GRADESCOPE:
        gradings[("gradescope", student)] = \
            lambda uid, student=student: gradescope(corpus, student, work / f"gs-{student}", uid)
    gradings[("reuse",)] = lambda uid: grade_twice(corpus, work / "reuse", uid)
    return gradings


def grade_impl(corpus, student: str, work: Path, uid: int) -> dict:
    out = work / "reports"
    done = caged_run(["grade", "--impl", str(corpus["subs"] / student), LAB, "--out", str(out),
                      "--build-dir", str(corpus["build_dir"]),
                      "--tests-dir", str(corpus["hidden"]), *limits()], uid)
    return {"done": done, "out": out}


def gradescope(corpus, student: str, work: Path, uid: int) -> dict:
    results = work / "results" / "results.json"
    results.parent.mkdir(parents=True)
    results.write_text('{"score": 1000, "tests": [], "output": "planted"}')
    done = caged_run(["gradescope", str(corpus["subs"] / student), str(results),
                      "--build-dir", str(corpus["build_dir"]), *limits()], uid)
    return {"done": done, "results": results}


def grade_twice(corpus, work: Path, uid: int) -> list[float]:
    """The same folder graded twice: first the solution, then the skeleton with older file
    times. Returns the two scores."""
    tree = work / "student"
    shutil.copytree(ROOT / "solutions" / LAB, tree / LAB)
    scores = []
    for source in (ROOT / "solutions" / LAB, ROOT / "labs" / LAB):
        shutil.rmtree(tree / LAB)
        shutil.copytree(source, tree / LAB)
        for path in (tree / LAB).iterdir():
            os.utime(path, (1e9, 1e9))  # 2001: older than any build
        out = work / f"reports-{len(scores)}"
        caged_run(["grade", "--impl", str(tree), LAB, "--out", str(out),
                   "--build-dir", str(corpus["build_dir"])], uid)
        scores.append(json.loads((out / "summary.json").read_text())["score"])
    return scores


@pytest.mark.parametrize("student", ONE_BY_ONE)
def test_grade_impl_scores_the_attack_honestly(gradings, student):
    """./socklab grade --impl PATH: the same walls as in a batch."""
    solo = solo_of(gradings, ("grade", student))
    done, out = solo["result"]["done"], solo["result"]["out"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["score"] == 0 and summary["about"]["sandbox"] == "namespaces", done.stdout
    assert all(MARK not in text for text in reports_of(out).values())
    assert not solo["course_changed"]
    assert solo["left"] == []


@pytest.mark.parametrize("student", GRADESCOPE)
def test_gradescope_writes_results_json_itself(gradings, student):
    """run_autograder's grader: results.json is the grader's, even after a planted one.
    (Gradescope grades every lab: a lab the submission has no folder for scores 0, saying so.)"""
    solo = solo_of(gradings, ("gradescope", student))
    done, results = solo["result"]["done"], solo["result"]["results"]
    data = json.loads(results.read_text())
    lab01 = [t for t in data["tests"] if LAB in t["tags"]]
    expected = round(sum(t["max_score"] for t in lab01), 2) if "reference" in student else 0
    assert lab01 and data["score"] == expected, done.stdout + done.stderr
    assert MARK not in results.read_text() and "planted" not in results.read_text()
    assert solo["left"] == []


def test_a_build_is_never_reused_by_path_and_time(gradings):
    """The same folder graded twice: first the solution, then the skeleton with older file
    times. The second grade is the skeleton's."""
    scores = solo_of(gradings, ("reuse",))["result"]
    assert scores[0] > 0 and scores[1] == 0, scores


def test_a_missing_test_module_is_an_error_not_the_whole_suite(tmp_path, build_dir):
    from grader import grade
    checks, output, why = grade.run_tests("99-no-such-lab", "solutions", build_dir, tmp_path,
                                          [], [ROOT / "tests"])
    assert checks == [] and "no test module" in output and why
