"""Runs the transcripts of the walkthroughs and handouts, and compares them with real output.

    python3 -m harness.doccheck --build-dir build docs/01-tcp-basic.md labs/01-tcp-basic/README.md

A transcript is a fenced block (```) with lines that start with `$ `: each such line is a
command, the lines under it (up to the next command) are what it prints, stdout and stderr
together, in the order the reader sees them. The checker runs every command with bash from the
top of the repo (in fact from a scratch folder that looks like it: every entry of the repo, and
of the build, is a symbolic link there, so the files a transcript writes land in the scratch
folder), one block after the other, and reports the first line that differs as FILE:LINE.

Handout examples run `build/labs/LAB/PROGRAM`: the finished lab, checked against the reference
(in the scratch folder, `build/labs` is `build/solutions`).

What is matched by pattern, never literally:
  - ports: in `HOST:PORT`, `port PORT` and `-p PORT`, a port of the transcript stands for the
    port the real run gives at that place, the same one everywhere in the file (so the client's
    port printed by the client must be the one the server logged), and later commands get the
    real one (the port a doc shows in `client -p PORT` becomes the one the server printed);
  - runs of spaces (column widths): one space is as good as many;
  - what a block's directive says varies (`vary: REGEX`).

Directives are HTML comments right before a block, invisible to the reader:
  <!-- doccheck: server -->          the block's one command is a server left running (another
                                     terminal) while the next transcript block runs; `^C` in the
                                     block is SIGINT, sent once the lines above it have come
  <!-- doccheck: server for 2 -->    ... while the next 2 transcript blocks run
  <!-- doccheck: input: LINE | LINE -->  lines the reader types: fed to the command's stdin,
                                     and not expected from the program (in a server block:
                                     typed once the blocks it runs beside have run)
  <!-- doccheck: vary: REGEX -->     text matching REGEX may differ (times, speeds, PIDs)
  <!-- doccheck: one of: TEXT | TEXT -->  a line of the block that depends on timing: the
                                     block shows one, the real output may have any;
                                     `(no line)` as one of them: the line may be missing
  <!-- doccheck: any order -->       each command's lines may come in any order (ss, ps)
  <!-- doccheck: skip: REASON -->    not run (said in the summary, with the reason)
  <!-- doccheck: any number: REGEX -->  a run of the block's lines that match REGEX stands for
                                     any number (0 or more) of real lines that match it (reads
                                     whose count depends on timing)
Several directives go in one comment, separated by ` ;; `. A line `...` in a block stands
for any number of lines.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness import programs

ROOT = Path(__file__).resolve().parent.parent
BLOCK_DEADLINE = 60.0   # one block, all its commands
SERVER_DEADLINE = 10.0  # a server's first line; its lines before ^C; its end after it

DIRECTIVE = re.compile(r"<!--\s*doccheck:(.*?)-->", re.S)
HOSTPORT = re.compile(r"((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-fA-F:.]+\]|::1|localhost)(:|\s+port\s+)(\d{3,5})\b")
# (bash's /dev/tcp/HOST/PORT too: docs/04 writes to a server with it)
PORT_OPTION = re.compile(r"(-p\s*|port\s+|:|/dev/tcp/[^/\s]+/)(\d{3,5})\b")
MARK = "\x1edoccheck-{}\x1e"
NO_LINE = "(no line)"  # in `one of:`, a line that may not be printed at all


@dataclass
class Block:
    path: Path
    line: int            # the line of the opening fence
    lines: list[str]     # the block's lines
    directives: dict = field(default_factory=dict)

    def commands(self):
        """[(line number, command, [(line number, expected line)])]"""
        out = []
        for i, text in enumerate(self.lines):
            number = self.line + 1 + i
            if text.startswith("$ "):
                out.append((number, text[2:], []))
            elif out:
                out[-1][2].append((number, text))
        return out


class Mismatch(Exception):
    pass


def parse(path: Path) -> list[Block]:
    blocks, lines = [], path.read_text().splitlines()
    pending: dict = {}
    i = 0
    while i < len(lines):
        text = lines[i]
        m = DIRECTIVE.search(text)
        if m and not text.startswith("```"):
            pending = parse_directives(m.group(1))
        elif text.startswith("```"):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if any(b.startswith("$ ") for b in body):
                blocks.append(Block(path, start, body, pending))
            pending = {}
        elif text.strip():
            pending = pending if text.lstrip().startswith("<!--") else {}
        i += 1
    return blocks


def parse_directives(text: str) -> dict:
    out: dict = {}
    for part in text.split(";;"):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition(":")
        key, value = key.strip(), value.strip()
        if key.startswith("server"):
            words = key.split()
            out["server"] = int(words[2]) if len(words) == 3 and words[1] == "for" else 1
        elif key == "input":
            out["input"] = [v.strip() for v in value.split("|")]
        elif key == "vary":
            out.setdefault("vary", []).append(value)
        elif key == "one of":
            out.setdefault("oneof", []).append([v.strip() for v in value.split("|")])
        elif key == "any order":
            out["anyorder"] = True
        elif key == "skip":
            out["skip"] = value
        elif key == "any number":
            out.setdefault("anynumber", []).append(value)
        else:
            raise ValueError(f"unknown doccheck directive {part!r}")
    return out


class Ports:
    """The ports of a transcript file, and the real ports they stand for."""

    def __init__(self):
        self.real: dict[str, str] = {}

    def substitute(self, command: str) -> str:
        return PORT_OPTION.sub(lambda m: m.group(1) + self.real.get(m.group(2), m.group(2)),
                               command)

    def pattern(self, expected: str, vary: list[str]) -> tuple[re.Pattern, list[str]]:
        """A regex for one expected line, and the transcript ports its groups capture."""
        spans = []  # (start, end, regex, port or None)
        for m in HOSTPORT.finditer(expected):
            port = m.group(3)
            regex = re.escape(self.real[port]) if port in self.real else r"(\d+)"
            spans.append((m.start(3), m.end(3), regex, None if port in self.real else port))
        for v in vary:
            for m in re.finditer(v, expected):
                if not any(s < m.end() and m.start() < e for s, e, *_ in spans):
                    spans.append((m.start(), m.end(), f"(?:{v})", None))
        spans.sort()
        out, ports, pos = [], [], 0
        for s, e, regex, port in spans:
            out.append(literal(expected[pos:s]))
            out.append(regex)
            if port is not None:
                ports.append(port)
            pos = e
        out.append(literal(expected[pos:]))
        return re.compile("".join(out)), ports

    def match(self, expected: str, actual: str, vary: list[str]) -> bool:
        regex, ports = self.pattern(squeeze(expected), vary)
        m = regex.fullmatch(squeeze(actual))
        if not m:
            return False
        bound: dict[str, str] = {}
        for port, value in zip(ports, m.groups()):
            if bound.setdefault(port, value) != value:
                return False  # one transcript port, two real ones on the same line
        self.real.update(bound)
        return True


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def literal(text: str) -> str:
    return re.escape(text).replace(r"\ ", " ")


def compare(block: Block, expected: list[tuple[int, str]], actual: list[str], ports: Ports,
            command: str, typed: list[str] | None = None) -> None:
    """Raises Mismatch naming the first expected line that the actual output does not have."""
    vary = block.directives.get("vary", [])
    oneof = block.directives.get("oneof", [])
    anynumber = block.directives.get("anynumber", [])
    if typed:  # lines the reader types are not the program's
        rest, want = [], list(typed)
        for number, text in expected:
            if want and text == want[0]:
                want.pop(0)
            else:
                rest.append((number, text))
        expected = rest

    def fits(exp: str, act: str) -> bool:
        for choices in oneof:
            if exp.strip() in choices:
                return any(ports.match(c, act, vary) for c in choices)
        return ports.match(exp, act, vary)

    def walk(e: int, a: int) -> bool:
        while e < len(expected):
            number, text = expected[e]
            if text.strip() == "...":
                return any(walk(e + 1, k) for k in range(a, len(actual) + 1))
            run = next((r for r in anynumber if re.fullmatch(r, squeeze(text))), None)
            if run is not None:  # `any number: REGEX`: this run of lines, 0 or more real ones
                while e < len(expected) and re.fullmatch(run, squeeze(expected[e][1])):
                    e += 1
                ends = [a]
                while ends[-1] < len(actual) and re.fullmatch(run, squeeze(actual[ends[-1]])):
                    ends.append(ends[-1] + 1)
                return any(walk(e, k) for k in reversed(ends))
            if a >= len(actual) or not fits(text, actual[a]):
                # `one of: TEXT | (no line)`: a line that timing may leave out (docs/09)
                if any(text.strip() in c and NO_LINE in c for c in oneof) and walk(e + 1, a):
                    return True
                walk.failed = max(walk.failed, (e, a))
                return False
            e, a = e + 1, a + 1
        if a != len(actual):
            walk.failed = max(walk.failed, (e, a))
        return a == len(actual)

    def unordered() -> bool:
        left = list(range(len(actual)))
        for e, (_, text) in enumerate(expected):
            hit = next((a for a in left if fits(text, actual[a])), None)
            if hit is None:
                walk.failed = (e, left[0] if left else len(actual))
                return False
            left.remove(hit)
        walk.failed = (len(expected), left[0] if left else len(actual))
        return not left

    walk.failed = (0, 0)
    if (unordered() if block.directives.get("anyorder") else walk(0, 0)):
        return
    e, a = walk.failed
    where = expected[e][0] if e < len(expected) else (expected[-1][0] + 1 if expected else None)
    shown = "\n".join(f"    | {t}" for t in actual) or "    (nothing)"
    if e < len(expected):
        got = repr(actual[a]) if a < len(actual) else "the end of the output"
        what = f"expected {expected[e][1]!r}, the program printed {got}"
    else:
        what = f"the program printed more: {actual[a]!r}"
    raise Mismatch(f"{block.path}:{where or block.line}: {what}\n  command: {command}\n"
                   f"  the whole output:\n{shown}")


class Server:
    """A command left running in 'another terminal'."""

    def __init__(self, command: str, cwd: Path, env: dict, typed: bool = False):
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE if typed else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_lines(self, n: int, deadline: float) -> None:
        end = time.monotonic() + deadline
        with self.cond:
            while len(self.lines) < n and self.reader.is_alive():
                left = end - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(left)

    def stop(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(SERVER_DEADLINE)
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        self.reader.join(SERVER_DEADLINE)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def run_block(block: Block, cwd: Path, env: dict, ports: Ports) -> None:
    """Runs a block's commands in one bash, in order, and compares what each printed."""
    commands = block.commands()
    typed = block.directives.get("input")
    script = ["exec 2>&1"]
    for k, (_, command, _) in enumerate(commands):
        # The marker keeps $? for the command after it (`echo $?`).
        script.append(f"__doccheck=$?; printf '\\n{MARK.format(k)}\\n'; (exit $__doccheck)")
        script.append(ports.substitute(command))
    script.append(f"printf '\\n{MARK.format(len(commands))}\\n'")
    stdin = ("\n".join(typed) + "\n").encode() if typed else b""
    proc = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=cwd, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(stdin, timeout=BLOCK_DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise Mismatch(f"{block.path}:{block.line}: the block did not end within "
                       f"{BLOCK_DEADLINE:.0f} s; it printed:\n{out.decode(errors='replace')}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything the block left behind
        except ProcessLookupError:
            pass
    text = out.decode(errors="replace")
    for k, (number, command, expected) in enumerate(commands):
        start = text.find("\n" + MARK.format(k) + "\n")
        end = text.find("\n" + MARK.format(k + 1) + "\n")
        if start < 0 or end < 0:
            raise Mismatch(f"{block.path}:{number}: the command did not finish "
                           f"(the block stopped before it, or it ended the shell): {command}")
        segment = text[start + len(MARK.format(k)) + 2:end]
        actual = segment.split("\n") if segment else []
        if actual and actual[-1] == "":
            actual.pop()
        # After each command, the ports it revealed apply to the next (compare binds them).
        compare(block, expected, actual, ports, ports.substitute(command), typed)


def run_blocks(blocks: list[Block], i: int, count: int, cwd: Path, env: dict,
               ports: Ports, ran: list[int]) -> int:
    """Runs `count` items from blocks[i] (a session and the blocks it holds are one item);
    returns the index after them."""
    for _ in range(count):
        if i >= len(blocks):
            break
        block = blocks[i]
        if "server" in block.directives:
            i = run_session(blocks, i, cwd, env, ports, ran)
        else:
            run_block(block, cwd, env, ports)
            ran[0] += 1
            i += 1
    return i


def run_session(blocks: list[Block], i: int, cwd: Path, env: dict, ports: Ports,
                ran: list[int]) -> int:
    server_block = blocks[i]
    (number, command, expected), *others = server_block.commands()
    if others:
        raise Mismatch(f"{server_block.path}:{others[0][0]}: a server block has one command")
    before = [(n, t) for n, t in expected]
    after: list[tuple[int, str]] = []
    interrupt = next((k for k, (_, t) in enumerate(expected) if t.strip() == "^C"), None)
    if interrupt is not None:
        before, after = expected[:interrupt], expected[interrupt + 1:]
    real = ports.substitute(command)
    typed = server_block.directives.get("input")
    server = Server(real, cwd, env, typed=bool(typed))
    try:
        server.wait_lines(1, SERVER_DEADLINE)
        if before and server.lines:
            # A new server: its port in the transcript stands for the new real one (a doc
            # may show every server on 40123).
            for m in HOSTPORT.finditer(before[0][1]):
                if "-p 0" in command or "-p0" in command:
                    ports.real.pop(m.group(3), None)
            ports.match(before[0][1], server.lines[0], server_block.directives.get("vary", []))
        end = run_blocks(blocks, i + 1, server_block.directives["server"], cwd, env, ports, ran)
        if typed:  # the reader types in that terminal once the blocks beside it have run
            server.proc.stdin.write(("\n".join(typed) + "\n").encode())
            server.proc.stdin.close()
            want, kept = list(typed), []
            for n, t in before:  # the typed lines are the reader's, not the program's
                if want and t == want[0]:
                    want.pop(0)
                else:
                    kept.append((n, t))
            before = kept
        # Lines that `one of: ... | (no line)` lets timing leave out are not waited for in
        # full: the others first, then a short grace for the rest.
        optional = sum(1 for _, t in before
                       if any(t.strip() in c and NO_LINE in c
                              for c in server_block.directives.get("oneof", [])))
        server.wait_lines(len(before) - optional, SERVER_DEADLINE)
        if optional:
            server.wait_lines(len(before), 1.0)
        if interrupt is None:
            shown = list(server.lines[:len(before)])
            server.stop(signal.SIGTERM)
            compare(server_block, before, shown, ports, real)
        else:
            server.stop(signal.SIGINT)
            compare(server_block, before + after, server.lines, ports, real)
        ran[0] += 1
        return end
    finally:
        server.kill()


def scratch(build_dir: Path, handout: bool) -> Path:
    """A folder that looks like the top of the repo (see the module's docstring)."""
    top = Path(tempfile.mkdtemp(prefix="socklab-doccheck-"))
    for entry in ROOT.iterdir():
        if entry.name not in ("build", ".git"):
            (top / entry.name).symlink_to(entry)
    (top / "build").mkdir()
    for entry in build_dir.iterdir():
        target = build_dir / "solutions" if handout and entry.name == "labs" else entry
        (top / "build" / entry.name).symlink_to(target)
    return top


def check_file(path: Path, build_dir: Path) -> tuple[int, list[str], list[str]]:
    """Runs one file's transcripts: (blocks run, failures, skipped with reasons)."""
    blocks = parse(path)
    handout = path.parent.parent.name == "labs"
    top = scratch(build_dir, handout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCKLAB_")}
    # PYTHONUNBUFFERED: Python prints each line at once, as in a terminal (a server such as
    # http.server shows its first line before it has a client).
    env.update(LC_ALL="C.UTF-8", TZ=env.get("TZ", "UTC"), PYTHONDONTWRITEBYTECODE="1",
               PYTHONUNBUFFERED="1",
               COLUMNS="100", SOCKLAB_BUILD_DIR=str(top / "build"))
    failures, skipped, ran = [], [], [0]
    ports = Ports()
    i = 0
    try:
        while i < len(blocks):
            block = blocks[i]
            if "skip" in block.directives:
                skipped.append(f"{path}:{block.line}: {block.directives['skip']}")
                i += 1
                continue
            try:
                i = run_blocks(blocks, i, 1, top, env, ports, ran)
            except Mismatch as e:
                failures.append(str(e))
                i += 1 + block.directives.get("server", 0)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return ran[0], failures, skipped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-dir", type=Path, default=programs.default_build_dir())
    p.add_argument("--jobs", type=int, default=4, help="files checked at once")
    p.add_argument("files", nargs="+", type=Path)
    args = p.parse_args(argv)
    build_dir = args.build_dir.resolve()
    started = time.monotonic()
    files = [f if f.is_absolute() else Path.cwd() / f for f in args.files]

    def one(f):
        t = time.monotonic()
        return f, check_file(f, build_dir), time.monotonic() - t

    total = failed = 0
    with ThreadPoolExecutor(args.jobs) as pool:
        for f, (ran, failures, skipped), took in pool.map(one, files):
            name = os.path.relpath(f, ROOT)
            total += ran
            failed += len(failures)
            status = "ok" if not failures else f"{len(failures)} FAILED"
            print(f"{name}: {ran} transcripts, {status} ({took:.1f} s)")
            for s in skipped:
                print(f"  not run: {os.path.relpath(s, ROOT) if s.startswith('/') else s}")
            for msg in failures:
                print("  " + msg.replace(str(ROOT) + "/", "").replace("\n", "\n  "))
    print(f"{total} transcripts in {len(files)} files, {failed} failed "
          f"({time.monotonic() - started:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
