"""Running a program under valgrind's memcheck, and judging it from valgrind's own report.

The report, not the exit status, is the judge: descriptors left open (--track-fds) do not
change valgrind's exit status, and a program killed by a signal exits 128+N without a leak
verdict. So we parse the log: errors, definite leaks, descriptors open at exit beyond 0-2.
"Possibly lost" blocks are not judged: a correct detached thread leaves one in pthread_create.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .checks import read_program_file

OPTIONS = [
    "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
    # valgrind counts "possibly lost" blocks in its ERROR SUMMARY by default; a detached
    # thread still ending at exit leaves one (pthread_create), so only definite ones count.
    "--errors-for-leak-kinds=definite",
    "--track-fds=yes", "--error-exitcode=99",
    "--child-silent-after-fork=yes", "--num-callers=20",
]

# Deadlines stretch this much under valgrind: it runs programs 10-50 times slower.
TIME_SCALE = 10.0


def command(log: Path, argv: list[str]) -> list[str]:
    return ["valgrind", *OPTIONS, f"--log-file={log}", "--", *argv]


@dataclass
class Report:
    text: str
    errors: int = 0
    definitely_lost: int = 0
    open_descriptors: list[str] = field(default_factory=list)
    finished: bool = False  # valgrind printed its final summary

    def problems(self) -> list[str]:
        found = []
        if not self.finished:
            found.append("valgrind printed no summary: the program did not exit normally "
                         "(killed by a signal, or still running), so nothing could be checked")
        if self.errors:
            found.append(f"{self.errors} memory error{'s' if self.errors != 1 else ''} (invalid "
                         "reads/writes, uninitialised values, bad frees)")
        if self.definitely_lost:
            found.append(f"{self.definitely_lost} byte{'s' if self.definitely_lost != 1 else ''} "
                         "definitely lost (memory never freed)")
        if self.open_descriptors:
            found.append("file descriptors still open at exit: " +
                         "; ".join(self.open_descriptors))
        return found

    def summary(self) -> str:
        """valgrind's own words: the error/leak lines and the descriptor listing."""
        keep = [line for line in self.text.splitlines()
                if re.search(r"ERROR SUMMARY|definitely lost|Invalid|uninitialised|"
                             r"FILE DESCRIPTORS|Open (file descriptor|AF_\w+ socket)|"
                             r"^==\d+==    (at|by) 0x", line)]
        return "\n".join(keep[:60])


def parse(text: str) -> Report:
    report = Report(text=text)
    if m := re.search(r"ERROR SUMMARY: (\d+) errors", text):
        report.finished = True
        report.errors = int(m.group(1))
    if m := re.search(r"definitely lost: ([\d,]+) bytes", text):
        report.definitely_lost = int(m.group(1).replace(",", ""))
        # --errors-for-leak-kinds=definite counts each leak record as an error too: those are
        # reported as leaks, so the error count keeps the other kinds (bad reads, writes...).
        report.errors -= len(re.findall(r"are definitely lost in loss record", text))
    # Each open descriptor is a line "Open ... N: what", then where it was opened; those
    # "<inherited from parent>" (valgrind's own log among them) are not the program's doing,
    # nor is the file of the harness's tracer (harness/shim/trace.c: DIR/PID.trace).
    opened = r"^==\d+== (Open (?:file descriptor|AF_\w+ socket) (\d+):.*)\n((?:==\d+==    .*\n)*)"
    for m in re.finditer(opened, text, re.MULTILINE):
        harness_own = "<inherited from parent>" in m.group(3) or \
            re.search(r"/trace-\d+-[^/]+/\d+\.trace$", m.group(1).strip())
        if int(m.group(2)) > 2 and not harness_own:
            report.open_descriptors.append(m.group(1).strip())
    return report


def read_report(log: Path) -> Report:
    data = read_program_file(log)  # valgrind writes it as the program: never a link
    if data is None:
        return Report(text="(no valgrind log was written)")
    return parse(data.decode(errors="replace"))
