"""What every benchmark needs: the reference programs, servers on free ports, timing."""
from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import Deadline, Proc, listening_address, programs


@dataclass
class Context:
    build_dir: Path
    out: Path
    quick: bool
    runs: int

    def program(self, lab: str, name: str) -> Path:
        return programs.find(self.build_dir, "solutions", lab).programs[name]


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def start_server(path: Path, *args: str) -> tuple[Proc, int]:
    """A reference server on an OS-chosen port, read from its "listening on" line as the
    checks read it; (its Proc, the port)."""
    proc = Proc(path.name, [str(path), "-p", "0", *args])
    address = listening_address(proc, Deadline(10))
    if address is None:
        proc.kill()
        raise RuntimeError(f"{path} did not start: {proc.stderr.text}")
    return proc, address.port


def free_port() -> int:
    """A port that was free a moment ago, for tools that cannot take -p 0 (iperf3, socat)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, deadline: Deadline | None = None) -> None:
    """Waits until a socket listens on port, without connecting to it (socat and iperf3 -1
    serve one connection only): /proc/net/tcp lists it with state 0A, LISTEN."""
    deadline = deadline or Deadline(10)
    hex_port = f":{port:04X} "
    while not deadline.expired:
        with open("/proc/net/tcp") as f:
            if any(hex_port in line and line.split()[3] == "0A" for line in f):
                return
        time.sleep(0.01)  # no event to wait on: a tool that prints nothing when ready
    raise RuntimeError(f"nothing listens on port {port}")


def timed(cmd: list[str], timeout: float = 600) -> tuple[float, str]:
    """Runs cmd; (wall seconds, stdout). Fails loudly: a benchmark of a failure is no figure."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed, done.stdout
