"""Programs under test: started in their own process group, read while they run, always
stopped at the end.

Each program's stdout and stderr are read by a thread into an Output, so a test can wait for
a line with a deadline while the program keeps running. Every Proc is recorded in a registry
and killed (with its whole process group) when the harness exits, pass or fail; and each
child is started under `setpriv --pdeathsig KILL`, so that even a harness killed outright (once
the program has started) takes its programs with it.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import sandbox
from .timing import Deadline, poll_until

_SETPRIV = shutil.which("setpriv")
_registry: set["Proc"] = set()
_registry_lock = threading.Lock()


class Output:
    """Everything one stream of a program has written so far: at most KEPT bytes, the rest
    read and dropped (a program that prints without end must not fill the grader's memory)."""

    KEPT = 32 << 20

    def __init__(self, stream, name: str):
        self.name = name
        self.dropped = 0  # bytes read past KEPT
        self._data = bytearray()
        self._cond = threading.Condition()
        self.closed = False
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        fd = stream.fileno()
        try:
            while chunk := os.read(fd, 65536):
                with self._cond:
                    room = self.KEPT - len(self._data)
                    self._data += chunk[:max(room, 0)]
                    self.dropped += max(len(chunk) - max(room, 0), 0)
                    self._cond.notify_all()
        except OSError:
            pass
        finally:
            stream.close()
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    @property
    def data(self) -> bytes:
        with self._cond:
            return bytes(self._data)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def lines(self) -> list[str]:
        return self.text.splitlines()

    def wait_for(self, find: Callable[[bytes], object], deadline: Deadline):
        """Waits until find(all data so far) returns something truthy, and returns it; returns
        None when the stream ends or the deadline passes first."""
        with self._cond:
            while True:
                found = find(bytes(self._data))
                if found or self.closed:
                    return found or None
                if not self._cond.wait(timeout=deadline.remaining()) and deadline.expired:
                    return find(bytes(self._data)) or None

    def wait_closed(self, deadline: Deadline) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.closed, timeout=deadline.remaining())


# How a program ended by a signal of its own doing, in the words a student needs.
_SIGNAL_WORDS = {
    "SIGSEGV": "crashed: segmentation fault (SIGSEGV): a bad pointer or an array overrun",
    "SIGBUS": "crashed: bus error (SIGBUS): a bad pointer",
    "SIGFPE": "crashed: arithmetic error (SIGFPE), such as a division by zero",
    "SIGILL": "crashed: illegal instruction (SIGILL)",
    "SIGABRT": "crashed: abort() (SIGABRT): a failed assert, or the C library found corruption "
               "(a buffer overflow, a double free)",
    "SIGPIPE": "killed by SIGPIPE: it wrote to a connection the peer had closed "
               "(ignore SIGPIPE, or send with MSG_NOSIGNAL)",
    "SIGXCPU": "killed by SIGXCPU: it used up its CPU time limit",
    "SIGXFSZ": "killed by SIGXFSZ: it wrote a file over the size limit",
    "SIGKILL": "killed by SIGKILL, not by the grader's stop (a memory or time limit?)",
}


def describe_status(returncode: Optional[int], sent: frozenset[int] = frozenset()) -> str:
    """How a program ended, in words a student reads right. sent: the signals the grader
    itself sent it (a program the grader stopped did not crash)."""
    if returncode is None:
        return "still running"
    if returncode >= 0:
        after = " after the grader's SIGTERM" if signal.SIGTERM in sent else ""
        return f"exited with status {returncode}{after}"
    signo = -returncode
    try:
        name = signal.Signals(signo).name
    except ValueError:
        name = f"signal {signo}"
    if signo in sent:
        if signo == signal.SIGKILL and signal.SIGTERM in sent:
            return "still running after the grader's SIGTERM: killed by the grader"
        if signo == signal.SIGKILL:
            return "still running at the end of the check: stopped by the grader"
        return f"stopped by the grader's {name}"
    return _SIGNAL_WORDS.get(name, f"killed by {name}")


class Proc:
    """One running program. Use as a context manager, or call kill() when done."""

    def __init__(self, name: str, argv: Sequence[str], *, display: Sequence[str] | None = None,
                 env: dict | None = None, cwd: Path | None = None, stdin_data: bool = True,
                 info_fd: Optional[tuple[int, int]] = None):
        """info_fd: (read end, write end) of a pipe on which bwrap reports the sandbox it made
        (the program then runs in a pid namespace of its own: see sandbox.py)."""
        self.name = name
        self.argv = list(argv)
        self.display = list(display or argv)  # the command a student would type
        prefix = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []
        try:
            self._popen = subprocess.Popen(
                prefix + self.argv,
                stdin=subprocess.PIPE if stdin_data else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env, cwd=cwd, close_fds=True, start_new_session=True,
                pass_fds=info_fd[1:] if info_fd else ())
        finally:
            if info_fd:
                os.close(info_fd[1])
        self._leader = self._popen.pid  # what we started: its process group is killed at the end
        # The program itself, which signals and /proc are about: in a sandbox, bwrap's
        # grandchild (bwrap does not pass signals on).
        self.pid = self._find_sandboxed(info_fd[0]) if info_fd else self._leader
        self.sandboxed = info_fd is not None
        self.stdout = Output(self._popen.stdout, "stdout")
        self.stderr = Output(self._popen.stderr, "stderr")
        self.exit_seen = False  # a test looked at the exit status on purpose
        self.stopped_by_harness = False
        self.signals_sent: set[int] = set()  # by the grader: it stopped the program, no crash
        self.valgrind_log: Optional[Path] = None  # set when it runs under valgrind
        self.trace_folder: Optional[Path] = None  # set when the tracer records its socket calls
        with _registry_lock:
            _registry.add(self)

    def _find_sandboxed(self, info_read: int) -> int:
        """The program's pid: bwrap writes {"child-pid": N} (the pid namespace's init) once
        the sandbox is made; the program is that init's only child."""
        with os.fdopen(info_read, "rb") as info:
            text = info.read(4096)  # ends when bwrap closes it, or exits
        try:
            init = int(json.loads(text)["child-pid"])
        except (ValueError, KeyError):
            return self._leader  # bwrap failed: its message is on stderr, its status says so
        deadline = Deadline(5)
        while not deadline.expired and self._popen.poll() is None:
            try:
                children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
            except OSError:
                break
            if children:
                return int(children[0])
            time.sleep(0.001)  # no event says "the init has forked": a short poll
        return init

    # -- talking to it -------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Writes to the program's standard input. A program that has exited is not an error
        here; the test notices it when it waits for the answer."""
        try:
            self._popen.stdin.write(data)
            self._popen.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def close_stdin(self) -> None:
        try:
            if self._popen.stdin:
                self._popen.stdin.close()
        except BrokenPipeError:
            pass

    def wait_for_stdout(self, pattern: str | re.Pattern, deadline: Deadline,
                        start: int = 0) -> Optional[re.Match]:
        """The first match of the regex (multiline, on stdout decoded as UTF-8) found at or
        after offset start, or None if the program exits or the deadline passes first."""
        regex = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern
        return self.stdout.wait_for(
            lambda data: regex.search(data.decode("utf-8", "replace"), start), deadline)

    # -- its end ---------------------------------------------------------------------------
    @property
    def returncode(self) -> Optional[int]:
        return self._status(self._popen.poll())

    def _status(self, code: Optional[int]) -> Optional[int]:
        return sandbox.status_of(code) if code is not None and self.sandboxed else code

    @property
    def running(self) -> bool:
        return self._popen.poll() is None

    def wait(self, deadline: Deadline) -> Optional[int]:
        """The exit status (negative: killed by that signal), or None if still running at the
        deadline. Also waits for the output to be read to the end."""
        try:
            code = self._popen.wait(timeout=deadline.remaining())
        except subprocess.TimeoutExpired:
            return None
        self.stdout.wait_closed(deadline)
        self.stderr.wait_closed(deadline)
        return self._status(code)

    def settle(self, deadline: Deadline, cpu: float = 0.25) -> bool:
        """Waits until the program has done all it will do with what it has been given so
        far: it has ended, or every thread of it sleeps in the kernel (waiting for input, a
        peer, a lock or a timer) or is stopped. Returns whether it is still running.

        Whether a program ended is judged after this, never from a single look: a server that
        exits after its first client has, when that client reads the end of the stream, only
        its exit left to do, and whether it has done it yet depends on the scheduler. A
        program that stays busy ends the wait once it has used `cpu` seconds of processor time
        since the call (it spins: it is not on its way out), or at the deadline. There is no
        event for "back to waiting": /proc is looked at, every millisecond."""
        start = self.cpu_seconds()
        poll_until(lambda: self._settled(start, cpu), deadline, interval=0.001)
        if not self.running:
            return False
        states = self.thread_states()
        if states is None or not states.strip("ZX"):
            # it has ended; what started it (in a sandbox, bwrap) ends with it: wait for that
            self.wait(deadline)
        return self.running

    def _settled(self, start: float, cpu: float) -> bool:
        if not self.running:
            return True
        states = self.thread_states()
        if states is None or not states.strip("STtZX"):  # gone, or every thread waits
            return True
        return self.cpu_seconds() - start >= cpu

    def thread_states(self) -> Optional[str]:
        """The state letter of each thread (R running, S sleeping, D in I/O, T stopped, Z
        ended, ...), from /proc; None if the program is gone."""
        states = []
        try:
            tasks = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return None
        for task in tasks:
            try:
                stat = Path(f"/proc/{self.pid}/task/{task}/stat").read_text()
            except OSError:
                continue  # a thread that ended meanwhile
            states.append(stat[stat.rfind(")") + 2:][:1])  # after "PID (COMM) "
        return "".join(states) if states else None

    def cpu_seconds(self) -> float:
        """The processor time (user and system) the program has used so far; 0 if gone."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat[stat.rfind(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def signal(self, signo: int) -> None:
        if self.running:
            self.signals_sent.add(signo)
            try:
                os.kill(self.pid, signo)
            except ProcessLookupError:
                pass

    def stop(self, deadline: Deadline) -> Optional[int]:
        """SIGTERM, then wait until the deadline; the exit status, or None if it did not end
        (it is then killed)."""
        self.stopped_by_harness = True
        self.signal(signal.SIGTERM)
        code = self.wait(deadline)
        if code is None:
            self.kill()
        return code

    def kill(self) -> None:
        """SIGKILL to the whole process group: the program and anything it started."""
        if self.running:
            self.signals_sent.add(signal.SIGKILL)
        try:
            os.killpg(self._leader, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self._popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.close_stdin()
        with _registry_lock:
            _registry.discard(self)

    def __enter__(self) -> "Proc":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def open_fds(self) -> int:
        """How many file descriptors the program has open now (from /proc), or -1 if gone."""
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return -1

    def command_line(self) -> str:
        return shlex.join(self.display)

    def status(self) -> str:
        return describe_status(self.returncode, frozenset(self.signals_sent))


def kill_all() -> None:
    """Kills every program the harness started that is still around."""
    with _registry_lock:
        procs = list(_registry)
    for proc in procs:
        proc.kill()


atexit.register(kill_all)
