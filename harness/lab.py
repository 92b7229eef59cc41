"""The `lab` fixture: everything a test does to the programs of one lab.

    def test_greeting(lab):
        with lab.start_server() as server:          # waits for "listening on HOST:PORT"
            result = lab.run("client", "-p", server.port, "-n", "Ada")
            result.expect_status(0)

Every program started here is recorded in the test's story (for the failure message), runs
under valgrind with --valgrind, and is gone when the test ends, pass or fail.
"""
from __future__ import annotations

import itertools
import os
import re
import shlex
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import trace, valgrind
from .limits import Limits
from .checks import CheckFailure, expect, show
from .peers import Address
from .process import Proc
from .programs import ROOT, LabBuild
from .sandbox import BASE_ENV, Walls, give_to
from .shortio import ShortIO
from .story import Story
from .timing import Deadline

LISTENING_RE = re.compile(r"^listening on (\[([^\]]+)\]|([^\s:]+)):(\d+)\s*$", re.MULTILINE)
DEFAULT_WAIT = 5.0
# The processor time a program may use before Lab.settle stops waiting for it to go back to
# waiting or to end (it spins): far more than a program needs to finish what it was doing.
SETTLE_CPU = 0.25
# For the bad-argument checks: one past the last port, so never a port to listen on.
PAST_THE_LAST_PORT = str(65535 + 1)


@dataclass(frozen=True)
class Settings:
    build_dir: Path
    impl: str
    valgrind: bool
    short_io: Optional[ShortIO] = None  # cut stream sends/recvs short (harness/shortio.py)
    limits: Optional[Limits] = None  # rlimits on every program (grading)
    build_error: Optional[str] = None  # the lab did not compile: every test says so
    walls: Walls = field(default_factory=Walls)  # the sandbox every program runs in (mode "none": no walls)

    @property
    def time_scale(self) -> float:
        return valgrind.TIME_SCALE if self.valgrind else 1.0


@dataclass
class Result:
    """A program that has finished."""

    proc: Proc
    returncode: int

    @property
    def stdout(self) -> str:
        return self.proc.stdout.text

    @property
    def stderr(self) -> str:
        return self.proc.stderr.text

    @property
    def stdout_bytes(self) -> bytes:
        return self.proc.stdout.data

    def expect_status(self, code: int, why: str = "") -> None:
        if self.returncode != code:
            raise CheckFailure(
                f"the {self.proc.name} should exit with status {code}" + (f" ({why})" if why else ""),
                expected=f"exit status {code}", actual=self.proc.status())

    def expect_stdout_line(self, pattern: str, what: str, hint: str | None = None) -> re.Match:
        """The first line of stdout matching pattern (a regex for the whole line)."""
        match = re.search(pattern, self.stdout, re.MULTILINE)
        if match is None:
            raise CheckFailure(f"the {self.proc.name} should print {what}",
                               expected=f"a line matching {pattern!r}",
                               actual=f"its stdout was {show(self.stdout)}", hint=hint)
        return match


class Server:
    """A running server, with the address it printed. As a context manager, it is stopped with
    SIGTERM at the end of the block (and judged by valgrind with --valgrind)."""

    def __init__(self, lab: "Lab", proc: Proc, address: Address):
        self.lab = lab
        self.proc = proc
        self.address = address
        self.host = address.host
        self.port = str(address.port)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.lab.finish_server(self)
        else:
            self.proc.kill()  # the test already failed; say nothing that would hide why


class Lab:
    def __init__(self, name: str, build: Optional[LabBuild], build_error: Optional[str],
                 settings: Settings, story: Story, workdir: Path):
        self.name = name
        self.build = build
        self.build_error = build_error
        self.settings = settings
        self.story = story
        self.workdir = workdir
        self._counter = itertools.count(1)

    # -- time ------------------------------------------------------------------------------
    def deadline(self, seconds: float = DEFAULT_WAIT) -> Deadline:
        """A deadline, stretched under valgrind, which slows programs down."""
        return Deadline(seconds * self.settings.time_scale)

    # -- programs --------------------------------------------------------------------------
    def program(self, program: str) -> Path:
        if self.settings.build_error is not None:
            raise CheckFailure(f"lab {self.name} does not compile, so nothing could be tested",
                               actual="the compiler said:\n" + first_errors(
                                   self.settings.build_error),
                               hint="fix the first error first: the others often follow from it "
                                    "(the compile's report has all it said)")
        if self.build_error is not None:
            raise CheckFailure(f"lab {self.name} did not build, so nothing could be tested",
                               actual=self.build_error[-4000:])
        path = self.build.programs.get(program) if self.build else None
        if path is None:
            raise CheckFailure(f"lab {self.name} has no program called {program!r}")
        if not path.exists():
            raise CheckFailure(f"{path} does not exist: lab {self.name} is not built",
                               hint=f"build it: ./socklab check {self.name}"
                                    " (the compiler's errors say what to fix)")
        return path

    def start(self, program: str, *args: str, name: str | None = None, env: dict | None = None,
              cwd: Path | None = None) -> Proc:
        """Starts a program and leaves it running; the test talks to it and ends it."""
        path = self.program(program)
        argv = [str(path), *map(str, args)]
        display = [_relative(path), *map(str, args)]
        if self.settings.valgrind:
            log = self.workdir / f"valgrind-{program}-{next(self._counter)}.log"
            argv = valgrind.command(log, argv)
        if self.settings.limits:
            argv = self.settings.limits.prefix(self.settings.valgrind) + argv
        # The documented environment, and nothing of the grader's (no check names).
        full_env = {**BASE_ENV, **self._preload_env(program), **(env or {})}
        cwd = cwd or self.workdir
        walls, info = self.settings.walls, None
        if walls.active:
            give_to(self.workdir, walls)
            if "SOCKLAB_TRACE" in full_env:
                give_to(Path(full_env["SOCKLAB_TRACE"]), walls)
            if walls.mode == "namespaces":
                info = os.pipe()
            argv = walls.wrap(argv, writable=[self.workdir], info_fd=info and info[1], chdir=cwd)
        proc = Proc(name or program, argv, display=display, env=full_env, cwd=cwd, info_fd=info)
        proc.trace_folder = Path(full_env["SOCKLAB_TRACE"]) if "SOCKLAB_TRACE" in full_env else None
        if self.settings.valgrind:
            proc.valgrind_log = log
        self.story.started(proc, repro=self._repro(proc))
        return proc

    def _repro(self, proc: Proc) -> str:
        """The command that reproduces proc by hand, with the short-I/O setting and the
        valgrind it ran under."""
        command = proc.command_line()
        if self.settings.valgrind:
            command = f"{valgrind.REPRO} {command}"
        if not self.settings.short_io:
            return command
        shim = self.build.shortio  # a sandbox's copy: named where ./socklab build puts it
        shim_name = _relative(shim, f"build/{shim.name}")
        return (f"SOCKLAB_SHORT_IO={self.settings.short_io} "
                f"LD_PRELOAD={shlex.quote(shim_name)} {command}")

    def _preload_env(self, program: str) -> dict:
        """The tracer (every socket call, for the failure story) and, with short I/O, the
        shim, in that order: the tracer sees what the program asked and what it got."""
        env, preload = {}, []
        tracer = self.build.trace
        if tracer is not None and tracer.exists():
            preload.append(str(tracer))
            env["SOCKLAB_TRACE"] = str(self.story.conversation.trace_folder(program, self.workdir))
        if self.settings.short_io:
            if not self.build.shortio.exists():  # else the loader says so, and cuts nothing
                raise CheckFailure(f"{self.build.shortio} does not exist: the short-I/O shim is "
                                   "not built", hint="cmake --build build --target socklab_shortio")
            preload.append(str(self.build.shortio))
            env["SOCKLAB_SHORT_IO"] = str(self.settings.short_io)
        if preload:
            env["LD_PRELOAD"] = " ".join(preload)
            # an ASan build wants its runtime first; the shims have no sanitizer of their own
            env["ASAN_OPTIONS"] = "verify_asan_link_order=0"
        return env

    def start_server(self, *args: str, host: str = "127.0.0.1", program: str = "server",
                     port: str = "0", env: dict | None = None, cwd: Path | None = None,
                     hint: str | None = None) -> Server:
        """Starts a server on an OS-chosen port and waits for its "listening on" line. hint:
        what a server that does not get there most likely got wrong, if the check knows."""
        self.story.step(f"start the {program}")
        proc = self.start(program, "-H", host, "-p", port, *args, env=env, cwd=cwd)
        address = listening_address(proc, self.deadline())
        if address is None:
            self._no_listening_line(proc, hint)
        return Server(self, proc, address)

    def _no_listening_line(self, proc: Proc, hint: str | None = None) -> None:
        if proc.wait(self.deadline(1)) is None:  # ended: wait() also reads its last words
            proc.kill()
        raise CheckFailure(
            f"the {proc.name} should print 'listening on HOST:PORT' as its first line, once it "
            f"listens", expected="a line like 'listening on 127.0.0.1:40123'",
            actual=f"it printed {show(proc.stdout.text)}; {_how_it_ended(proc)}",
            hint=hint or "print the address getsockname() returns, and check each call before it")

    def run(self, program: str, *args: str, input: bytes = b"", timeout: float = DEFAULT_WAIT,
            env: dict | None = None, cwd: Path | None = None, hint: str | None = None) -> Result:
        """Runs a program to its end, feeding it input on stdin. hint: what a program that
        does not end in time most likely got wrong, when the check knows better than the
        general "waiting for something that never comes"."""
        proc = self.start(program, *args, env=env, cwd=cwd)
        proc.write(input)
        proc.close_stdin()
        code = proc.wait(self.deadline(timeout))
        if code is None:
            proc.kill()
            raise CheckFailure(
                f"the {program} did not finish within {timeout:g} s",
                hint=hint or "it may be waiting for something that never comes: a reply the "
                             "other side will not send, or the end of a connection it never sees")
        proc.exit_seen = True
        self.judge_valgrind(proc)
        return Result(proc, code)

    # -- checks ----------------------------------------------------------------------------
    def expect_stdout(self, proc: Proc, pattern: str, what: str, timeout: float = DEFAULT_WAIT,
                      start: int = 0, hint: str | None = None) -> re.Match:
        """Waits for a line of the program's stdout to match pattern."""
        match = proc.wait_for_stdout(pattern, self.deadline(timeout), start)
        if match is None:
            when = (f"after {timeout:g} s its stdout is" if proc.running else
                    "its stdout was")  # it ended: the wait ended with it, not at the deadline
            raise CheckFailure(f"the {proc.name} should print {what}",
                               expected=f"a line matching {pattern!r}",
                               actual=f"{when} {show(proc.stdout.text)}; {_how_it_ended(proc)}",
                               hint=hint)
        return match

    def expect_usage(self, program: str, bad_arguments: list[list[str]]) -> None:
        """--help prints the usage on stdout and exits 0 (when listed); each other argument
        list is bad: the usage on stderr, exit status 2."""
        for args in bad_arguments:
            self.story.step(f"run: {program} {' '.join(args)}")
            result = self.run(program, *args)
            if args == ["--help"]:
                result.expect_status(0)
                expect("usage:" in result.stdout, "--help should print the usage on stdout")
            else:
                result.expect_status(2, "bad arguments")
                expect("usage:" in result.stderr, "bad arguments should print the usage on "
                       "stderr", actual=show(result.stderr))

    def expect_no_errors(self, proc: Proc, after: str, hint: str) -> None:
        """The handouts give stderr to errors alone (`program: what failed: reason`): after a
        conversation that ended normally, every line there is a false alarm. proc has ended
        (or is being stopped): this waits for its stderr to close, so that all it wrote is
        read, then requires it empty. after: the normal end, as the check's message says it
        ("its client closed the connection"); hint: the step, and why that end is normal."""
        self.story.step(f"read all of the {proc.name}'s stderr")
        closed = proc.stderr.wait_closed(self.deadline())
        expect(closed, f"the {proc.name}'s stderr should close when it ends",
               actual=_how_it_ended(proc),
               hint="it has ended, but a process it started still holds its stderr open")
        lines = error_lines(proc.stderr.text)
        expect(not lines, f"the {proc.name} should print no error after a conversation that "
               f"ended normally ({after}): stderr is for errors alone",
               expected="nothing on stderr", actual=show(proc.stderr.text), hint=hint)

    def stop_and_expect_no_errors(self, server: Server, after: str, hint: str) -> None:
        """A server whose conversations all ended normally: stopped with SIGTERM (exit status
        0, as the handouts say), its stderr then holds no line (expect_no_errors)."""
        self.story.step(f"stop the {server.proc.name} (SIGTERM) and wait for it to end")
        code = self.stop_server(server)
        expect(code == 0, f"the {server.proc.name} should exit with status 0 after SIGTERM",
               expected="exit status 0", actual=server.proc.status())
        self.expect_no_errors(server.proc, after, hint)

    def settle(self, proc: Proc) -> bool:
        """Waits until proc has done all it will with what the check gave it (it waits for
        more, or it has ended: Proc.settle); whether it still runs. Every judgement of
        whether a program ended goes through here, so that the verdict is the program's, not
        the scheduler's: a server that exits after its first client is seen to, every time."""
        return proc.settle(self.deadline(), cpu=SETTLE_CPU * self.settings.time_scale)

    def expect_running(self, proc: Proc, why: str, hint: str | None = None) -> None:
        """hint: the check's own, when the way it stops a server is a mistake of its own (a
        buffer overrun on a valid line), not a client that misbehaves."""
        if not self.settle(proc):
            proc.exit_seen = True
            raise CheckFailure(f"the {proc.name} should still be running {why}",
                               actual=_how_it_ended(proc),
                               hint=hint or _ended_hint(proc))

    def ended(self, proc: Proc) -> Optional[tuple[str, Optional[str]]]:
        """None while proc runs (judged by settle); else how it ended, as a check's "actual"
        ("the server exited with status 0 after its first client"), and the cause that its
        end shows, if any: killed by SIGPIPE; status 0 after one client (no accept loop)."""
        if self.settle(proc):
            return None
        proc.exit_seen = True
        how, accepted = _how_it_ended(proc), _accepted(proc)
        cause = end_cause(proc)
        if cause is None and proc.returncode == 0 and accepted == " after its first client":
            cause = (f"the {proc.name} ended after its first client: accept() in a loop, one "
                     "client after another, until it is stopped")
        return how + accepted, cause

    def finish_server(self, server: Server) -> None:
        """The end of a server's block: it must still be running (unless the test saw it end),
        and under valgrind it is stopped with SIGTERM and judged."""
        proc = server.proc
        if not proc.exit_seen and not self.settle(proc):
            self.story.step(f"at the end of the check, the {proc.name} should still be running")
            raise CheckFailure(f"the {proc.name} ended during the test; it should run until it "
                               "is stopped", actual=_how_it_ended(proc) + _accepted(proc),
                               hint="a server ends when it is stopped (or when the handout "
                                    "says it ends), not after a client or a message: look for "
                                    "a return or exit() that its loop reaches too soon"
                               if proc.returncode == 0 else
                               "a client that closes, resets or vanishes must never stop "
                               "a server")
        if proc.running:
            code = proc.stop(self.deadline())
            if code is None and self.settings.valgrind:
                raise CheckFailure(f"the {proc.name} did not exit within "
                                   f"{DEFAULT_WAIT * self.settings.time_scale:g} s of SIGTERM, "
                                   "so valgrind could not report")
        self.judge_valgrind(proc)

    def stop_server(self, server: Server, timeout: float = DEFAULT_WAIT) -> Optional[int]:
        """Sends SIGTERM and waits; the exit status, or None (then killed) if it did not end."""
        code = server.proc.stop(self.deadline(timeout))
        server.proc.exit_seen = True
        return code

    def judge_valgrind(self, proc: Proc) -> None:
        log = proc.valgrind_log
        if log is None or proc.running:
            return
        report = valgrind.read_report(log)
        problems = report.problems()
        if not problems:
            return
        self.story.step(f"read valgrind's report on the {proc.name}, which has ended")
        first = report.first_problem(self._own_files())
        if first is None:  # no summary (killed), or nothing the parser could place
            raise CheckFailure(f"valgrind found problems in the {proc.name}: " +
                               "; ".join(problems), actual="\n" + report.summary(),
                               hint=f"the whole report is in {log}")
        where = f" at {first.where}" if first.where else ""
        raise CheckFailure(
            f"valgrind found problems in the {proc.name}: " + "; ".join(problems) +
            f". The first: {first.kind}{where}",
            actual="\n" + "\n".join("  " + line for line in first.lines) + "\n  (" +
                   ("valgrind's whole report: the command to reproduce it, below, prints it"
                    if self.settings.walls.active else  # the sandbox's scratch is gone by then
                    f"valgrind's whole report: {log}") + ")",
            hint=first.hint)

    def _own_files(self) -> set[str]:
        """The names of the lab's source files and the course's common code: the frames of a
        valgrind report that are the program's own."""
        names = {p.name for p in (ROOT / "common").glob("*.[ch]")}
        source = self.build.source if self.build else None
        if source is not None and source.is_dir():
            names |= {p.name for p in source.glob("*.[ch]")}
        return names


def error_lines(text: str) -> list[str]:
    """The lines a program wrote on stderr, blank ones left out."""
    return [line for line in text.splitlines() if line.strip()]


def listening_address(proc: Proc, deadline: Deadline) -> Optional[Address]:
    """The address a server prints as its first line, "listening on HOST:PORT" (HOST may be
    [v6]), once it has; None if it ended or the deadline passed first. The way every server
    is started, by the checks (Lab.start_server) and by bench/."""
    match = proc.wait_for_stdout(LISTENING_RE, deadline)
    if match is None:
        return None
    return Address(match.group(2) or match.group(3), int(match.group(4)))


def end_cause(proc: Proc) -> Optional[str]:
    """The cause an ended program's exit status names, if it names one."""
    if proc.returncode == -signal.SIGPIPE:
        return (f"the {proc.name} was killed by SIGPIPE: a send() to a connection the other "
                "side has closed raises it, and its default action ends the whole process: "
                "send() with MSG_NOSIGNAL (then it fails with EPIPE, which you handle)")
    return None


def _how_it_ended(proc: Proc) -> str:
    """For a sentence of a check's message: "it is still running", or how it ended."""
    if proc.running:
        return f"the {proc.name} is still running"
    proc.wait(Deadline(1))  # the exit status, and its last output, are ready at once
    return f"the {proc.name} {proc.status()}"


def _ended_hint(proc: Proc) -> str:
    """The hint for a server that ended while a client misbehaved, from how it ended: killed
    by SIGPIPE, or an exit with a failure status, point to different mistakes."""
    hint = "a client that misbehaves must never stop a server"
    if cause := end_cause(proc):
        return f"{hint}: {cause}"
    if proc.returncode is not None and proc.returncode > 0:
        return (hint + f": it exited with status {proc.returncode}. A recv() or send() that "
                "fails on one connection (a reset, a client that has gone) ends that "
                "conversation, not the server: warn, close that socket and serve the next "
                "client; never die_errno() or exit() there")
    return hint


def _accepted(proc: Proc) -> str:
    """", after accepting N connections", from the program's trace (nothing without one)."""
    folder = proc.trace_folder
    if folder is None:
        return ""
    events = trace.read_folder(folder, proc.name, 0)
    accepted = sum(e.call in ("accept", "accept4") and not e.error for e in events)
    if not any(e.call == "listen" for e in events):
        return ""
    return (" before accepting any connection" if accepted == 0 else
            " after its first client" if accepted == 1 else
            f" after accepting {accepted} connections")


def _relative(path: Path, elsewhere: str | None = None) -> str:
    """How a file is named in a story: from the course's root, or, for a copy in a folder
    that will not outlive the grading (a sandbox's), as elsewhere (default LAB/PROGRAM)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return elsewhere or f"{path.parent.name}/{path.name}"


FIRST_ERRORS = 12  # lines of a failed compile repeated in each check: the first error's


def first_errors(output: str) -> str:
    """The compiler's output from its first error on, cut to a few lines: every check of a
    lab that does not compile says this much, and the compile's own report has the rest."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "error" in line), 0)
    if start and "In function" in lines[start - 1]:  # where the error is, as gcc says it
        start -= 1
    shown = lines[start:start + FIRST_ERRORS]
    more = len(lines) - start - len(shown)
    return "\n".join(shown + ([f"... ({more} more lines)"] if more > 0 else []))
