"""Lab 02: how the size of the recv() buffer changes the number of reads and the throughput.

The lab 02 server sends a stream of known bytes and closes; the client reads it with -b SIZE
and -q (totals only) into /dev/null. Small buffers mean one system call per few bytes, so
they are measured on a shorter stream (the throughput is a rate; the stream length is kept
in the results)."""
from __future__ import annotations

import re

from .common import Context, median, progress, start_server, timed

LAB = "02-recv-buffer"
SIZES = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576]
QUICK_SIZES = [1, 16, 256, 4096, 65536, 1048576]
MiB = 1 << 20


def stream_length(size: int, quick: bool) -> int:
    full = 32 * MiB if quick else 256 * MiB
    # about 4 million reads at most: a 1-byte buffer on 256 MiB would take minutes
    return min(full, max(MiB, size * (1 << 20 if quick else 1 << 22)))


def run(ctx: Context) -> dict:
    client = ctx.program(LAB, "client")
    rows = []
    for size in QUICK_SIZES if ctx.quick else SIZES:
        length = stream_length(size, ctx.quick)
        server, port = start_server(ctx.program(LAB, "server"), "-n", str(length))
        try:
            times, reads = [], None
            for _ in range(ctx.runs):
                elapsed, out = timed([str(client), "-p", str(port), "-b", str(size), "-q",
                                      "-o", "/dev/null"])
                times.append(elapsed)
                reads = int(re.search(r"(\d+) reads?", out).group(1))
        finally:
            server.kill()
        seconds = median(times)
        rows.append({"buffer": size, "bytes": length, "reads": reads, "seconds": seconds,
                     "mib_per_s": length / MiB / seconds})
        progress(f"  buffer {size:>8} B: {reads:>10} reads, {length / MiB / seconds:9.1f} MiB/s")
    return {"lab": LAB, "rows": rows}
