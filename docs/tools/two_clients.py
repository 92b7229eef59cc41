#!/usr/bin/env python3
"""Plays two clients in two terminals, A and B, and shows what each terminal shows, in order.

    python3 docs/tools/two_clients.py CLIENT [ARG...] -p PORT -- STEP...

CLIENT is the real client program (with its arguments, the server's port among them); A and
B are two copies of it. Each STEP is done once both terminals have been quiet for 0.2 s (as
you would wait before typing in the other terminal):

    A          start client A (a step 'A: LINE' starts it too, if it is not running yet)
    A: LINE    type LINE in A's terminal (and Enter)
    A: ^D      press Ctrl-D in A's terminal: the end of its input
    ss         in a third terminal, show the server's listening socket (ss -ltn)
    stop       in a third terminal, stop the server (SIGTERM to the process that listens
               on PORT), and wait (up to 5 s) for it to end

(B the same.) Every line the programs print is shown with the terminal it appeared in
(`A |`); a line you typed is shown as `A >`. After a step, A's new lines come before B's,
whatever the order they came in. At the end, the input of both clients is closed (Ctrl-D),
and the script waits up to 5 s for each to end and shows its exit status.
"""
import os
import re
import select
import subprocess
import sys
import time

QUIET = 0.2      # a terminal that printed nothing for this long is waiting
DEADLINE = 5.0   # for any one step to settle, and for a client to end


class Terminal:
    def __init__(self, name, command):
        self.name = name
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.partial = b""
        self.lines = []       # complete lines not shown yet
        self.open = True      # its output

    def read(self):
        data = os.read(self.proc.stdout.fileno(), 65536)
        if not data:
            self.open = False
            if self.partial:
                self.lines.append(self.partial)
                self.partial = b""
            return
        *whole, self.partial = (self.partial + data).split(b"\n")
        self.lines.extend(whole)

    def type(self, line):
        print(f"{self.name} > {line}")
        try:
            if line == "^D":
                self.proc.stdin.close()
            else:
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            print(f"{self.name} (the client no longer reads its input)")

    def show(self):
        for line in self.lines:
            print(f"{self.name} | {line.decode(errors='replace')}")
        self.lines = []


def settle(terminals):
    """Reads until no terminal has printed anything for QUIET seconds, then shows it."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        readable = [t.proc.stdout for t in terminals.values() if t.open]
        if not readable:
            break
        ready, _, _ = select.select(readable, [], [], QUIET)
        if not ready:
            break
        for t in terminals.values():
            if t.proc.stdout in ready:
                t.read()
    for name in sorted(terminals):
        terminals[name].show()


def listener_pid(port):
    """The process that listens on 127.0.0.1:PORT (it must be ours: /proc/PID/fd)."""
    hexport = f"{port:04X}"
    inodes = set()
    with open("/proc/net/tcp") as f:
        for row in f.readlines()[1:]:
            fields = row.split()
            if fields[1].endswith(":" + hexport) and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
                if m and m.group(1) in inodes:
                    return int(pid)
        except OSError:
            continue
    sys.exit(f"two_clients: no process of ours listens on port {port}")


def main():
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit(__doc__)
    split = args.index("--")
    command, steps = args[:split], args[split + 1:]
    port = next((int(command[i + 1]) for i in range(len(command) - 1) if command[i] == "-p"),
                None)
    terminals = {}
    for step in steps:
        name, colon, line = step.partition(":")
        name, line = name.strip(), line.strip()
        if name in ("A", "B"):
            if name not in terminals:
                terminals[name] = Terminal(name, command)
                settle(terminals)
            if colon:
                terminals[name].type(line)
        elif step == "ss":
            ss = subprocess.run(["ss", "-ltn", f"sport = :{port}"], capture_output=True,
                                text=True)
            for row in ss.stdout.splitlines():
                print(f"ss | {row}".rstrip())
        elif step == "stop":
            print("(the server is sent SIGTERM)")
            pid = listener_pid(port)
            os.kill(pid, 15)
            end = time.monotonic() + DEADLINE
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < end:
                time.sleep(0.01)  # (not our child: no wait(); its entry goes when it ends)
        else:
            sys.exit(f"two_clients: unknown step {step!r}")
        settle(terminals)
    for name in sorted(terminals):
        t = terminals[name]
        if t.proc.stdin and not t.proc.stdin.closed:
            try:
                t.proc.stdin.close()
            except BrokenPipeError:
                pass
    settle(terminals)
    for name in sorted(terminals):
        t = terminals[name]
        try:
            status = t.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            t.proc.kill()
            status = f"none: still running after {DEADLINE:.0f} s, killed"
            t.proc.wait()
        while t.open:
            t.read()
        t.show()
        print(f"{name} (exit status {status})")


if __name__ == "__main__":
    main()
