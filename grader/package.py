"""Hand-out packages.

- The student package: the course without solutions/ and without the mutants (which are
  patches against the solutions); it builds and grades out of the box.
- The Gradescope autograder: a zip with setup.sh and run_autograder at its root and the
  student package (plus the instructor's hidden tests) in socklab/. run_autograder grades
  /autograder/submission and always writes /autograder/results/results.json.
"""
from __future__ import annotations

import re
import subprocess
import tarfile
import zipfile
from pathlib import Path

from harness import registry
from harness.programs import GRADER_TARGET, PYTHON, ROOT

# Never handed out: the references, the mistakes made from them, and what builds produce.
EXCLUDED_TOP = {"solutions", ".git", ".ci"}
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache"}
EXCLUDED_PREFIXES = ("tests/mutants/", "tests/variants/", "build", "dist/")

SETUP_SH = f"""\
#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image (as root, from
# /autograder/source, where the zip is unpacked): what grading needs, installed and built.
set -euo pipefail
cd /autograder/source/socklab
scripts/setup --grader
cmake -S . -B build
cmake --build build --target {GRADER_TARGET}
{PYTHON} -c 'import grader'  # refuses, in one line, a Python or pytest older than the course needs
"""

def run_autograder(lab: str | None = None) -> str:
    """Gradescope's run_autograder. lab: the one lab this assignment grades; its students may
    then upload the lab's files alone (Gradescope's file upload puts them at the top of the
    submission) as well as its folder."""
    only = f" --lab {lab}" if lab else ""
    return f"""\
#!/usr/bin/env bash
# Gradescope runs this for every submission. The grader writes results.json itself, from its
# own results (the submission is graded in a sandbox and never sees this folder); if the
# grader itself fails, this script writes a zero score that says so. Nothing else counts.
cd /autograder/source/socklab
mkdir -p /autograder/results
rm -f /autograder/results/results.json
{PYTHON} -m grader gradescope /autograder/submission /autograder/results/results.json{only} \\
    --tests-dir hidden-tests --build-dir build
[ -s /autograder/results/results.json ] ||
  echo '{{"score": 0, "output": "The autograder failed before it could grade; please tell your instructor.", "tests": []}}' \\
    > /autograder/results/results.json
"""


RUN_AUTOGRADER = run_autograder()  # every lab: containers/Containerfile's Gradescope stage


class PackageError(Exception):
    """The course cannot be handed out as it is (a registered lab lacks a file)."""


def course_files(root: Path = ROOT) -> list[Path]:
    """The files of the course, relative to root (from git when it is a checkout): the labs
    of labs.txt, each whole, and nothing of a lab without its line there."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True,
                                capture_output=True).stdout.decode().split("\0")
        files = [Path(f) for f in listed if f]
    except (subprocess.CalledProcessError, FileNotFoundError):
        files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    files = sorted(f for f in files if _handed_out(f) and (root / f).exists())
    missing = [str(f) for f in _students_need() if f not in files]
    if missing:
        raise PackageError(f"a lab of labs.txt lacks {', '.join(missing)}")
    return files


def _students_need() -> list[Path]:
    """What each registered lab must hand out: its skeleton, its handout, its checks."""
    needed = []
    for lab in registry.labs():
        folder = Path("labs") / lab.name
        needed += [folder / f"{program}.c" for program in lab.programs]
        needed += [folder / source for source in lab.sources]
        needed += [folder / "README.md", lab.test_module.relative_to(ROOT)]
    return needed


def _lab_of(rel: Path) -> str | None:
    """The lab a file belongs to (labs/NN-x/..., docs/NN-x.md, tests/test_NN_x.py), or None."""
    text = rel.as_posix()
    match = (re.match(r"(?:labs|docs/lessons)/(\d\d-[^/.]+)", text)
             or re.match(r"docs/(\d\d-[^/]+)\.md$", text)
             or re.match(r"tests/test_(\d\d_\w+)\.py$", text))
    return match.group(1).replace("_", "-") if match else None


def _handed_out(rel: Path) -> bool:
    text = rel.as_posix()
    lab = _lab_of(rel)
    return (rel.parts[0] not in EXCLUDED_TOP and not EXCLUDED_PARTS & set(rel.parts)
            and not text.startswith(EXCLUDED_PREFIXES)
            and (lab is None or lab in registry.names()))


def student_package(out: Path, root: Path = ROOT) -> Path:
    """socklab-student.tar.gz: the course in a folder socklab/, minus solutions and mutants."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        for rel in course_files(root):
            tar.add(root / rel, arcname=f"socklab/{rel.as_posix()}", recursive=False)
    return out


def gradescope_package(out: Path, hidden: list[Path], root: Path = ROOT,
                       lab: str | None = None) -> Path:
    """The autograder zip: setup.sh, run_autograder, socklab/ and socklab/hidden-tests/.
    lab: the one lab the assignment grades (run_autograder())."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        _add_text(z, "setup.sh", SETUP_SH)
        _add_text(z, "run_autograder", run_autograder(lab))
        for rel in course_files(root):
            z.write(root / rel, f"socklab/{rel.as_posix()}")
        for folder in hidden:
            for path in sorted(folder.glob("*.py")):
                z.write(path, f"socklab/hidden-tests/{path.name}")
        if not hidden:
            _add_text(z, "socklab/hidden-tests/README", "Extra test modules go here.\n", 0o644)
    return out


def _add_text(z: zipfile.ZipFile, name: str, text: str, mode: int = 0o755) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o100000 | mode) << 16  # a regular file, executable for scripts
    z.writestr(info, text)
