"""Plots with gnuplot (SVG): one function a figure, fed from the results."""
from __future__ import annotations

import subprocess
from pathlib import Path

STYLE = """\
set terminal svg size 720,420 dynamic font "sans,12"
set output '{out}'
set grid
set key top left
"""


def gnuplot(script: str, data: dict[str, str], out: Path) -> Path:
    """Runs a gnuplot script; data maps $name to whitespace-separated rows."""
    blocks = "".join(f"${name} << EOD\n{rows}EOD\n" for name, rows in data.items())
    subprocess.run(["gnuplot"], input=blocks + STYLE.format(out=out) + script, text=True,
                   check=True, capture_output=True)
    return out


def buffers(result: dict, out: Path) -> Path:
    rows = "".join(f"{r['buffer']} {r['mib_per_s']:.3f} {r['reads']}\n" for r in result["rows"])
    return gnuplot("""\
set title "Lab 02: receiving one stream with recv() buffers of different sizes"
set logscale xy
set xlabel "recv() buffer size (bytes)"
set ylabel "throughput (MiB/s)"
set format x "%.0s%cB"
plot $rows using 1:2 with linespoints lw 2 pt 7 title "throughput"
""", {"rows": rows}, out)


def concurrency(result: dict, out_rate: Path, out_wait: Path) -> list[Path]:
    data = {kind: "".join(f"{r['clients']} {r['conversations_per_s']:.3f} "
                          f"{r['slowest_wait_s'] * 1000:.3f}\n"
                          for r in result["rows"] if r["server"] == kind)
            for kind in ("iterative", "threaded")}
    common = 'set logscale x 2\nset xlabel "clients at once"\n'
    rate = gnuplot(common + """\
set title "Labs 04 and 05: conversations completed per second"
set ylabel "conversations per second"
plot $iterative using 1:2 with linespoints lw 2 pt 7 title "iterative (lab 04)", \\
     $threaded using 1:2 with linespoints lw 2 pt 5 title "threaded (lab 05)"
""", data, out_rate)
    wait = gnuplot(common + """\
set title "Labs 04 and 05: the slowest client's wait for its welcome line"
set ylabel "slowest wait (ms)"
set logscale y
plot $iterative using 1:3 with linespoints lw 2 pt 7 title "iterative (lab 04)", \\
     $threaded using 1:3 with linespoints lw 2 pt 5 title "threaded (lab 05)"
""", data, out_wait)
    return [rate, wait]


def framing(result: dict, out: Path) -> Path:
    rows = "".join(f"\"{r['name']}\" {r['ratio_to_iperf3']:.4f}\n" for r in result["transfers"])
    return gnuplot("""\
set title "Lab 09: one large upload, as a fraction of iperf3's loopback throughput"
set style data histograms
set style fill solid 0.7
set yrange [0:*]
set ylabel "throughput / iperf3 single stream"
set xtics rotate by -20
set key off
plot $rows using 2:xtic(1)
""", {"rows": rows}, out)


def echo(result: dict, out: Path) -> Path:
    rows = "".join(f"{r['message_bytes']} {r['seconds'] * 1000:.3f} {r['messages']}\n"
                   for r in result["echo"])
    return gnuplot("""\
set title "Lab 09: echoing 64 KiB as frames of different sizes"
set logscale xy
set xlabel "bytes per frame"
set ylabel "time for all 64 KiB (ms)"
set key off
plot $rows using 1:2 with linespoints lw 2 pt 7
""", {"rows": rows}, out)
