"""The student's loop: `./socklab check LAB` and `./socklab watch [LAB]`.

    check LAB [OPTIONS]   rebuild the lab, then run its checks in pytest (every failure in full)
    watch [LAB] [OPTIONS] rebuild and re-check on every save of a .c or .h file of labs/LAB
                          (of any lab without LAB), up to the first failing check, and show
                          it compactly

Both build before they test, so no command can test a stale binary: a lab that does not
compile is reported as such, and its old programs are never run.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness import programs, registry
from harness.checks import printable, printable_text
from harness.results import Outcome
from harness.shortio import ShortIO

from .grade import read_grading

ROOT = programs.ROOT
PYTHON = sys.executable

# The options passed through to the checks: the harness's own and a few of pytest's.
WITH_VALUE = {"--impl", "--short-io", "-k", "--limit-fsize", "--maxfail"}
FLAGS = {"--valgrind", "--limits", "-x", "--exitfirst", "-v", "-vv", "-q", "--lf"}
OPTIONS_HELP = "--impl WHAT, --short-io SPEC, --valgrind, --limits, -k NAME, -x, -v, --html"


class BadArguments(Exception):
    """Said in one line; the command exits with status 2."""


@dataclass
class Request:
    command: str  # check or watch
    lab: Optional[str]  # None: watch every lab
    impl: str = "labs"
    passed_on: list[str] = field(default_factory=list)  # options for the checks
    html: bool = False  # check: also write report.html (render/html.py)


def known_labs() -> list[str]:
    return registry.names()


def resolve_lab(command: str, arg: str) -> str:
    """The lab an argument names: 03-tcp-echo, labs/03-tcp-echo/, or just 03."""
    try:
        return registry.find(arg)
    except registry.UnknownLab as e:
        raise BadArguments(f"socklab {command}: {e}") from None


def parse(command: str, argv: list[str]) -> Request:
    lab_required = command == "check"
    request = Request(command, None)
    args = list(argv)
    while args:  # the lab and the options in any order
        arg = args.pop(0)
        option, eq, value = arg.partition("=")
        if option in WITH_VALUE:
            if not eq:
                if not args:
                    raise BadArguments(f"socklab {command}: {option} needs a value")
                value = args.pop(0)
            check_value(command, option, value)
            if option == "--impl":
                request.impl = value
            request.passed_on += [option, value]
        elif arg in FLAGS:
            request.passed_on.append(arg)
        elif arg == "--html" and command == "check":
            request.html = True
        elif not arg.startswith("-") and request.lab is None:
            request.lab = resolve_lab(command, arg)
        elif not arg.startswith("-"):
            raise BadArguments(f"socklab {command}: one lab at a time ({arg!r} came after "
                               f"{request.lab})")
        else:
            raise BadArguments(f"socklab {command}: unknown option {arg}; the options are "
                               f"{OPTIONS_HELP}")
    if lab_required and request.lab is None:
        raise BadArguments(f"socklab check: which lab? e.g. ./socklab check {known_labs()[0]} "
                           f"[{OPTIONS_HELP}]")
    if command == "watch" and request.impl != "labs":
        raise BadArguments("socklab watch: it watches your work in labs/; --impl is for check")
    if request.lab and programs.is_tree(request.impl):
        use_tree(request)
    return request


def use_tree(request: Request) -> None:
    """A tree is checked as grade takes it: a student's folder with labs/ inside, or the lab
    folders themselves. A tree without the lab is refused: the checks would build labs/'s
    skeleton in its place and report its TODO steps as the tree's."""
    tree = Path(request.impl)
    if (tree / "labs").is_dir():
        tree = tree / "labs"
    if not (tree / request.lab).is_dir():
        raise BadArguments(f"socklab {request.command}: --impl {request.impl}: no folder "
                           f"{request.lab} in it (nor in its labs/)")
    at = request.passed_on.index("--impl")
    request.impl = request.passed_on[at + 1] = str(tree)


def check_value(command: str, option: str, value: str) -> None:
    if option == "--short-io":
        try:
            ShortIO.parse(value)
        except Exception as e:  # argparse's type error, or a ValueError
            raise BadArguments(f"socklab {command}: {e}")
    elif option == "--impl":
        if value in ("labs", "solutions") or value.startswith(("mutant/", "variant/")):
            return
        if not Path(value).is_dir():
            raise BadArguments(f"socklab {command}: --impl {value}: not labs, solutions, or "
                               "a folder of lab folders")
    elif option == "--maxfail" and not value.isdigit():
        raise BadArguments(f"socklab {command}: --maxfail {value}: not a number")


# -- building ------------------------------------------------------------------------------

def configure(build_dir: Path) -> None:
    """Installs what is missing, and configures the build once (cmake --build reconfigures
    by itself when a CMakeLists.txt changes)."""
    subprocess.run([str(ROOT / "scripts" / "setup")], check=True)
    if (build_dir / programs.MANIFEST).exists():
        return
    done = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir)],
                          capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(1)


def build(build_dir: Path, impl: str, lab: str) -> tuple[bool, str]:
    """Builds one lab of impl (a tree in a build of its own, the one its checks use). On
    failure, the lab's old programs are deleted: nothing can test them."""
    if programs.is_tree(impl):
        try:
            return True, programs.build_tree_lab(Path(impl), build_dir, lab)[1]
        except programs.BuildError as e:
            return False, str(e)
    try:
        target = programs.find(build_dir, impl, lab)
    except programs.BuildError as e:
        return False, str(e)
    try:
        output = programs.build_target(build_dir, target.target)
    except programs.BuildError as e:
        for path in target.programs.values():
            path.unlink(missing_ok=True)
        return False, str(e)
    # A report of an older build that failed is stale now (./socklab grade writes them).
    (build_dir / "grade" / impl / f"{lab}.build-error.txt").unlink(missing_ok=True)
    return True, output


def compiler_errors(output: str, limit: int = 12) -> list[str]:
    """The compiler's own lines from a build's output, without make's and cmake's."""
    lines = [line for line in output.splitlines()
             if line.strip() and not line.startswith(("[", "gmake", "make", "cmake", "Consolidate"))
             and "Building C object" not in line and "Error " not in line]
    return [printable(line) for line in lines[:limit]]


def pytest_command(request: Request, lab: str, build_dir: Path, extra: list[str] = ()) -> list[str]:
    module = ROOT / "tests" / f"test_{lab.replace('-', '_')}.py"
    passed_on = request.passed_on if "--impl" in request.passed_on else \
        ["--impl", request.impl, *request.passed_on]
    return [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
            str(module), "--build-dir", str(build_dir), *passed_on, *extra]


# -- check ---------------------------------------------------------------------------------

def check_main(request: Request, build_dir: Path) -> int:
    lab = request.lab
    configure(build_dir)
    print(f"socklab: building {lab} ({request.impl}) ...", file=sys.stderr, flush=True)
    ok, output = build(build_dir, request.impl, lab)
    if not ok:
        print(f"socklab: {lab} does not compile, so nothing was tested; the compiler said:",
              file=sys.stderr)
        print(printable_text(output.rstrip()), file=sys.stderr)
        return 1
    os.chdir(ROOT)
    if request.html:
        return check_with_html(request, lab, build_dir)
    cmd = pytest_command(request, lab, build_dir)
    os.execv(cmd[0], cmd)  # pytest's own exit status, and its Ctrl-C


def check_with_html(request: Request, lab: str, build_dir: Path) -> int:
    """check, then report.html of that run: each failure's story and its diagram."""
    from .render import html
    out = build_dir / "check" / lab
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    results.unlink(missing_ok=True)
    code = subprocess.call(pytest_command(request, lab, build_dir, ["--results", str(results)]))
    if results.exists():
        grading = read_grading(results)
        grading.title = f"socklab check {lab} ({request.impl})"
        path = html.write(grading, out)
        print(f"\nthe HTML report, with a diagram of each failed check: {programs.shown(path)}")
    return code


# -- watch ---------------------------------------------------------------------------------

def sources(labs: list[str]) -> dict[Path, float]:
    """Every .c and .h file of the labs, with its modification time."""
    found = {}
    for lab in labs:
        for path in (ROOT / "labs" / lab).glob("*.[ch]"):
            try:
                found[path] = path.stat().st_mtime_ns
            except OSError:
                pass
    return found


class Saves:
    """The saves of .c and .h files in the watched folders, one batch at a time: from
    inotifywait where it is installed, else by looking at the files' times twice a second."""

    POLL = 0.5

    def __init__(self, labs: list[str]):
        self.labs = labs
        self.inotify: Optional[subprocess.Popen] = None
        self.how = "polling twice a second (install inotify-tools to see saves at once)"
        tool = shutil.which("inotifywait")
        if tool:
            folders = [str(ROOT / "labs" / lab) for lab in labs]
            self.inotify = subprocess.Popen(
                [tool, "-q", "-m", "-e", "close_write,moved_to,create", "--format", "%w%f",
                 *folders], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                start_new_session=True)  # Ctrl-C is ours to handle: we end it
            self.how = "inotifywait"
        self.seen = sources(labs)

    def next(self) -> list[Path]:
        """Blocks until a .c or .h file is saved; the files saved together (an editor may
        write several, or write one in steps)."""
        while True:
            changed = self._inotify() if self.inotify else self._poll()
            changed = [p for p in changed if p.suffix in (".c", ".h")]
            if changed:
                return sorted(set(changed))

    def _inotify(self) -> list[Path]:
        line = self.inotify.stdout.readline()
        if not line:
            raise RuntimeError("inotifywait stopped")
        changed = [Path(line.strip())]
        # the rest of this save: whatever comes within a tenth of a second
        import select
        while select.select([self.inotify.stdout], [], [], 0.1)[0]:
            more = self.inotify.stdout.readline()
            if not more:
                break
            changed.append(Path(more.strip()))
        return changed

    def _poll(self) -> list[Path]:
        time.sleep(self.POLL)
        now = sources(self.labs)
        changed = [p for p, t in now.items() if self.seen.get(p) != t]
        self.seen = now
        return changed

    def close(self) -> None:
        if self.inotify and self.inotify.poll() is None:
            self.inotify.terminate()
            self.inotify.wait(5)


def lab_of(path: Path) -> Optional[str]:
    try:
        return path.relative_to(ROOT / "labs").parts[0]
    except (ValueError, IndexError):
        return None


TODO_LINE = re.compile(r"^TODO: your (\w+) stopped at (TODO step (\d+):.*)$", re.MULTILINE)


def summary(lab: str, results: Path, output: str) -> list[str]:
    """A few lines: how many checks pass before the first failure (the checks stop there),
    that failure's step and first lines, and the TODO step the programs reached."""
    try:
        tests = [c for r in read_grading(results).labs for c in r.checks]
    except (OSError, ValueError, KeyError):
        tests = []
    if not tests:  # never "all 0 checks pass"
        tail = printable_text(output.strip()).splitlines()[-8:]
        return [f"{lab}: the checks could not run:", *[f"  {line}" for line in tail]]
    passed = sum(t.outcome is Outcome.PASSED for t in tests)
    failed = [t for t in tests if t.outcome is Outcome.FAILED]
    if not failed:
        return [f"{lab}: all {len(tests)} checks pass"]
    first = failed[0]
    lines = [f"{lab}: {passed} check{'' if passed == 1 else 's'} pass, then {first.name} "
             "fails:"]
    head = [line for line in first.message.split("\n\n")[0].splitlines()
            if not line.startswith("TODO:")]
    lines += [f"  {printable(line)}" for line in head[:5]]
    todos = {int(m.group(3)): f"your {m.group(1)} stopped at {m.group(2)}"
             for t in failed for m in TODO_LINE.finditer(t.message)}
    if todos:
        lines.append(f"  reached: {printable(todos[min(todos)])}")
    return lines


class Watch:
    def __init__(self, request: Request, build_dir: Path):
        self.request = request
        self.build_dir = build_dir
        self.labs = [request.lab] if request.lab else known_labs()
        self.child: Optional[subprocess.Popen] = None
        self.saves: Optional[Saves] = None

    def run(self) -> int:
        configure(self.build_dir)
        self.saves = Saves(self.labs)
        where = f"labs/{self.request.lab}" if self.request.lab else "labs/"
        say(f"socklab watch: {where}, {self.saves.how}; Ctrl-C to stop")
        if self.request.lab:
            self.round(self.request.lab, [])
        while True:
            changed = self.saves.next()
            for lab in dict.fromkeys(filter(None, map(lab_of, changed))):
                self.round(lab, [p for p in changed if lab_of(p) == lab])

    def round(self, lab: str, changed: list[Path]) -> None:
        started = time.monotonic()
        names = ", ".join(p.name for p in changed)
        say("")
        say(f"[{time.strftime('%H:%M:%S')}] {'saved ' + names + ': ' if names else ''}"
            f"building {lab} ...")
        ok, output = build(self.build_dir, "labs", lab)
        if not ok:
            say(f"{lab}: does not compile; the compiler said:")
            for line in compiler_errors(output.replace(f"{ROOT}/", ""), limit=8):
                say(f"  {line}")
        else:
            self.check(lab)
        say(f"  ({time.monotonic() - started:.1f} s; watching for the next save)")

    def check(self, lab: str) -> None:
        with tempfile.TemporaryDirectory(prefix="socklab-watch-") as tmp:
            results = Path(tmp) / "results.json"
            # -x: the checks stop at the first failure, which is what a round shows; the
            # rest would only make the student wait (./socklab check runs them all).
            cmd = pytest_command(self.request, lab, self.build_dir,
                                 ["-x", "--results", str(results), "--basetemp", f"{tmp}/checks"])
            self.child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True,
                                          errors="replace", start_new_session=True)
            output, _ = self.child.communicate()
            self.child = None
            for line in summary(lab, results, output):
                say(line)

    def close(self) -> None:
        if self.child and self.child.poll() is None:
            # its own session: the terminal's Ctrl-C did not reach it; it ends its programs
            os.killpg(self.child.pid, signal.SIGTERM)
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait()
        if self.saves:
            self.saves.close()


def say(line: str) -> None:
    print(line, flush=True)


def watch_main(request: Request, build_dir: Path) -> int:
    watch = Watch(request, build_dir)
    try:
        return watch.run()
    except KeyboardInterrupt:
        say("\nsocklab watch: stopped")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        watch.close()


def main(command: str, argv: list[str], build_dir: Path) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.split("\n\n")[1])
        return 0
    try:
        request = parse(command, argv)
    except BadArguments as e:
        print(e, file=sys.stderr)
        return 2
    if command == "check":
        return check_main(request, build_dir)
    return watch_main(request, build_dir)
