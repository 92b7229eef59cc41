"""The grader's command line (./socklab grade|batch|package|check|watch call it; `python3 -m
harness ...` is the same command, kept for instructors' older scripts).

  python3 -m grader grade [--impl labs|solutions|PATH] [LAB ...]   build, test, scoreboard
  python3 -m grader gradescope SUBMISSION RESULTS_JSON             Gradescope's run_autograder
  python3 -m grader prairielearn SUBMISSION RESULTS_JSON           PrairieLearn's entry point
  python3 -m grader batch FOLDER --out DIR                         one submission per student
  python3 -m grader package student|gradescope [--hidden DIR]      hand-out packages
  python3 -m grader check|watch [--build-dir DIR] LAB [OPTIONS]     the student's loop (loop.py)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path

from harness import limits, programs, registry, sandbox
from harness.results import Grading
from harness.weights import WeightsError, read_file

from . import batch, grade, loop, package, render, room
from .render.files import write_atomic
from .render.scoreboard import scoreboard


def add_grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--build-dir", type=Path, default=programs.default_build_dir())
    p.add_argument("--tests-dir", type=Path, action="append", default=[],
                   help="a folder of extra test modules (test_NN_name_*.py), e.g. hidden tests")
    p.add_argument("--limit-fsize", default=None, help="largest file a program may write (256M)")
    p.add_argument("--limit-memory", type=limits.parse_size, default=None,
                   help="a submission's memory, all its processes together (2G)")
    p.add_argument("--limit-disk", type=limits.parse_size, default=None,
                   help="a submission's disk: its build and every check's files (1G)")
    p.add_argument("--weights", type=Path, default=None, metavar="FILE",
                   help="lesson weights instead of docs/lessons' (LAB LESSON WEIGHT a line)")


def grade_command(args) -> int:
    started = time.monotonic()
    build_dir, impl = args.build_dir.resolve(), args.impl
    if programs.is_tree(impl):
        return grade_submission(args, Path(impl))
    title = f"socklab: {impl}/"
    out = (args.out or build_dir / "grade" / impl).resolve()
    extra = [flag for flag, on in (("--valgrind", args.valgrind), ("--limits", args.limits)) if on]
    if args.limit_fsize:
        extra.append(f"--limit-fsize={args.limit_fsize}")
    if args.weights:
        extra.append(f"--weights={args.weights.resolve()}")
    tests_dirs = [programs.ROOT / "tests", *[d.resolve() for d in args.tests_dir]]

    def save(results) -> Grading:  # after every lab: a stopped grading keeps what it finished
        grading = Grading(title, impl, list(results), time.monotonic() - started)
        render.write_all(grading, out, html=args.html)
        return grading

    results = grade.grade(build_dir, impl, args.labs or None, out, extra, tests_dirs,
                          progress=lambda lab: print(f"grading {lab} ...", file=sys.stderr),
                          done=save)
    print(scoreboard(save(results)))
    print(f"\nreports (results.json, junit.xml, feedback.txt): {programs.shown(out)}")
    if args.html:
        print("the HTML report, with a diagram of each failed check: "
              f"{programs.shown(out / 'report.html')}")
    everything = all(r.built and not r.error and r.passed == len(r.checks) for r in results)
    return 0 if results and everything else 1


def grade_submission(args, tree: Path) -> int:
    """An untrusted tree: graded in the sandbox (grader/room.py)."""
    if not tree.is_dir():
        print(f"socklab: --impl {tree}: no such folder", file=sys.stderr)
        return 2
    tree = tree.resolve()
    name = tree.name  # the student's, for the reports' folder
    if (tree / "labs").is_dir():  # a whole labs/ folder handed in (docs/instructors.md, 2.)
        tree = tree / "labs"
    build_dir = args.build_dir.resolve()
    try:
        programs.read_manifest(build_dir)
    except programs.BuildError as e:
        print(f"socklab: {e}", file=sys.stderr)
        return 2
    # each tree its own folder: grading students one by one never overwrites a report
    out = (args.out or build_dir / "grade" / "trees" / name).resolve()
    caps = sandbox.Caps(**{k: v for k, v in (("memory", args.limit_memory),
                                             ("disk", args.limit_disk)) if v})
    request = room.Request(tree=str(tree), out=str(out), course_build=str(build_dir),
                           labs=args.labs,
                           tests_dirs=[str(d.resolve()) for d in
                                       [programs.ROOT / "tests", *args.tests_dir]],
                           valgrind=args.valgrind, html=args.html, limit_fsize=args.limit_fsize,
                           weights=str(args.weights.resolve()) if args.weights else None,
                           caps=dataclasses.asdict(caps))
    return room.grade_tree(request)


PLATFORMS = {  # the report each platform reads, and what it says when grading itself failed
    "gradescope": (render.PLATFORM_FILES["gradescope"], {
        "score": 0, "execution_time": 0, "output": "The autograder failed before it could "
        "grade; please tell your instructor.", "visibility": "visible",
        "stdout_visibility": "hidden", "tests": []}),
    "prairielearn": (render.PLATFORM_FILES["prairielearn"], {
        "gradable": False, "score": 0, "message": "The autograder failed before it could "
        "grade; please tell your instructor.", "output": "", "tests": []}),
}
COPY_EVERY = 0.5  # seconds between two looks at the grader's reports, while it grades


class LooseFiles(Exception):
    """A submission with a lab's files at its top and no lab folder, and no --lab to say
    which lab they are."""


def platform_submission(args, private: Path) -> tuple[Path, list[str]]:
    """The tree to grade and its labs. With --lab, the submission is that lab's files side by
    side (what a platform's file upload makes) or lab folders; without it, lab folders or a
    labs/ folder, and every lab when it holds none."""
    top = args.submission
    submission = top / "labs" if (top / "labs").is_dir() else top
    known = set(registry.names())
    held = sorted(p.name for p in submission.glob("*") if p.is_dir() and p.name in known)
    loose = sorted(p.name for p in top.glob("*.[ch]") if p.is_file())
    if args.lab and not held:
        tree = private / "tree"
        shutil.copytree(top, tree / args.lab, symlinks=True)
        return tree, [args.lab]
    if args.lab:
        return submission, [args.lab]
    if loose and not held:
        raise LooseFiles(f"Your submission has {', '.join(loose)} at its top, not in a lab "
                         f"folder, so no lab could be graded. Upload your lab's folder (such "
                         f"as 01-tcp-basic) or your labs/ folder, with the files inside it.")
    return submission, held


class Relay:
    """Copies the platform's report from the grader's private folder to where the platform
    reads it, each time the grader rewrites it (after each lab), atomically: a grading
    stopped half-way leaves the labs it finished."""

    def __init__(self, produced: Path, results: Path):
        self.produced, self.results = produced, results
        self.seen = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(COPY_EVERY):
            self.copy()

    def copy(self) -> bool:
        """True if the grader's report is there (and now copied)."""
        try:
            if self.produced.is_symlink() or not self.produced.is_file():
                return False
            stat = self.produced.stat()
            if (stat.st_ino, stat.st_mtime_ns) != self.seen:
                text = self.produced.read_text()
                write_atomic(self.results, text)
                self.seen = (stat.st_ino, stat.st_mtime_ns)
            return True
        except (OSError, UnicodeDecodeError):
            return False


def platform_command(args) -> int:
    """Grades a submission for a platform (lab folders, or a labs/ folder, at its top): the
    labs it holds, or every lab if it holds none. The results file the platform reads is
    written here, from the grader's own reports, after each lab and at the end, always.
    Exits 0 whenever it wrote that file (PrairieLearn reads results only after a 0)."""
    report, failed = PLATFORMS[args.command]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.unlink(missing_ok=True)  # whatever was there, it is not ours
    private = sandbox.private_dir(f"socklab-{args.command}-")
    try:
        submission, held = platform_submission(args, private)
    except LooseFiles as e:  # graded as nine skeletons, the student's work would score 0
        write_atomic(args.results, json.dumps({**failed, **{
            "output" if args.command == "gradescope" else "message": str(e)}}))
        shutil.rmtree(private, ignore_errors=True)
        return 0
    args.impl, args.labs, args.valgrind, args.html = str(submission), held, False, False
    args.out = private / "reports"
    relay = Relay(args.out / report, args.results)
    relay.thread.start()
    try:
        grade_command(args)
    except Exception:  # noqa: BLE001 - the platform gets a results file that says so
        traceback.print_exc()
    finally:
        relay.stop.set()
        relay.thread.join()
        if not relay.copy():
            write_atomic(args.results, json.dumps(failed))
        shutil.rmtree(private, ignore_errors=True)
    return 0


def batch_command(args) -> int:
    options = batch.BatchOptions(jobs=args.jobs, submission_timeout=args.timeout,
                                 labs=tuple(args.labs), limit_fsize=args.limit_fsize,
                                 tests_dirs=tuple(d.resolve() for d in args.tests_dir),
                                 build_dir=args.build_dir.resolve(),
                                 grade_options=tuple(
                                     f"--{name}={value}" for name, value in
                                     (("limit-memory", args.limit_memory),
                                      ("limit-disk", args.limit_disk))
                                     if value),
                                 weights=args.weights and args.weights.resolve())
    rows = batch.batch(args.folder.resolve(), args.out.resolve(), options,
                       progress=lambda row: print(
                           f"{row.student}: {row.grading.score if row.grading else 0:g} "
                           f"{row.note}".rstrip(), file=sys.stderr))
    print(f"{len(rows)} submissions graded: {args.out / 'grades.csv'}")
    return 0


def package_command(args) -> int:
    if args.lab and args.kind != "gradescope":
        print("socklab package: --lab is for the gradescope zip", file=sys.stderr)
        return 2
    for folder in args.hidden:
        if not folder.is_dir():
            print(f"socklab package: --hidden {folder}: not a folder of test modules",
                  file=sys.stderr)
            return 2
    try:
        if args.kind == "student":
            path = package.student_package(args.out or Path("dist/socklab-student.tar.gz"))
        else:
            path = package.gradescope_package(args.out or Path("dist/socklab-autograder.zip"),
                                              [d.resolve() for d in args.hidden], lab=args.lab)
    except package.PackageError as e:
        print(f"socklab package: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] in (["check"], ["watch"]):  # options of their own, passed on to the checks
        rest, build_dir = take_build_dir(argv[1:])
        return loop.main(argv[0], rest, build_dir.resolve())
    args = parse_intermixed(make_parser(), argv)
    try:  # 03, labs/03-tcp-echo/ and 03-tcp-echo all mean 03-tcp-echo
        args.labs = [registry.find(lab) for lab in getattr(args, "labs", [])]
        if getattr(args, "lab", None):
            args.lab = registry.find(args.lab)
    except registry.UnknownLab as e:
        print(f"socklab {args.command}: {e}", file=sys.stderr)
        return 2
    problem = bad_paths(args)
    if problem:
        print(f"socklab {args.command}: {problem}", file=sys.stderr)
        return 2
    if args.command in NEEDS_COURSE_BUILD:  # the room's shim and tracer, built by the grader
        try:
            programs.prepare(args.build_dir.resolve())
        except programs.BuildError as e:
            print(f"socklab {args.command}: {e}", file=sys.stderr)
            if args.command not in PLATFORMS:  # a platform's command still writes its results
                return 2
    return args.run(args)


# The commands that grade: each first makes sure the course's build has what grading needs.
NEEDS_COURSE_BUILD = ("grade", "batch", "gradescope", "prairielearn")


def take_build_dir(argv: list[str]) -> tuple[list[str], Path]:
    """check and watch: --build-dir DIR (or --build-dir=DIR) anywhere; the rest is loop.py's."""
    rest, build_dir = [], programs.default_build_dir()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--build-dir" and args:
            build_dir = Path(args.pop(0))
        elif arg.startswith("--build-dir="):
            build_dir = Path(arg.partition("=")[2])
        else:
            rest.append(arg)
    return rest, build_dir


def parse_intermixed(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Options and positionals in any order, for every command (`batch FOLDER --out DIR LAB`
    as well as `batch --out DIR FOLDER LAB`): argparse's parse_intermixed_args, which does not
    take subparsers, run on the command's own parser."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if argv and argv[0] in sub.choices:
        args = sub.choices[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)  # no command, --help, or an unknown one: the parser says


def bad_paths(args: argparse.Namespace) -> str | None:
    """What is wrong with the folders and files given, in one line (None: nothing)."""
    folder = getattr(args, "folder", None)
    if folder is not None and not folder.is_dir():
        return f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}"
    for tests in getattr(args, "tests_dir", []):
        if not tests.is_dir():
            return (f"--tests-dir {tests}: "
                    f"{'not a folder' if tests.exists() else 'no such folder'}")
    impl = getattr(args, "impl", None)
    if impl and programs.is_tree(impl) and not Path(impl).is_dir():
        return f"--impl {impl}: {'not a folder' if Path(impl).exists() else 'no such folder'}"
    out = getattr(args, "out", None)
    if out is not None:
        wants_folder = args.command != "package"
        if wants_folder and out.exists() and not out.is_dir():
            return f"--out {out}: not a folder (the reports go in a folder)"
        if not wants_folder and out.is_dir():
            return f"--out {out}: a folder (the package is a file)"
    weights = getattr(args, "weights", None)
    if weights is not None:  # read once here: a bad file stops every command before it grades
        try:
            read_file(weights, [programs.ROOT / "tests",
                                *[d.resolve() for d in getattr(args, "tests_dir", [])]])
        except WeightsError as e:
            return str(e)
    if getattr(args, "jobs", 1) < 1:
        return f"--jobs {args.jobs}: at least 1"
    if getattr(args, "timeout", 1) <= 0:
        return f"--timeout {args.timeout:g}: more than 0 seconds"
    return None


class OneLineParser(argparse.ArgumentParser):
    """A bad argument gets one line, not the usage text as well."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} ({self.prog} --help says more)\n")


def make_parser() -> argparse.ArgumentParser:
    """Every command but check and watch (loop.py parses theirs), with its options."""
    parser = OneLineParser(prog="socklab", description="socklab's grader")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="build, test and score the labs of one implementation")
    g.add_argument("labs", nargs="*", metavar="LAB", help="e.g. 01-tcp-basic (default: all)")
    g.add_argument("--impl", default="labs", help="labs (default), solutions, or a tree")
    g.add_argument("--out", type=Path, default=None, help="where the reports go")
    g.add_argument("--valgrind", action="store_true", help="run every program under memcheck")
    g.add_argument("--limits", action="store_true", help="rlimits on every program")
    g.add_argument("--html", action="store_true",
                   help="also write report.html: the scoreboard, each failure's story and a "
                        "sequence diagram of its conversation")
    add_grading_options(g)
    g.set_defaults(run=grade_command)

    for platform, where in (("gradescope", "/autograder/submission"),
                            ("prairielearn", "/grade/student")):
        s = sub.add_parser(platform, help=f"grade {where} for {platform}")
        s.add_argument("submission", type=Path)
        s.add_argument("results", type=Path, help="where the results JSON goes")
        s.add_argument("--lab", default=None, help="the lab graded: the submission may hold "
                       "its files side by side (a file upload) instead of its folder")
        add_grading_options(s)
        s.set_defaults(run=platform_command)

    b = sub.add_parser("batch", help="grade a folder of submissions, one per student")
    b.add_argument("folder", type=Path)
    b.add_argument("labs", nargs="*", metavar="LAB")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    b.add_argument("--timeout", type=float, default=1800, help="seconds per submission")
    add_grading_options(b)
    b.set_defaults(run=batch_command)

    k = sub.add_parser("package", help="make the student package or the Gradescope zip")
    k.add_argument("kind", choices=["student", "gradescope"])
    k.add_argument("--out", type=Path, default=None)
    k.add_argument("--lab", default=None, help="gradescope: the one lab the assignment grades "
                   "(students may upload its files alone)")
    k.add_argument("--hidden", type=Path, action="append", default=[],
                   help="a folder of hidden test modules for the Gradescope zip")
    k.set_defaults(run=package_command)

    r = sub.add_parser("room")  # internal: the grader's part inside the sandbox (room.py)
    r.add_argument("request")
    r.set_defaults(run=lambda a: room.room_main(a.request))
    return parser


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
