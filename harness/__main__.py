"""The grader's command line (./socklab grade|batch|package call it).

  python3 -m harness grade [--impl labs|solutions|PATH] [LAB ...]   build, test, scoreboard
  python3 -m harness gradescope SUBMISSION RESULTS_JSON             Gradescope's run_autograder
  python3 -m harness batch FOLDER --out DIR                         one submission per student
  python3 -m harness package student|gradescope [--hidden DIR]      hand-out packages
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import batch, grade, package, programs, reports


def add_grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--build-dir", type=Path, default=programs.default_build_dir())
    p.add_argument("--tests-dir", type=Path, action="append", default=[],
                   help="a folder of extra test modules (test_NN_name_*.py), e.g. hidden tests")
    p.add_argument("--limit-fsize", default=None, help="with --limits: largest file (256M)")


def grade_command(args) -> int:
    started = time.monotonic()
    build_dir, impl = args.build_dir.resolve(), args.impl
    if programs.is_tree(impl):
        tree = Path(impl).resolve()
        build_dir = programs.submission_build_dir(tree, build_dir)
        try:
            programs.configure_submission(tree, build_dir)
        except programs.BuildError as e:
            print(f"socklab: cannot configure a build of {tree}:\n{e}", file=sys.stderr)
            return 1
        impl, title = "submission", f"socklab: {tree}"
    else:
        title = f"socklab: {impl}/"
    out = (args.out or build_dir / "grade" / impl).resolve()
    extra = [flag for flag, on in (("--valgrind", args.valgrind), ("--limits", args.limits)) if on]
    if args.limit_fsize:
        extra.append(f"--limit-fsize={args.limit_fsize}")
    tests_dirs = [programs.ROOT / "tests", *[d.resolve() for d in args.tests_dir]]

    def save(results):  # after every lab: a stopped grading keeps what it finished
        reports.write_all(results, out, title, impl, time.monotonic() - started)

    labs = [lab.rstrip("/").split("/")[-1] for lab in args.labs]
    results = grade.grade(build_dir, impl, labs or None, out, extra, tests_dirs,
                          progress=lambda lab: print(f"grading {lab} ...", file=sys.stderr),
                          done=save)
    save(results)
    print(grade.scoreboard(results, title))
    print(f"\nreports (results.json, junit.xml, feedback.txt): {out}")
    everything = all(r.built and not r.error and r.passed == len(r.checks) for r in results)
    return 0 if results and everything else 1


def gradescope_command(args) -> int:
    """Grades a Gradescope submission (lab folders, or a labs/ folder, at its top)."""
    submission = args.submission / "labs" if (args.submission / "labs").is_dir() else args.submission
    args.impl, args.labs, args.valgrind, args.limits = str(submission), [], False, True
    args.out = args.results.parent / "socklab"
    code = grade_command(args)
    produced = args.out / "results.json"
    args.results.write_text(produced.read_text() if produced.exists() else
                            '{"score": 0, "output": "grading failed", "tests": []}')
    return code


def batch_command(args) -> int:
    options = batch.BatchOptions(jobs=args.jobs, submission_timeout=args.timeout,
                                 labs=tuple(args.labs), limit_fsize=args.limit_fsize,
                                 tests_dirs=tuple(d.resolve() for d in args.tests_dir))
    rows = batch.batch(args.folder.resolve(), args.out.resolve(), options,
                       progress=lambda row: print(f"{row['student']}: {row['total']:g} "
                                                  f"{row['note']}".rstrip(), file=sys.stderr))
    print(f"{len(rows)} submissions graded: {args.out / 'grades.csv'}")
    return 0


def package_command(args) -> int:
    if args.kind == "student":
        path = package.student_package(args.out or Path("dist/socklab-student.tar.gz"))
    else:
        path = package.gradescope_package(args.out or Path("dist/socklab-autograder.zip"),
                                          [d.resolve() for d in args.hidden])
    print(path)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="socklab", description="socklab's grader")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="build, test and score the labs of one implementation")
    g.add_argument("labs", nargs="*", metavar="LAB", help="e.g. 01-tcp-basic (default: all)")
    g.add_argument("--impl", default="labs", help="labs (default), solutions, or a tree")
    g.add_argument("--out", type=Path, default=None, help="where the reports go")
    g.add_argument("--valgrind", action="store_true", help="run every program under memcheck")
    g.add_argument("--limits", action="store_true", help="rlimits on every program")
    add_grading_options(g)
    g.set_defaults(run=grade_command)

    s = sub.add_parser("gradescope", help="grade /autograder/submission for Gradescope")
    s.add_argument("submission", type=Path)
    s.add_argument("results", type=Path, help="where results.json goes")
    add_grading_options(s)
    s.set_defaults(run=gradescope_command)

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

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
