"""Which binaries implement a lab.

CMake writes build/socklab-programs.json: for every implementation it built (labs,
solutions, mutant/LAB/NAME, submission) and every lab, the path of each program. The harness
reads that and nothing else, so it never guesses a build path. An implementation given as a
path (a student's tree) is configured and built here, in a build directory of its own.
"""
from __future__ import annotations

import fcntl
import json
import re
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "socklab-programs.json"
BUILD_TIMEOUT = 300
# The Python that runs the harness: Debian's, for which python3-pytest is installed (not a
# pyenv's on PATH). The one place the Python side says it: ./socklab and cmake/tests.cmake say
# the same, and tests/selftest/test_docs_agree.py checks that they do.
PYTHON = "/usr/bin/python3"


class BuildError(Exception):
    """The implementation could not be configured or built; the message has the output."""


@dataclass(frozen=True)
class LabBuild:
    impl: str
    lab: str
    source: Path
    target: str
    programs: dict[str, Path]
    shortio: Path  # the short-I/O shim built alongside (harness/shim/shortio.c)
    trace: Path | None = None  # the tracer built alongside (harness/shim/trace.c)


def shown(path: Path) -> str:
    """A path as a student would type it: relative to where they are, when it is below."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def default_build_dir() -> Path:
    return Path(os.environ.get("SOCKLAB_BUILD_DIR", ROOT / "build"))


def known_impls() -> tuple[str, ...]:
    return ("labs", "solutions", "submission")


def read_manifest(build_dir: Path) -> list[LabBuild]:
    path = build_dir / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BuildError(f"{path} does not exist: configure and build first "
                         f"(cmake -S {ROOT} -B {build_dir} && cmake --build {build_dir})")
    except (OSError, ValueError) as e:  # not a folder, unreadable, not JSON
        raise BuildError(f"{path} cannot be read: {getattr(e, 'strerror', None) or e}")
    return [LabBuild(impl=b["impl"], lab=b["lab"], source=Path(b["source"]), target=b["target"],
                     programs={k: Path(v) for k, v in b["programs"].items()},
                     shortio=Path(data["shortio"]),
                     trace=Path(data["trace"]) if data.get("trace") else None)
            for b in data["builds"]]


GRADER_TARGET = "socklab_grader"  # cmake/socklab.cmake: what grading needs from the build
PREPARE_LOG = "prepare.log"


def prepare(build_dir: Path, timeout: float = BUILD_TIMEOUT) -> None:
    """Makes sure the course's build has everything grading needs: configures it if it never
    was (no manifest), then builds GRADER_TARGET (the shims, the common code). Graders started
    at once in the same build take turns. Raises BuildError with one line that says what
    failed and where its output is."""
    build_dir = Path(build_dir)
    log = build_dir / PREPARE_LOG
    if build_dir.exists() and not build_dir.is_dir():
        raise BuildError(f"the build folder {build_dir} is not a folder")
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        lock = open(build_dir / ".prepare.lock", "w")
    except OSError as e:
        raise BuildError(f"cannot use the build folder {build_dir}: {e.strerror}")
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        steps = [["--build", str(build_dir), "--target", GRADER_TARGET]]
        if not (build_dir / MANIFEST).exists():
            steps.insert(0, ["-S", str(ROOT), "-B", str(build_dir)])
        for step in steps:
            what = "configuring" if step[0] == "-S" else "building"
            try:
                done = subprocess.run(["cmake", *step], capture_output=True, text=True,
                                      errors="replace", timeout=timeout)
            except FileNotFoundError:
                raise BuildError("cmake is not installed: run scripts/setup (it installs what "
                                 "socklab needs)")
            except subprocess.TimeoutExpired:
                raise BuildError(f"{what} the course's build in {build_dir} took longer than "
                                 f"{timeout:g} s")
            if done.returncode != 0:
                log.write_text(done.stdout + done.stderr)
                raise BuildError(f"{what} the course's build in {build_dir} failed; its output "
                                 f"is in {log}")


def is_tree(impl: str) -> bool:
    """True if impl names a directory of lab folders rather than a built implementation."""
    return impl not in known_impls() and not impl.startswith(("mutant/", "variant/"))


def submission_build_dir(tree: Path, base: Path) -> Path:
    """A build folder keyed by the tree's content, never by its path and file times: a
    tree changed in any byte gets a fresh build. (Used when pytest is given a tree directly;
    ./socklab grade builds a submission in its sandbox.)"""
    from .sandbox import snapshot  # the one definition of "the submission's bytes"
    return base / "submissions" / snapshot(tree)[:16]


# What the build tool says about itself, not about the student's code: progress lines
# ("[ 12%] Building C object ..."), make's own lines, dependency scans.
BUILD_TOOL_NOISE = re.compile(r"^(\[\s*\d+%\]|g?make(\[\d+\])?: |Scanning dependencies |"
                              r"Consolidate compiler generated dependencies )")


def compiler_words(output: str) -> str:
    """A build's output with the build tool's own lines taken out: what is left is the
    compiler's and the linker's diagnostics, which a student reads."""
    kept = [line for line in output.splitlines() if not BUILD_TOOL_NOISE.match(line)]
    return "\n".join(kept).strip("\n") or output


def run_cmake(args: list[str], log_name: str, timeout: float = BUILD_TIMEOUT) -> str:
    try:
        done = subprocess.run(["cmake", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{log_name} took longer than {timeout:g} s")
    output = compiler_words(done.stdout + done.stderr)
    if done.returncode != 0:
        raise BuildError(output)
    return output


def configure_submission(tree: Path, build_dir: Path) -> None:
    """Configures a build of a student's tree (lab folders it lacks come from labs/)."""
    if not tree.is_dir():
        raise BuildError(f"--impl {tree}: no such directory")
    run_cmake(["-S", str(ROOT), "-B", str(build_dir), f"-DSOCKLAB_SUBMISSION={tree.resolve()}",
               "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], "configuring the submission")


def build_tree_lab(tree: Path, base: Path, lab: str) -> tuple[LabBuild, str]:
    """Builds one lab of a student's tree (with the shims the checks preload) in a build of
    its own under base: the lab's programs and the compiler's output, or BuildError."""
    build_dir = submission_build_dir(tree, base)
    build_dir.mkdir(parents=True, exist_ok=True)
    # Two harness runs grading the same tree at once take turns with its build.
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        configure_submission(tree, build_dir)
        build = find(build_dir, "submission", lab)
        output = build_target(build_dir, build.target)
        for shim in ("socklab_shortio", "socklab_trace"):  # the lab's target leaves them out
            build_target(build_dir, shim)
    return build, output


def build_target(build_dir: Path, target: str, timeout: float = BUILD_TIMEOUT) -> str:
    """Builds one target; returns the compiler's output, or raises BuildError with it."""
    return run_cmake(["--build", str(build_dir), "--target", target],
                     f"building {target}", timeout)


def find(build_dir: Path, impl: str, lab: str) -> LabBuild:
    """The build of one lab of one implementation, or BuildError saying why there is none."""
    matches = [b for b in read_manifest(build_dir) if b.impl == impl and b.lab == lab]
    if not matches:
        raise BuildError(f"the build in {build_dir} has no lab {lab} for --impl {impl} "
                         f"(is the lab folder there, and listed in cmake/labs.cmake?)")
    return matches[0]
