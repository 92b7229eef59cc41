#!/usr/bin/env python3
"""A stand-in for the servers of labs 06 and 07 that misbehaves on purpose, to try a client.

    python3 docs/tools/udp_standin.py [-p PORT] [--drop N] [--delay SECONDS] [--stranger TEXT]

Like the real servers, it receives on 127.0.0.1 (port 0, the default, lets the OS choose),
prints `listening on 127.0.0.1:PORT` first, and answers each datagram with its uppercase
copy from the same socket: `hello` gets `HELLO` (lab 06), `3 hello` gets `3 HELLO` (lab 07).
Ctrl-C or SIGTERM stops it. What it does wrong, on request:

  --drop N          drops the first N datagrams (no reply at all)
  --delay SECONDS   answers each datagram that much later (a slow network, or a slow server);
                    it goes on receiving in the meantime
  --stranger TEXT   when the first datagram arrives, a second socket, on another port, sends
                    TEXT to its sender first: a stranger who knows the client's address

Used by docs/06-udp-basic.md (a stranger) and docs/07-udp-reliable.md (late replies, a
stranger with the right id).
"""
import argparse
import heapq
import select
import signal
import socket
import sys
import time


class Stop(Exception):
    """SIGINT or SIGTERM arrived."""


def on_signal(signum, frame):
    raise Stop()


def show(addr) -> str:
    return f"{addr[0]}:{addr[1]}"


def serve(sock: socket.socket, args) -> None:
    pending = []  # (when, seq, reply, address): the replies not sent yet, soonest first
    received = 0
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        ready, _, _ = select.select([sock], [], [], timeout)
        while pending and pending[0][0] <= time.monotonic():
            _, _, reply, peer = heapq.heappop(pending)
            sock.sendto(reply, peer)
        if not ready:
            continue
        data, peer = sock.recvfrom(65535)
        received += 1
        if received == 1 and args.stranger is not None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
                stranger.bind(("127.0.0.1", 0))
                stranger.sendto(args.stranger.encode(), peer)
                print(f"a stranger at {show(stranger.getsockname())} sent "
                      f"{args.stranger!r} to {show(peer)}", flush=True)
        if received <= args.drop:
            print(f"datagram of {len(data)} bytes from {show(peer)}: dropped", flush=True)
        elif args.delay > 0:
            print(f"datagram of {len(data)} bytes from {show(peer)}: answering in "
                  f"{args.delay:g} s", flush=True)
            heapq.heappush(pending, (time.monotonic() + args.delay, received, data.upper(), peer))
        else:
            sock.sendto(data.upper(), peer)
            print(f"datagram of {len(data)} bytes from {show(peer)}: answered", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-p", "--port", type=int, default=0)
    p.add_argument("--drop", type=int, default=0, metavar="N")
    p.add_argument("--delay", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--stranger", metavar="TEXT")
    args = p.parse_args()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", args.port))
        print(f"listening on {show(sock.getsockname())}", flush=True)
        try:
            serve(sock, args)
        except Stop:
            print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
