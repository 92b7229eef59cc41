"""What every journey needs: a fresh clone, commands run with a deadline, and a clean exit.

A journey is a user's path through the course from `git clone`, with nothing built, running
the commands the README and docs/instructors.md give (read out of those files where
practical, so that the docs and the journey cannot drift apart). When a command goes wrong,
the failure names it: its text, its exit status and the last lines it printed; every
command's whole output is kept in the journey's log folder (BUILD/journeys/NAME/).

    SOCKLAB_JOURNEY_SOURCE  the repository to clone (default: this course's)
    SOCKLAB_JOURNEY_REF     the commit to check out after cloning (default: its HEAD)
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence, Union

from harness.programs import PYTHON, ROOT

Command = Union[str, Sequence[str]]
TAIL = 15  # lines of a failed command's output shown in the failure


class CommandFailed(AssertionError):
    """A command of the journey exited as it should not have, or ran out of time."""


class Output(str):
    """What a command printed, knowing the command (so a check of it can name it)."""
    command: str
    log: Path


class Journey:
    """One journey's clone, commands and processes; close() ends all of them."""

    def __init__(self, name: str, logs: Path):
        self.name = name
        self.logs = logs
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        # Every file of the journey, the clone included, is under tmp: a process whose
        # working folder or command line names it is one of ours (see leftovers()).
        self.tmp = Path(tempfile.mkdtemp(prefix=f"socklab-journey-{name}-"))
        self.count = 0
        self.groups: list[int] = []

    # -- the clone ---------------------------------------------------------------------------

    def clone(self, where: str = "socklab") -> Path:
        """A clone of the course's HEAD (or SOCKLAB_JOURNEY_REF) with nothing built."""
        source = os.environ.get("SOCKLAB_JOURNEY_SOURCE") or str(ROOT)
        dest = self.tmp / where
        self.run(["git", "clone", "-q", source, str(dest)], cwd=self.tmp, timeout=120)
        ref = os.environ.get("SOCKLAB_JOURNEY_REF")
        if ref:
            self.run(["git", "checkout", "-q", ref], cwd=dest, timeout=60)
        return dest

    def path(self, *parts: str) -> Path:
        """A fresh folder of the journey's own, outside the clone."""
        folder = self.tmp.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- commands ----------------------------------------------------------------------------

    def run(self, cmd: Command, cwd: Path, timeout: float, expect: Sequence[int] = (0,),
            env: Optional[dict] = None, input: Optional[str] = None,
            within: Sequence[str] = (), place: str = "") -> Output:
        """Runs cmd (a string: with bash, as a user types it; a list: exec'd, no shell) in a
        process group of its own, waits at most timeout seconds, and returns what it printed
        (stdout and stderr together, in order). An exit status not in expect, or the
        deadline, raises CommandFailed naming the command. within: a command line that runs
        cmd somewhere else (host_root's bwrap), said as place; the failure names cmd."""
        argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        argv = [*within, *argv]
        text = cmd if isinstance(cmd, str) else shlex.join(cmd)
        where = place or str(cwd)
        self.count += 1
        log = self.logs / f"{self.count:02d}-{slug(text)}.log"
        started = time.monotonic()
        with open(log, "w+", errors="replace") as out:
            out.write(f"$ {text}\n(in {where})\n")
            out.flush()
            proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.PIPE if input is not None else
                                    subprocess.DEVNULL, text=True,
                                    env={**user_env(), **(env or {})},
                                    start_new_session=True)  # its group is ours to kill
            self.groups.append(proc.pid)
            try:
                proc.communicate(input, timeout=timeout)
                status = proc.returncode
            except subprocess.TimeoutExpired:
                status = None
            finally:
                kill_group(proc.pid)  # whatever it left in its group dies with it
                proc.wait()
            out.seek(0)
            output = out.read().split("\n", 2)[2]
            out.write(f"\n(exit status {status}, {time.monotonic() - started:.1f} s)\n")
        if status is None or status not in expect:
            what = (f"ran out of its {timeout:g} s" if status is None else
                    f"exited with status {status} (expected {' or '.join(map(str, expect))})")
            raise CommandFailed(f"the journey's command `{text}` {what}\n  in {where}\n"
                                f"  last lines (all of it: {log}):\n" + indent(tail(output)))
        result = Output(output)
        result.command, result.log = text, log
        return result

    def expect(self, condition: bool, what: str, output: Output) -> None:
        """An assertion about what a command printed; failing, it names the command and
        shows the last lines of its output."""
        if not condition:
            raise AssertionError(f"after the journey's command `{output.command}`: {what}\n"
                                 f"  last lines (all of it: {output.log}):\n"
                                 + indent(tail(output)))

    # -- the end -----------------------------------------------------------------------------

    def leftovers(self) -> list[str]:
        """Processes still running that belong to the journey: their working folder, program
        or command line is in its folder."""
        found = []
        marker = str(self.tmp)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                seen = " ".join([os.readlink(entry / "cwd"), os.readlink(entry / "exe"),
                                 (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                                     errors="replace")])
            except OSError:
                continue
            if marker in seen:
                found.append(f"{entry.name}: {seen}")
        return found

    def close(self) -> list[str]:
        """Kills every group the journey started and anything left of it, removes its
        folder, and returns what was still running (a journey asserts it is nothing)."""
        for pgid in self.groups:
            kill_group(pgid)
        left = self.leftovers()
        for line in left:
            try:
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        return left


# -- helpers ------------------------------------------------------------------------------------

def user_env() -> dict[str, str]:
    """The environment of a user at a terminal: ours, without what CTest and pytest set for
    the suite (SOCKLAB_BUILD_DIR would send the clone's commands to the suite's own build)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("SOCKLAB_", "PYTEST_", "CTEST_")) and k != "PYTHONPATH"}


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def tail(output: str, lines: int = TAIL) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:]) or "(nothing)"


def indent(text: str) -> str:
    return "\n".join(f"    | {line}" for line in text.splitlines())


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text.replace(str(ROOT), ""))[:60].strip("_")


# -- the docs the commands come from ------------------------------------------------------------

def code_blocks(text: str) -> list[str]:
    """The fenced blocks of Markdown text, each with backslash-continued lines joined."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    return [re.sub(r"\\\n\s*", "", block) for block in blocks]


def section(doc: Path, heading: str) -> str:
    """The text of doc's section whose heading starts with heading, up to the next heading
    of the same level or above."""
    text = doc.read_text()
    start = text.find(f"\n{heading}")
    assert start >= 0, f"{doc.name} has no section {heading!r}"
    level = len(heading.split(" ")[0])
    body = text.index("\n", start + 1)  # after the heading's own line
    end = re.search(rf"^#{{1,{level}}} ", text[body:], re.MULTILINE)
    return text[start:body + end.start()] if end else text[start:]


def doc_command(doc: Path, pattern: str, heading: Optional[str] = None) -> str:
    """The first command of doc's code blocks (of its section heading, if given) that
    matches pattern, as the doc writes it, without a trailing comment. The docs are the
    journey's script: a command they no longer give fails here, saying so."""
    text = section(doc, heading) if heading else doc.read_text()
    lines = [re.sub(r"\s+#.*$", "", line).strip().removeprefix("$ ")
             for block in code_blocks(text) for line in block.splitlines()]
    found = [line for line in lines if re.search(pattern, line)]
    assert found, (f"{doc.name}{' (' + heading + ')' if heading else ''} gives no command "
                   f"matching {pattern!r}: the journey follows the docs, so they must say it")
    return found[0]


def doc_inline(doc: Path, pattern: str) -> str:
    """The first inline command of doc's prose (`./socklab check 01-tcp-basic`) that matches
    pattern, as the doc writes it."""
    text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.MULTILINE | re.DOTALL)
    found = [span for span in re.findall(r"`([^`\n]+)`", re.sub(r"\n(?!\n)", " ", text))
             if re.search(pattern, span)]
    assert found, (f"{doc.name} gives no command matching {pattern!r}: the journey follows "
                   "the docs, so they must say it")
    return found[0]


def caught_by(clone: Path, lab: str, mutant: str) -> list[str]:
    """The checks a mutant's patch says catch it (its `Caught by:` line)."""
    text = (clone / "tests" / "mutants" / lab / f"{mutant}.patch").read_text()
    return re.search(r"^Caught by: (.*)$", text, re.MULTILINE).group(1).replace(",", " ").split()


def usage_line(help_text: str, command: str) -> str:
    """The usage of `./socklab COMMAND` as `./socklab --help` shows it."""
    for line in help_text.splitlines():
        if line.strip().startswith(f"./socklab {command} "):
            return line.strip()
    raise AssertionError(f"./socklab --help shows no usage of {command}")


def fill_usage(usage: str, values: dict[str, str]) -> str:
    """A command in the order a usage line shows: its placeholders (FOLDER, [--jobs N],
    [LAB...]) filled from values; an optional part without a value is left out."""
    def optional(m):
        inner = m.group(1)
        names = re.findall(r"[A-Z][A-Z_]*(?:\.\.\.)?", inner)
        return fill(inner) if names and all(n in values for n in names) else ""

    def fill(part):
        return re.sub(r"[A-Z][A-Z_]*(?:\.\.\.)?", lambda n: values.get(n.group(0), n.group(0)),
                      part)

    filled = fill(re.sub(r"\[([^\[\]]*)\]", optional, usage))
    return re.sub(r"\s+", " ", filled).strip()


def host_root(mounts: list[tuple[str, Path]], chdir: str = "/") -> list[str]:
    """A bwrap command line for a root that is this machine's own, with folders of ours
    mounted at the given paths, in that order (a later mount hides what an earlier one put
    below it, as a platform's fresh /grade hides an image's). The root is bwrap's tmpfs with
    each top-level entry of / bound into it, so a mount point such as /autograder is made
    there, never on this machine's /. Root keeps its capabilities (the grader inside makes
    sandboxes of its own) and everything dies with the journey's process."""
    args = ["bwrap", "--die-with-parent", "--cap-add", "ALL"]
    for entry in sorted(Path("/").iterdir()):
        # an entry that holds a mount point is left out, else bwrap would make the mount
        # point inside this machine's own folder (a /grade made by someone else, say)
        if entry.name in ("dev", "proc") or any(
                m == str(entry) or m.startswith(f"{entry}/") for m, _ in mounts):
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry), str(entry)]
        elif entry.is_dir():
            args += ["--bind", str(entry), str(entry)]
    args += ["--dev-bind", "/dev", "/dev", "--bind", "/proc", "/proc"]
    for where, folder in mounts:
        args += ["--bind", str(folder), where]
    return [*args, "--chdir", chdir, "--"]


def scoreboard_row(output: str, lab: str) -> Optional[tuple[float, float]]:
    """(points, of) of a lab's row of the scoreboard (`01-tcp-basic  20/20  20/20  100%`;
    points by lesson are hundredths: `02-recv-buffer  25/42  30.15/42  72%`)."""
    m = re.search(rf"^{re.escape(lab)}\s+\d+/\d+\s+(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)", output,
                  re.MULTILINE)
    return (float(m.group(1)), float(m.group(2))) if m else None


def full_marks(score: Optional[tuple]) -> bool:
    return bool(score) and score[0] == score[1] > 0


def lost_points(score: Optional[tuple]) -> bool:
    return bool(score) and score[0] < score[1]


def apply_mutant(clone: Path, lab_folder: Path, lab: str, mutant: str) -> None:
    """One classic mistake in a copy of a lab's solution: the clone's mutant patch applied."""
    patch = clone / "tests" / "mutants" / lab / f"{mutant}.patch"
    subprocess.run(["patch", "-s", "-p1", "-d", str(lab_folder), "-i", str(patch)],
                   check=True, timeout=30)


__all__ = ["Journey", "host_root", "doc_inline", "caught_by", "CommandFailed", "PYTHON", "doc_command", "usage_line", "fill_usage",
           "scoreboard_row", "full_marks", "lost_points", "apply_mutant", "code_blocks", "section"]
