"""What a grading costs an instructor's machine: seconds, CPU and peak memory.

A copy of the reference solutions and a copy of the untouched skeletons are graded lab by
lab as an instructor grades a student's tree (`python3 -m grader grade --impl TREE LAB`: the
sandbox, a fresh compile), the way Gradescope's run_autograder and the PrairieLearn
entrypoint grade a submission too. The reference runs every check to its end; the skeleton
fails each at its first step, so the two bound what a real submission costs.

Peak memory is the largest sum of the resident memory of the grading's processes (the
grader, the room, pytest, the peers, the student's programs and their compile), sampled
every 50 ms: an upper bound of what the grading held at once (shared pages count once per
process), and the figure to size a platform's memory setting with. CPU is user + system
time of every process of the grading: a cgroup v1 cpuacct group of the benchmark's own holds
them all (the grader moves the student's programs to cgroups of its own in the memory, pids
and cpu hierarchies, never in cpuacct); without one, the kernel's accounting of the children
the grader waited for, which misses what runs in the sandbox's pid namespaces."""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import programs, registry

from .common import Context, progress

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
SAMPLE_EVERY = 0.05  # seconds between two looks at the process tree's memory
TIMEOUT = 3600  # seconds for one whole grading


def children_of() -> dict[int, list[int]]:
    """Every process's children, from /proc (a process that ends mid-read is skipped)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def tree_resident(root: int) -> int:
    """The resident memory of root and all its descendants, summed."""
    tree, total, todo = children_of(), 0, [root]
    while todo:
        pid = todo.pop()
        total += resident_bytes(pid)
        todo += tree.get(pid, [])
    return total


def cpu_group() -> Path | None:
    """A cpuacct cgroup of our own, or None where there is none to make (cgroup v2 only, or
    not root)."""
    group = CPUACCT / f"socklab-bench-{os.getpid()}"
    try:
        group.mkdir()
        return group
    except OSError:
        return None


def measure(cmd: list[str], cwd: Path) -> dict:
    """Runs cmd to its end; its wall seconds, CPU seconds and peak memory (MiB)."""
    group = cpu_group()
    try:
        return measure_in(cmd, cwd, group)
    finally:
        if group:
            group.rmdir()


def measure_in(cmd: list[str], cwd: Path, group: Path | None) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    join = (lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group else None
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", preexec_fn=join)
    peak = 0
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()), daemon=True)
    reader.start()
    deadline = started + TIMEOUT
    while proc.poll() is None:
        if time.perf_counter() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{' '.join(cmd)} took longer than {TIMEOUT} s")
        peak = max(peak, tree_resident(proc.pid))
        time.sleep(SAMPLE_EVERY)  # no event says "memory grew": sample
    reader.join(timeout=10)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if group:
        cpu = int((group / "cpuacct.usage").read_text()) / 1e9
    else:
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "peak_memory_mib": round(peak / (1 << 20)), "status": proc.returncode,
            "scoreboard": "".join(output)[-2000:]}


def grade_copy(ctx: Context, source: Path, lab: str, work: Path) -> dict:
    tree = work / source.name
    if not tree.exists():
        shutil.copytree(source, tree, ignore=shutil.ignore_patterns("README.md"))
    cmd = [sys.executable, "-m", "grader", "grade", "--impl", str(tree),
           "--build-dir", str(ctx.build_dir), "--out", str(work / f"{source.name}-reports"), lab]
    return measure(cmd, programs.ROOT)


def run(ctx: Context) -> dict:
    """Each lab graded on its own, as a platform grades a one-lab assignment; the sums are
    what grading all nine one after the other costs."""
    labs = [registry.labs()[0].name] if ctx.quick else [lab.name for lab in registry.labs()]
    results = {"labs": labs, "sample_every_s": SAMPLE_EVERY, "cpus": os.cpu_count(),
               "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="socklab-bench-grading-") as work:
        for name, source in (("reference", programs.ROOT / "solutions"),
                             ("skeleton", programs.ROOT / "labs")):
            per_lab = {}
            for lab in labs:
                progress(f"  {lab}: grading a copy of {source.name}/ ...")
                per_lab[lab] = grade_copy(ctx, source, lab, Path(work))
                per_lab[lab].pop("scoreboard")
                progress(f"    {per_lab[lab]['seconds']} s, {per_lab[lab]['cpu_seconds']} s "
                         f"CPU, peak {per_lab[lab]['peak_memory_mib']} MiB")
            results[name] = {
                "labs": per_lab,
                "seconds": round(sum(r["seconds"] for r in per_lab.values()), 1),
                "cpu_seconds": round(sum(r["cpu_seconds"] for r in per_lab.values()), 1),
                "peak_memory_mib": max(r["peak_memory_mib"] for r in per_lab.values())}
    results["load_after"] = os.getloadavg()[0]
    return results
