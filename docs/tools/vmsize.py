#!/usr/bin/env python3
"""What a server holds after clients that came one after another: threads, VmSize, descriptors.

    python3 docs/tools/vmsize.py SERVER [COUNT...]

Starts SERVER (a lab 05 server program) with `-p 0`, reads its port from its first line
('listening on HOST:PORT'), then lets clients come one after another, each sending one name
and `exit` and reading until the server closes the connection. After 0 clients, and after
each COUNT of them in all (1 10 50 by default), it prints the server's `Threads:` and
`VmSize:` from /proc/PID/status (VmSize in MiB: kB / 1024) and how many descriptors it has
open (/proc/PID/fd). Then it stops the server with SIGTERM. The server inherits the
environment (MALLOC_ARENA_MAX=1, say).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

DEADLINE = 5.0


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return int(fields["Threads"][0]), int(fields["VmSize"][0]) / 1024, fds


def settled(pid, threads):
    """Waits (up to DEADLINE) until the server is back to `threads` threads: the last
    client's thread has ended, as far as the kernel knows."""
    end = time.monotonic() + DEADLINE
    while status(pid)[0] > threads and time.monotonic() < end:
        time.sleep(0.005)


def one_client(port, n):
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        s.sendall(f"c{n}\nexit\n".encode())
        while s.recv(4096):
            pass


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    counts = [int(c) for c in sys.argv[2:]] or [1, 10, 50]
    server = subprocess.Popen([sys.argv[1], "-p", "0"], stdout=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline()
        m = re.search(r"listening on .*:(\d+)$", first.strip())
        if not m:
            sys.exit(f"vmsize: the server's first line is {first!r}, not 'listening on HOST:PORT'")
        port = int(m.group(1))
        print(f"{'connections':>11} {'Threads':>7} {'VmSize':>12} {'fds':>4}")
        done = 0
        for count in [0] + counts:
            while done < count:
                one_client(port, done)
                done += 1
                settled(server.pid, 1)
            threads, vmsize, fds = status(server.pid)
            print(f"{count:>11} {threads:>7} {vmsize:>9.1f} MB {fds:>4}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


if __name__ == "__main__":
    main()
