"""Labs 04 and 05: an iterative server against a threaded one, 1 to 64 clients at once.

Each client holds conversations one after another: connect, read the welcome line, send a
few lines and read each answer, with a short pause between lines as a person typing would
make (THINK seconds), send "exit", read to the end. While one client thinks, an iterative
server can serve nobody else; a threaded server serves the others meanwhile. Measured:
completed conversations per second, and the slowest client's wait for its first answer
(connect to welcome line), which is where an iterative server makes clients queue. A client
that waits longer than GIVE_UP seconds gives up; those are counted, not hidden: with more
clients than the listen backlog holds, an iterative server's kernel drops connection
attempts, and clients retry after 1, 3, 7... seconds."""
from __future__ import annotations

import socket
import threading
import time

from .common import Context, median, progress, start_server

LABS = {"iterative": "04-tcp-iterative", "threaded": "05-tcp-threaded"}
CLIENTS = [1, 2, 4, 8, 16, 32, 64]
QUICK_CLIENTS = [1, 4, 16]
LINES = 3
THINK = 0.005
GIVE_UP = 10.0


def read_line(sock: socket.socket, buf: bytearray) -> bytes:
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed early")
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


def conversation(port: int) -> float:
    """One conversation; returns the wait from connect() to the welcome line."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP) as sock:
        buf = bytearray()
        read_line(sock, buf)
        waited = time.perf_counter() - start
        for i in range(LINES):
            time.sleep(THINK)  # a person typing: the pause is the workload, not a sync
            sock.sendall(f"name{i}\n".encode())
            read_line(sock, buf)
        sock.sendall(b"exit\n")
        while sock.recv(4096):
            pass
    return waited


def measure(port: int, clients: int, seconds: float) -> tuple[float, float, int]:
    """(conversations per second, slowest wait, conversations given up) with `clients`
    clients for about `seconds`."""
    done, worst, gave_up, lock = [0], [0.0], [0], threading.Lock()
    stop = time.perf_counter() + seconds

    def client():
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                waited = conversation(port)
            except OSError:  # timed out, refused or reset: the client gave up
                with lock:
                    gave_up[0] += 1
                    worst[0] = max(worst[0], time.perf_counter() - start)
                continue
            with lock:
                done[0] += 1
                worst[0] = max(worst[0], waited)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - start), worst[0], gave_up[0]


def run(ctx: Context) -> dict:
    seconds = 1.0 if ctx.quick else 3.0
    rows = []
    for kind, lab in LABS.items():
        for clients in QUICK_CLIENTS if ctx.quick else CLIENTS:
            rates, waits, failures = [], [], []
            for _ in range(ctx.runs):
                server, port = start_server(ctx.program(lab, "server"))
                try:
                    rate, wait, gave_up = measure(port, clients, seconds)
                finally:
                    server.kill()
                rates.append(rate)
                waits.append(wait)
                failures.append(gave_up)
            rows.append({"server": kind, "clients": clients,
                         "conversations_per_s": median(rates), "slowest_wait_s": median(waits),
                         "gave_up": median(failures)})
            progress(f"  {kind:>9}, {clients:>2} clients: {median(rates):8.1f} conversations/s,"
                     f" slowest wait {median(waits) * 1000:8.1f} ms,"
                     f" {median(failures):g} gave up")
    return {"labs": LABS, "lines": LINES, "think_s": THINK, "give_up_s": GIVE_UP,
            "seconds": seconds, "rows": rows}
