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
from typing import Optional

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


# The options a student types to see the same report by hand (the rest are the harness's own).
REPRO = "valgrind --leak-check=full --track-fds=yes"

# The first line of each kind of error memcheck reports (its manual, "Explanation of error
# messages from Memcheck"); leaks and open descriptors are reported after these, at exit.
ERROR_RE = re.compile(r"^(Invalid (read|write) of size \d+|Invalid free\(\).*|Mismatched free.*|"
                      r"Conditional jump or move depends on uninitialised.*|"
                      r"Use of uninitialised value.*|Syscall param .* uninitialised.*|"
                      r"Syscall param .* points to unaddressable.*|"
                      r"Source and destination overlap.*|Argument .* fishy.*)$")
FRAME_RE = re.compile(r"^\s+(at|by) 0x[0-9A-Fa-f]+: (.*)$")
WHERE_RE = re.compile(r"\(([^():\s]+):(\d+)\)$")  # "main (server.c:240)"
TOP_FRAMES = 4  # of each stack shown in a story: where it happened and who called it
# The harness's preloaded libraries (harness/shim/) sit between a program and the C library:
# their frames are the harness's, not the student's, and are left out of a story's stacks.
SHIM_FILES = {"trace.c", "shortio.c"}


@dataclass
class Finding:
    """The first problem of a report, as a student reads it: what (valgrind's own words),
    where (the first FILE:LINE of the program's own code), the top frames of its stacks."""
    kind: str
    where: str  # "server.c:95 (read_request)", or "" when no frame is in the program's code
    lines: list[str]  # the kind, the top frames, and for a bad address the block's story
    hint: str


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

    def first_problem(self, own_files: set[str] = frozenset()) -> Optional[Finding]:
        """The problem a student should fix first: the first memory error, else the first
        definite leak, else the first descriptor left open. own_files: the names of the
        program's source files (server.c, frame.c...), so that "where" is a line of its own
        code, not of the C library's (every file counts when none is given)."""
        blocks = _blocks(self.text)
        for block in blocks:
            if ERROR_RE.match(block[0]):
                return _finding(block, own_files)
        if self.definitely_lost:
            for block in blocks:
                if "are definitely lost in loss record" in block[0]:
                    return _finding(block, own_files)
        if self.open_descriptors:
            for block in blocks:
                if block[0] in self.open_descriptors:
                    return _finding(block, own_files)
        return None

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


def _blocks(text: str) -> list[list[str]]:
    """valgrind's log as its paragraphs, each a list of lines without the "==PID== " prefix:
    a paragraph starts with a line that is not indented (an error's kind, "Open AF_INET
    socket 4: ...") and goes on with the indented ones (its frames, "Address 0x... is")."""
    blocks, current = [], []
    for line in text.splitlines():
        m = re.match(r"^==\d+== ?(.*)$", line)
        if m is None:
            continue
        body = m.group(1)
        if not body.strip() or not body[0].isspace():  # an empty line, or a new paragraph's
            if current:                                   # first (it is not indented)
                blocks.append(current)
            current = [body] if body.strip() else []
        else:
            current.append(body)
    if current:
        blocks.append(current)
    return blocks


def _frame(line: str) -> str:
    """"   at 0x10A1B3: read_request (server.c:95)" -> "at read_request (server.c:95)"."""
    m = FRAME_RE.match(line)
    return f"{m.group(1)} {m.group(2)}" if m else line.strip()


def _finding(block: list[str], own_files: set[str]) -> Finding:
    kind = block[0].strip()
    lines, where, shown = [kind], "", 0
    for line in block[1:]:
        frame = FRAME_RE.match(line)
        if frame is None:  # another paragraph of the error: "Address 0x... is 0 bytes after..."
            lines.append(" " + line.strip())
            shown = 0
            continue
        m = WHERE_RE.search(frame.group(2))
        if m and m.group(1) in SHIM_FILES and m.group(1) not in own_files:
            continue
        shown += 1
        if shown <= TOP_FRAMES:
            lines.append("    " + _frame(line))
        if m and not where and (m.group(1) in own_files or not own_files):
            where = f"{m.group(1)}:{m.group(2)} ({frame.group(2).split(' (')[0]})"
    return Finding(kind=kind, where=where, lines=lines, hint=_hint(kind, "\n".join(lines), where))


def _hint(kind: str, text: str, where: str) -> str:
    at = f" at {where.split(' ')[0]}" if where else ""
    if m := re.match(r"Invalid (read|write) of size (\d+)", kind):
        verb = "read" if m.group(1) == "read" else "wrote"
        size = int(m.group(2))
        what = f"{size} byte{'s' if size != 1 else ''}"
        if re.search(r"is 0 bytes after a block of size", text):
            return (f"your program {verb} {what}{at} just past the end of a block from malloc(): "
                    "a block of n bytes holds buf[0] to buf[n - 1], so buf[n] is one too far. "
                    "The classic cases: buf[len] = '\\0' after a recv() that may fill all n "
                    "bytes (ask for n - 1), or malloc(len) without the + 1 for the NUL")
        if re.search(r"inside a block of size .* free'd", text):
            return (f"your program {verb} {what}{at} in memory it had already given back with "
                    "free(): use a block only until you free it")
        return (f"your program {verb} {what}{at} outside any memory it owns: check the index "
                "or the length used there against the size of the buffer")
    if "uninitialised" in kind:
        return (f"your program used a value{at} before anything was stored in it: a variable "
                "never set, or bytes of a buffer past those recv() or read() filled (use only "
                "the n bytes they return)")
    if kind.startswith(("Invalid free", "Mismatched free")):
        return (f"free(){at} was given a pointer that malloc() did not return, or one already "
                "freed: free each block exactly once")
    if kind.startswith("Source and destination overlap"):
        return f"memcpy(){at} copies between overlapping areas: use memmove() for that"
    if "definitely lost" in kind:
        return (f"memory allocated{at} is never freed: free() each block once you are done "
                "with it, on every path, errors included")
    if kind.startswith("Open "):
        return (f"the descriptor opened{at} is still open when the program exits: close() it "
                "on every path, errors included, before the program ends")
    return f"read valgrind's words{at} above: they name the mistake and where it happened"
