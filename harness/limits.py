"""Per-process resource limits for programs under test (`prlimit`, from util-linux): CPU
seconds, address space, file size, processes. What a submission may use in total (memory,
processes, CPU, disk) is capped by its sandbox's cgroup and scratch (sandbox.py); the table
of which mechanism enforces which limit is in docs/instructors.md.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass

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
