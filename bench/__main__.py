"""./socklab bench [--quick] [--parts buffers,framing,concurrency,grading] [--runs N] [--docs]

Runs the benchmarks side by side on loopback, prints progress, and writes results.json and
SVG plots to build/bench/ (or --out). --quick finishes in under a minute (docs, CI smoke
test); --docs copies the plots to docs/img/. The grading part (what grading every lab costs:
seconds, CPU, peak memory) runs only when --parts names it: it takes minutes.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

from harness import programs

from . import buffers, concurrency, framing, grading, plot
from .common import Context, progress

PARTS = {"buffers": buffers, "framing": framing, "concurrency": concurrency, "grading": grading}
DEFAULT_PARTS = "buffers,framing,concurrency"


class OneLineParser(argparse.ArgumentParser):
    """A bad argument gets one line, not the usage text as well (as the grader's commands)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} ({self.prog} --help says more)\n")


def bad_arguments(args) -> str | None:
    unknown = [name for name in args.parts.split(",") if name not in PARTS]
    if unknown:
        return f"--parts: no benchmark {', '.join(unknown)}; they are {','.join(PARTS)}"
    if args.runs is not None and args.runs < 1:
        return f"--runs {args.runs}: at least 1"
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        return f"--out {args.out}: not a folder"
    return None


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="socklab bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--parts", default=DEFAULT_PARTS,
                        help=f"which benchmarks, of {', '.join(PARTS)}")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (median)")
    parser.add_argument("--build-dir", type=Path, default=programs.default_build_dir())
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--docs", action="store_true", help="copy the plots to docs/img/")
    # ./socklab checks the arguments this way before it builds anything
    parser.add_argument("--check-arguments", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_intermixed_args(argv)
    problem = bad_arguments(args)
    if problem:
        print(f"socklab bench: {problem}", file=sys.stderr)
        return 2
    if args.check_arguments:
        return 0

    out = (args.out or args.build_dir / "bench").resolve()
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(args.build_dir.resolve(), out, args.quick, args.runs or (1 if args.quick else 3))
    # A run of some parts keeps the other parts' figures from the last run, each stamped.
    previous = out / "results.json"
    results = json.loads(previous.read_text()) if previous.exists() else {}
    results.update({"quick": args.quick, "runs": ctx.runs,
                    "machine": platform.uname()._asdict()})
    for name in args.parts.split(","):
        progress(f"{name} ...")
        started = time.perf_counter()
        results[name] = PARTS[name].run(ctx)
        results[name]["measured"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        results[name]["duration_s"] = round(time.perf_counter() - started, 1)
    previous.write_text(json.dumps(results, indent=1))

    plots = []
    if "buffers" in results:
        plots.append(plot.buffers(results["buffers"], out / "bench-buffers.svg"))
    if "framing" in results:
        plots.append(plot.framing(results["framing"], out / "bench-framing.svg"))
        plots.append(plot.echo(results["framing"], out / "bench-echo.svg"))
    if "concurrency" in results:
        plots += plot.concurrency(results["concurrency"], out / "bench-concurrency-rate.svg",
                                  out / "bench-concurrency-wait.svg")
    if args.docs:
        img = programs.ROOT / "docs" / "img"
        img.mkdir(exist_ok=True)
        for p in plots:
            shutil.copy(p, img / p.name)
    print(f"results: {out / 'results.json'}")
    for p in plots:
        print(f"plot: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
