"""Resource limits for programs under test, so that one submission's fork bomb, endless loop
or runaway write costs that submission its points and nothing else.

Two layers:
- rlimits on every program the harness starts (`prlimit`, from util-linux): CPU seconds,
  address space, file size, processes.
- RLIMIT_NPROC counts per user, and root ignores it; so batch grading also puts each
  submission in a cgroup of its own with a cap on processes (pids.max), where the machine
  lets us create one (cgroup v1 `pids`, or cgroup v2).
"""
from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 60        # CPU time per program: an endless loop ends here at the latest
    memory: int = 2048 * MiB     # address space per program (threads reserve 8 MiB of stack)
    file_size: int = 256 * MiB   # the largest file a program may write (lab 09 stores 50 MiB)
    processes: int = 256         # per user; enforced for non-root users only (see cgroups)

    def prefix(self, under_valgrind: bool = False) -> list[str]:
        """The prlimit command that applies these limits to the command that follows it."""
        prlimit = shutil.which("prlimit")
        if prlimit is None:
            return []
        args = [prlimit, f"--cpu={self.cpu_seconds}", f"--fsize={self.file_size}",
                f"--nproc={self.processes}"]
        if not under_valgrind:  # valgrind maps far more address space than the program uses
            args.append(f"--as={self.memory}")
        return [*args, "--"]


def parse_size(text: str) -> int:
    """'256M', '1G', '4096' -> bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


class ProcessCap:
    """A cgroup holding one submission's processes, at most `limit` of them. Use
    `wrap(argv)` to start a command inside it, and `kill_all()` / `remove()` when done."""

    ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))

    def __init__(self, name: str, limit: int):
        self.path: Optional[Path] = None
        for root in self.ROOTS:
            if not (root / "cgroup.procs").exists():
                continue
            if root.name != "pids" and "pids" not in _read(root / "cgroup.controllers"):
                continue
            path = root / "socklab" / name
            try:
                path.mkdir(parents=True, exist_ok=True)
                (path / "pids.max").write_text(str(limit))
            except OSError:
                continue
            self.path = path
            break

    @property
    def available(self) -> bool:
        return self.path is not None

    def wrap(self, argv: list[str]) -> list[str]:
        """argv, started by a shell that first moves itself into the cgroup."""
        if self.path is None:
            return argv
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "socklab-cap", *argv]

    def kill_all(self) -> None:
        if self.path is None:
            return
        for _ in range(100):  # a fork bomb may fork while we kill: repeat until empty
            pids = [int(p) for p in _read(self.path / "cgroup.procs").split()]
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self) -> None:
        if self.path is not None:
            self.kill_all()
            try:
                self.path.rmdir()
            except OSError:
                pass


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
