"""The grader's command line (./socklab grade|batch|package|check|watch call it; `python3 -m
harness ...` is the same command, kept for instructors' scripts and the Gradescope zip).

  python3 -m harness grade [--impl labs|solutions|PATH] [LAB ...]   build, test, scoreboard
  python3 -m harness gradescope SUBMISSION RESULTS_JSON             Gradescope's run_autograder
  python3 -m harness batch FOLDER --out DIR                         one submission per student
  python3 -m harness package student|gradescope [--hidden DIR]      hand-out packages
  python3 -m harness check|watch [--build-dir DIR] LAB [OPTIONS]     the student's loop (loop.py)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

from harness import limits, programs, registry, sandbox

from . import batch, grade, loop, package, reports, room


def add_grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--build-dir", type=Path, default=programs.default_build_dir())
    p.add_argument("--tests-dir", type=Path, action="append", default=[],
                   help="a folder of extra test modules (test_NN_name_*.py), e.g. hidden tests")
    p.add_argument("--limit-fsize", default=None, help="largest file a program may write (256M)")
    p.add_argument("--limit-memory", type=limits.parse_size, default=None,
                   help="a submission's memory, all its processes together (2G)")
    p.add_argument("--limit-disk", type=limits.parse_size, default=None,
                   help="a submission's disk: its build and every check's files (1G)")


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
    tests_dirs = [programs.ROOT / "tests", *[d.resolve() for d in args.tests_dir]]

    def save(results):  # after every lab: a stopped grading keeps what it finished
        reports.write_all(results, out, title, impl, time.monotonic() - started,
                          html=args.html)

    results = grade.grade(build_dir, impl, args.labs or None, out, extra, tests_dirs,
                          progress=lambda lab: print(f"grading {lab} ...", file=sys.stderr),
                          done=save)
    save(results)
    print(grade.scoreboard(results, title))
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
    if (tree / "labs").is_dir():  # a whole labs/ folder handed in (docs/instructors.md, 2.)
        tree = tree / "labs"
    build_dir = args.build_dir.resolve()
    try:
        programs.read_manifest(build_dir)
    except programs.BuildError as e:
        print(f"socklab: {e}", file=sys.stderr)
        return 2
    out = (args.out or build_dir / "grade" / "submission").resolve()
    caps = sandbox.Caps(**{k: v for k, v in (("memory", args.limit_memory),
                                             ("disk", args.limit_disk)) if v})
    request = room.Request(tree=str(tree), out=str(out), course_build=str(build_dir),
                           labs=args.labs,
                           tests_dirs=[str(d.resolve()) for d in
                                       [programs.ROOT / "tests", *args.tests_dir]],
                           valgrind=args.valgrind, limit_fsize=args.limit_fsize,
                           caps=dataclasses.asdict(caps))
    return room.grade_tree(request)


PLATFORMS = {  # the report each platform reads, and what it says when grading itself failed
    "gradescope": ("results.json", {"score": 0, "output": "The autograder failed before it "
                                    "could grade; please tell your instructor.", "tests": []}),
    "prairielearn": ("prairielearn.json", {"gradable": False, "score": 0, "message": "The "
                                           "autograder failed before it could grade; please "
                                           "tell your instructor.", "tests": []}),
}


def platform_command(args) -> int:
    """Grades a submission for a platform (lab folders, or a labs/ folder, at its top): the
    labs it holds, or every lab if it holds none. The results file the platform reads is
    written here, from the grader's own reports, always."""
    submission = args.submission / "labs" if (args.submission / "labs").is_dir() else args.submission
    try:
        known = {b.lab for b in programs.read_manifest(args.build_dir.resolve())}
    except programs.BuildError:
        known = set()
    held = sorted(p.name for p in submission.glob("*") if p.is_dir() and p.name in known)
    args.impl, args.labs, args.valgrind = str(submission), held, False
    private = sandbox.private_dir("socklab-gradescope-")
    args.out = private / "reports"
    try:
        code = grade_command(args)
        report, failed = PLATFORMS[args.command]
        produced = args.out / report
        text = (produced.read_text() if produced.is_file() and not produced.is_symlink() else
                json.dumps(failed))
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.unlink(missing_ok=True)  # whatever was there, it is not ours
        reports.write_atomic(args.results, text)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return code


def batch_command(args) -> int:
    options = batch.BatchOptions(jobs=args.jobs, submission_timeout=args.timeout,
                                 labs=tuple(args.labs), limit_fsize=args.limit_fsize,
                                 tests_dirs=tuple(d.resolve() for d in args.tests_dir),
                                 build_dir=args.build_dir.resolve(),
                                 grade_options=tuple(
                                     f"--{name}={value}" for name, value in
                                     (("limit-memory", args.limit_memory),
                                      ("limit-disk", args.limit_disk)) if value))
    rows = batch.batch(args.folder.resolve(), args.out.resolve(), options,
                       progress=lambda row: print(f"{row['student']}: {row['total']:g} "
                                                  f"{row['note']}".rstrip(), file=sys.stderr))
    print(f"{len(rows)} submissions graded: {args.out / 'grades.csv'}")
    return 0


def package_command(args) -> int:
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
                                              [d.resolve() for d in args.hidden])
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
    k.add_argument("--hidden", type=Path, action="append", default=[],
                   help="a folder of hidden test modules for the Gradescope zip")
    k.set_defaults(run=package_command)

    r = sub.add_parser("room")  # internal: the grader's part inside the sandbox (room.py)
    r.add_argument("request")
    r.set_defaults(run=lambda a: room.room_main(a.request))
    return parser


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
