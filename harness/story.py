"""The story of a test: the steps it took, and the programs it started.

On failure the plugin renders it like this, so that a student sees the step that failed,
expected against actual, the TODO step their program stopped at, the last lines each
program printed, and the commands that reproduce it by hand:

    step 3 failed: read the greeting until the server closes the connection
    expected: ...
    actual:   ...
    ...
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import trace
from .checks import CheckFailure, printable, printable_text
from .timing import Deadline

if TYPE_CHECKING:
    from .process import Proc

TAIL_LINES = 12
TODO_RE = re.compile(r"TODO step \d+: .*")


class Story:
    def __init__(self) -> None:
        self.steps: list[str] = []
        self.procs: list["Proc"] = []
        self.repro: list[str] = []
        self.note = ""  # said under the first line, e.g. that programs ran under the shim
        self.conversation = trace.begin()  # the programs' socket calls and the peers' events

    def step(self, text: str) -> None:
        """Marks the start of the next step of the test."""
        self.steps.append(text)

    def started(self, proc: "Proc", repro: str | None = None) -> None:
        self.procs.append(proc)
        self.repro.append(repro or proc.command_line())

    def todos(self) -> list[str]:
        found = []
        for proc in self.procs:
            if not proc.running:
                proc.stderr.wait_closed(Deadline(2))
        for proc in self.procs:
            for m in TODO_RE.finditer(proc.stderr.text):
                found.append(f"your {proc.name} stopped at {m.group(0)}")
        return found

    def render(self, error: BaseException, quote_error: bool = True) -> str:
        out = []
        where = f"step {len(self.steps)} failed: {self.steps[-1]}" if self.steps else "failed"
        out.append(where)
        if self.note:
            out.append(self.note)
        out += [f"TODO: {todo}" for todo in dict.fromkeys(self.todos())]
        if isinstance(error, CheckFailure):
            out.append(error.render())
        elif quote_error:
            out.append(f"the harness hit an unexpected error: {type(error).__name__}: {error}")
        else:
            out.append(f"the check stopped on an error of its own ({type(error).__name__}); "
                       "its details are hidden: please tell your instructor")
        if len(self.steps) > 1:
            out.append("\nsteps:")
            out += [f"  {i}. {text}" for i, text in enumerate(self.steps, 1)]
        for proc in self.procs:
            if not proc.running:  # its last words may still be in the pipe: read them first
                proc.stdout.wait_closed(Deadline(2))
                proc.stderr.wait_closed(Deadline(2))
            out.append(f"\n{proc.name} ({proc.status()}): {proc.command_line()}")
            for stream in (proc.stdout, proc.stderr):
                lines = stream.lines()
                if not lines:
                    out.append(f"  {stream.name}: (nothing)")
                    continue
                shown = lines[-TAIL_LINES:]
                more = f", last {len(shown)} of {len(lines)}" if len(lines) > len(shown) else ""
                out.append(f"  {stream.name}{more}:")
                out += [f"    | {printable(line[:300])}" for line in shown]
                if stream.dropped:
                    out.append(f"  ({stream.name} went on for {stream.dropped} more bytes, "
                               "not kept)")
        out += self.conversation.render()
        if self.repro:
            out.append("\nto reproduce by hand, in separate terminals:")
            out += [f"  {line}" for line in dict.fromkeys(self.repro)]
        # Nothing a program wrote, however it reached a message (a compiler's output, a
        # value quoted in a hint), can move the cursor or clear the screen.
        return printable_text("\n".join(out))
