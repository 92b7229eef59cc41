"""Lab 09: what framing costs.

1. One large upload through the reference protocol (a JSON header with name and size, the
   body, a JSON trailer with its SHA-256, hashed on both sides while the bytes travel; the
   server verifies and stores it), and the same with -N (no hashing on either side), against
   the same bytes through socat (with its default 8 KiB blocks and with 1 MiB blocks, file to
   file) and iperf3's single stream (memory to memory), and one core's SHA-256 rate through
   the same library on the same chunk size (tools/sha256-speed). Each transfer is timed to
   the end of the receiving side. The goals are ratios within the run: the upload against
   min(iperf3, SHA-256), the upload against socat's default, the upload without hashing
   against iperf3.
2. The same 64 KiB echoed as one frame and as many small ones, through the reference echo
   server: the price of a length prefix, a recv() and a send() per message.

Files live in /dev/shm when it exists, so the disk does not take part."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from harness import Deadline, Proc

from .common import (Context, free_port, median, progress, start_server, timed,
                     wait_listening)

LAB = "09-sticky-packets"
MiB = 1 << 20
# The echo client takes its messages as arguments, and Linux caps one argument at 128 KiB.
ECHO_TOTAL = 64 * 1024
ECHO_SIZES = [64 * 1024, 4096, 256, 16]
CHUNK_LEN = 256 * 1024  # the lab's CHUNK_LEN: how much the client and server hash at a time
UPLOAD_GOAL = 0.8  # of min(iperf3, SHA-256)


def scratch_dir() -> Path:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    return Path(tempfile.mkdtemp(prefix="socklab-bench-", dir=base))


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(block)


def upload(ctx: Context, source: Path, work: Path, *flags: str) -> float:
    store = work / "uploads"
    store.mkdir(exist_ok=True)
    server, port = start_server(ctx.program(LAB, "server"), *flags, "-d", str(store), "upload")
    try:
        seconds, _ = timed([str(ctx.program(LAB, "client")), *flags, "-p", str(port), "upload",
                            str(source)])
    finally:
        server.kill()
    for stored in store.iterdir():
        stored.unlink()
    return seconds


def socat(source: Path, work: Path, block: int | None) -> float:
    """The same file through socat, file to file: seconds until the receiver has it all."""
    port = free_port()
    sink = work / "socat-received"
    size = ["-b", str(block)] if block else []
    receiver = Proc("socat", ["socat", *size, "-u", f"TCP-LISTEN:{port},bind=127.0.0.1",
                              f"OPEN:{sink},creat,trunc"], stdin_data=False)
    try:
        wait_listening(port)  # without connecting: socat serves exactly one connection
        start = time.perf_counter()
        subprocess.run(["socat", *size, "-u", f"OPEN:{source}", f"TCP:127.0.0.1:{port}"],
                       check=True, capture_output=True, timeout=600)
        receiver.wait(Deadline(600))
        return time.perf_counter() - start
    finally:
        receiver.kill()
        sink.unlink(missing_ok=True)


def iperf3(size: int) -> float:
    """iperf3's single stream, memory to memory: seconds for size bytes at its rate."""
    port = free_port()
    server = Proc("iperf3", ["iperf3", "-s", "-1", "-p", str(port), "-B", "127.0.0.1"],
                  stdin_data=False)
    try:
        wait_listening(port)
        done = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-n", str(size),
                               "-J"], capture_output=True, text=True, timeout=600, check=True)
        rate = json.loads(done.stdout)["end"]["sum_received"]["bits_per_second"] / 8
    finally:
        server.kill()
    return size / rate


def sha256_speed(ctx: Context, size: int) -> float:
    """Seconds one core takes to hash size bytes with libcrypto's EVP SHA-256, CHUNK_LEN bytes
    per update: the bound that hashing puts on the upload."""
    tool = ctx.build_dir / "tools" / "sha256-speed"
    _, out = timed([str(tool), str(CHUNK_LEN), str(size)])
    hashed, seconds = out.split()
    return float(seconds) * size / int(hashed)


def echo(ctx: Context, port: int, size: int) -> float:
    messages = ["x" * size] * (ECHO_TOTAL // size)
    seconds, _ = timed([str(ctx.program(LAB, "client")), "-p", str(port), "echo", *messages])
    return seconds


def run(ctx: Context) -> dict:
    size = (64 if ctx.quick else 512) * MiB
    work = scratch_dir()
    try:
        source = work / "payload.bin"
        make_file(source, size)
        measures = {"iperf3 single stream": lambda: iperf3(size),
                    "SHA-256, one core": lambda: sha256_speed(ctx, size),
                    "lab 09 upload": lambda: upload(ctx, source, work),
                    "lab 09 upload, -N (no hashing)": lambda: upload(ctx, source, work, "-N"),
                    "socat, 8 KiB blocks (default)": lambda: socat(source, work, None),
                    "socat, 1 MiB blocks": lambda: socat(source, work, MiB)}
        seconds = {name: [] for name in measures}
        for _ in range(ctx.runs):  # interleaved, so a slow moment hurts all alike
            for name, measure in measures.items():
                seconds[name].append(measure())
        rates = {name: size / median(times) for name, times in seconds.items()}
        ceiling = rates["iperf3 single stream"]
        transfers = []
        for name, times in seconds.items():
            rate = rates[name]
            transfers.append({"name": name, "bytes": size, "seconds": median(times),
                              "runs": times, "mib_per_s": rate / MiB,
                              "ratio_to_iperf3": rate / ceiling})
            progress(f"  {name:<32} {rate / MiB:9.1f} MiB/s  ({rate / ceiling:5.2f} of iperf3)")
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    goals = upload_goals(rates)

    server, port = start_server(ctx.program(LAB, "server"), "echo")
    try:
        frames = []
        for each in ECHO_SIZES:
            secs = median([echo(ctx, port, each) for _ in range(ctx.runs)])
            frames.append({"message_bytes": each, "messages": ECHO_TOTAL // each,
                           "seconds": secs, "mib_per_s": ECHO_TOTAL / MiB / secs})
            progress(f"  echo 64 KiB as {ECHO_TOTAL // each:>5} frames of {each:>6} B: "
                     f"{secs * 1000:8.1f} ms")
    finally:
        server.kill()
    return {"lab": LAB, "chunk_bytes": CHUNK_LEN, "transfers": transfers, "goals": goals,
            "echo": frames}


def upload_goals(rates: dict[str, float]) -> list[dict]:
    """The upload's goals, each a ratio of two rates measured in this run."""
    upload, bare = rates["lab 09 upload"], rates["lab 09 upload, -N (no hashing)"]
    iperf, sha = rates["iperf3 single stream"], rates["SHA-256, one core"]
    socat = rates["socat, 8 KiB blocks (default)"]
    bound_name = "SHA-256" if sha < iperf else "iperf3"
    goals = [
        {"goal": f"upload / min(iperf3, SHA-256) >= {UPLOAD_GOAL}",
         "ratio": upload / min(iperf, sha), "target": UPLOAD_GOAL,
         "detail": f"{upload / MiB:,.1f} MiB/s against {bound_name}'s "
                   f"{min(iperf, sha) / MiB:,.1f} MiB/s"},
        {"goal": "upload / socat default > 1",
         "ratio": upload / socat, "target": 1.0, "strict": True,
         "detail": f"{upload / MiB:,.1f} against {socat / MiB:,.1f} MiB/s"},
        {"goal": "upload without hashing (-N) / iperf3 (reported)",
         "ratio": bare / iperf, "target": None,
         "detail": f"{bare / MiB:,.1f} against {iperf / MiB:,.1f} MiB/s"},
    ]
    for g in goals:
        target = g["target"]
        g["met"] = None if target is None else (g["ratio"] > target if g.get("strict")
                                                else g["ratio"] >= target)
        verdict = {True: "met", False: "NOT met", None: "for the record"}[g["met"]]
        progress(f"  {g['goal']:<48} {g['ratio']:5.2f}  {verdict}  ({g['detail']})")
    return goals
