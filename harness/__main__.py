"""python3 -m harness grade [--impl labs|solutions|PATH] [--build-dir DIR] [LAB ...]

Builds each lab of the implementation, runs its tests and prints a scoreboard. The full
results go to BUILD_DIR/grade/IMPL/summary.json (and one JSON per lab beside it).
Exit status: 0 when every check passed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import grade, programs


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="socklab grade", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="build, test and score the labs")
    g.add_argument("labs", nargs="*", metavar="LAB", help="e.g. 01-tcp-basic (default: all)")
    g.add_argument("--impl", default="labs", help="labs (default), solutions, or a tree")
    g.add_argument("--build-dir", type=Path, default=programs.default_build_dir())
    g.add_argument("--valgrind", action="store_true", help="run every program under memcheck")
    args = parser.parse_args(argv)

    build_dir, impl = args.build_dir.resolve(), args.impl
    if programs.is_tree(impl):
        tree = Path(impl).resolve()
        build_dir = programs.submission_build_dir(tree, build_dir)
        try:
            programs.configure_submission(tree, build_dir)
        except programs.BuildError as e:
            print(f"socklab: cannot configure a build of {tree}:\n{e}", file=sys.stderr)
            return 1
        impl, label = "submission", str(tree)
    else:
        label = f"{impl}/"
    labs = [lab.rstrip("/").split("/")[-1] for lab in args.labs]
    workdir = build_dir / "grade" / impl
    results = grade.grade(build_dir, impl, labs or None, workdir,
                          ["--valgrind"] if args.valgrind else [],
                          progress=lambda lab: print(f"grading {lab} ...", file=sys.stderr))
    print(grade.scoreboard(results, f"socklab: {label}"))
    grade.write_summary(results, workdir / "summary.json", impl)
    print(f"\nfull results: {workdir / 'summary.json'}")
    everything = all(r.built and not r.error and r.passed == len(r.checks) for r in results)
    return 0 if results and everything else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
