"""Grading one untrusted submission behind the walls (harness/sandbox.py has the picture).

grade_tree() is the grader outside: it makes the submission's cgroup and a private folder,
then runs the grading "room" (a bwrap with its own network and pid namespaces and a
size-capped tmpfs over the private folder) and, whatever happens in it, kills every process
left in the cgroup and removes the folder. inside() is what the room does: snapshot the
submission, compile it as the unprivileged uid, copy the programs out, and grade them with
every program behind the walls. The reports are written by the grader in the room, to a
folder no submission process can see.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import programs, sandbox
from harness.limits import Limits
from harness.results import Grading
from harness.sandbox import Caps, Cgroup, Walls

from . import grade, render
from .render.scoreboard import scoreboard

COMPILE_OUTPUT_LIMIT = 20000  # characters of the compiler's words kept for the feedback


@dataclass
class Request:
    """What to grade, and how; passed into the room as JSON."""
    tree: str
    out: str
    course_build: str           # the grader's own build: the labs' programs, the shim
    labs: list[str] = field(default_factory=list)
    tests_dirs: list[str] = field(default_factory=list)
    valgrind: bool = False
    html: bool = False  # report.html too
    limit_fsize: str | None = None
    weights: str | None = None  # an instructor's lesson weights (--weights FILE)
    caps: dict = field(default_factory=lambda: asdict(Caps()))


def grade_tree(request: Request) -> int:
    """Grades request.tree in a sandbox; returns the grading's exit status."""
    caps = Caps(**request.caps)
    mode = sandbox.choose_mode()
    cgroup = Cgroup(f"grade-{os.getpid()}-{uuid.uuid4().hex[:6]}", caps)
    work = sandbox.private_dir("socklab-grade-")
    uid = sandbox.sandbox_uid()
    walls = Walls(mode=mode, uid=uid, gid=uid, cgroup_procs=cgroup.procs_files,
                  tmp_size=caps.tmp)
    room = None
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if mode != "namespaces":
            return inside(request, work, walls, cgroup.enforced)
        command = [shutil.which("setpriv") or "setpriv", "--pdeathsig", "KILL", "--",
                   sandbox.bwrap(), "--dev-bind", "/", "/", "--proc", "/proc",
                   "--size", str(caps.disk), "--tmpfs", str(work),
                   "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent",
                   "--", sys.executable, "-m", "grader", "room",
                   json.dumps({"request": asdict(request), "work": str(work),
                               "walls": asdict(walls), "enforced": cgroup.enforced})]
        env = {**os.environ, "PYTHONPATH": str(programs.ROOT)}
        room = subprocess.Popen(command, cwd=programs.ROOT, env=env)
        return room.wait()
    finally:
        if room is not None and room.poll() is None:
            room.kill()
            room.wait()
        cgroup.remove()  # nothing the submission started outlives its grading
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signo, frame):
    raise SystemExit(128 + signo)  # runs the finally blocks: cgroup and folder removed


def room_main(argument: str) -> int:
    """`python3 -m grader room JSON`: the grader's part inside the room."""
    data = json.loads(argument)
    return inside(Request(**data["request"]), Path(data["work"]), Walls(**data["walls"]),
                  data["enforced"])


def inside(request: Request, work: Path, walls: Walls, enforced: list[str]) -> int:
    started = time.monotonic()
    out = safe_out_dir(Path(request.out))
    src, build, bins, scratch = (work / name for name in ("src", "build", "programs", "scratch"))
    for path in (src, bins, scratch):
        path.mkdir(parents=True, exist_ok=True)
    if walls.mode == "user":  # no mount namespace: the uid must be able to pass through
        for path in (work, scratch):
            path.chmod(0o711)
    tree = Path(request.tree)
    try:
        digest = sandbox.snapshot(tree, src)
    except (sandbox.SandboxError, OSError) as e:
        print(f"socklab: cannot grade {tree}: {e}", file=sys.stderr)
        return 2
    course = [b for b in programs.read_manifest(Path(request.course_build)) if b.impl == "labs"]
    lab_programs = {b.lab: list(b.programs) for b in course}
    labs = request.labs or sorted(lab_programs)
    shim = str(course[0].shortio) if course else ""
    tracer = str(course[0].trace) if course and course[0].trace else ""
    walls.readable = [str(bins), *(lib for lib in (shim, tracer) if lib)]
    built = compile_all(walls, src, build, bins, {lab: lab_programs.get(lab, []) for lab in labs})
    write_manifest(bins, src, shim, tracer, built, lab_programs)
    shutil.rmtree(build, ignore_errors=True)  # what the compile wrote is not needed again
    walls_file = work / "walls.json"
    walls.save(walls_file)

    extra = ["--sandbox", str(walls_file), "--limits"]
    if request.valgrind:
        extra.append("--valgrind")
    if request.limit_fsize:
        extra.append(f"--limit-fsize={request.limit_fsize}")
    if request.weights:
        extra.append(f"--weights={request.weights}")
    title = f"socklab: {tree}"
    about = {"sandbox": walls.mode, "sandbox_detail": sandbox.describe_mode(walls.mode),
             "cgroup": enforced, "submission_sha256": digest}

    def save(results) -> Grading:
        grading = Grading(title, "submission", list(results), time.monotonic() - started, about)
        render.write_all(grading, out, html=request.html)
        return grading

    tests_dirs = [Path(d) for d in request.tests_dirs] or [programs.ROOT / "tests"]
    results = grade.grade(bins, "submission", labs, out, extra, tests_dirs,
                          progress=lambda lab: print(f"grading {lab} ...", file=sys.stderr),
                          done=save, built=built,
                          scratch=scratch)
    print(scoreboard(save(results)))
    print(f"\n{sandbox.describe_mode(walls.mode)}")
    written = "results.json, junit.xml, feedback.txt" + (", report.html" if request.html else "")
    print(f"reports ({written}): {programs.shown(out)}")
    everything = all(r.built and not r.error and r.passed == len(r.checks) for r in results)
    return 0 if results and everything else 1


def safe_out_dir(out: Path) -> Path:
    """The report folder: made by the grader, never a link (reports are not written through
    a link a program planted)."""
    if out.is_symlink():
        raise SystemExit(f"socklab: the report folder {out} is a symbolic link; not writing there")
    out.mkdir(parents=True, exist_ok=True)
    return out


# -- the compile -------------------------------------------------------------------------------

def compile_all(walls: Walls, src: Path, build: Path, bins: Path,
                lab_programs: dict[str, list[str]]) -> dict[str, tuple[bool, str]]:
    """Configures and builds the submission as the sandbox's uid; copies each lab's programs
    into bins. Returns, per lab, (built, the compiler's output)."""
    build.mkdir(parents=True, exist_ok=True)
    sandbox.give_to(build, walls)
    if walls.mode == "user":
        src.chmod(0o755)
    ok, output = run_compile(walls, src, build,
                             ["cmake", "-S", str(programs.ROOT), "-B", str(build),
                              f"-DSOCKLAB_SUBMISSION={src}", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
    if not ok:
        return {lab: (False, f"configuring the build failed:\n{output}") for lab in lab_programs}
    built = {}
    for lab, names in lab_programs.items():
        if not (src / lab).is_dir():  # else the build takes labs/'s skeleton in its place
            built[lab] = (False, f"the submission has no folder {lab}: a lab's files go in a "
                                 f"folder of that name (labs/{lab}/server.c ...)")
            continue
        ok, output = run_compile(walls, src, build,
                                 ["cmake", "--build", str(build), "--target", f"submission-{lab}"])
        missing = [n for n in names
                   if ok and not sandbox.copy_program(build / "submission" / lab / n,
                                                      bins / "submission" / lab / n)]
        if missing:
            ok, output = False, f"{output}\nthe build made no program {', '.join(missing)}"
        built[lab] = (ok, output)
    return built


def run_compile(walls: Walls, src: Path, build: Path, argv: list[str]) -> tuple[bool, str]:
    caps = Caps()
    limits = Limits(cpu_seconds=caps.compile_seconds, memory=1 << 30, file_size=256 << 20)
    readable = [str(programs.ROOT / name) for name in sandbox.COURSE_BUILD_FILES
                if (programs.ROOT / name).exists()] + [str(src)]
    wrapped = walls.wrap(limits.prefix() + argv, readable=readable, writable=[build],
                         chdir=build, tmp_size=256 << 20)
    try:
        done = subprocess.run(wrapped, capture_output=True, env=sandbox.BASE_ENV, cwd=build,
                              timeout=caps.compile_seconds, start_new_session=True)
    except subprocess.TimeoutExpired:
        return False, f"the compile took longer than {caps.compile_seconds} s and was stopped"
    text = programs.compiler_words((done.stdout + done.stderr).decode("utf-8", "replace"))
    text = text.replace(f"{src}/", "").replace(str(build), "build")
    if len(text) > COMPILE_OUTPUT_LIMIT:
        text = "...\n" + text[-COMPILE_OUTPUT_LIMIT:]
    if done.returncode != 0 and not text.strip():
        text = f"the compiler stopped ({sandbox.describe_status_plain(done.returncode)})"
    return done.returncode == 0, text


def write_manifest(bins: Path, src: Path, shim: str, tracer: str,
                   built: dict[str, tuple[bool, str]], lab_programs: dict[str, list[str]]) -> None:
    """The manifest the tests read, written by the grader (never the one the compile made)."""
    entries = [{"impl": "submission", "lab": lab, "source": str(src / lab),
                "target": f"submission-{lab}",
                "programs": {n: str(bins / "submission" / lab / n) for n in lab_programs[lab]}}
               for lab, (ok, _) in built.items() if ok]
    (bins / programs.MANIFEST).write_text(json.dumps(
        {"source_dir": str(programs.ROOT), "shortio": shim, "trace": tracer, "builds": entries},
        indent=1))
