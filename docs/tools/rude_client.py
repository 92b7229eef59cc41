#!/usr/bin/env python3
"""A client that sends 40000 bytes, closes its side, and resets without reading the echo.

    python3 docs/tools/rude_client.py [--pause PID] PORT|LOGFILE

PORT is the server's port on 127.0.0.1; or give the file the server's output goes to, and
the port is read from its line 'listening on HOST:PORT' (waiting for it, up to 5 s).
--pause PID stops that process (SIGSTOP) while the client does its work, as if the server
were busy, and lets it go on (SIGCONT) once the reset has arrived: the server then finds
bytes to echo to a connection that is gone (docs/03-tcp-echo.md, SIGPIPE).
"""
import argparse
import os
import re
import signal
import socket
import struct
import sys
import time


def port_of(where: str) -> int:
    if where.isdigit():
        return int(where)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(where) as f:
                m = re.search(r"listening on .*:(\d+)$", f.readline().strip())
            if m:
                return int(m.group(1))
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    sys.exit(f"rude_client: no 'listening on HOST:PORT' line in {where} after 5 s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pause", type=int, metavar="PID")
    p.add_argument("where", metavar="PORT|LOGFILE")
    args = p.parse_args()
    port = port_of(args.where)
    if args.pause:
        os.kill(args.pause, signal.SIGSTOP)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"x" * 40000)
        sock.shutdown(socket.SHUT_WR)   # FIN: "I will send nothing more"
        time.sleep(0.1)                 # let the FIN arrive and be acknowledged
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()                    # with SO_LINGER {1, 0}: RST, "this connection is gone"
    finally:
        if args.pause:
            os.kill(args.pause, signal.SIGCONT)


if __name__ == "__main__":
    main()
