#!/usr/bin/env python3
"""A client for lab 09's server that can lie (docs/09-sticky-packets.md).

    python3 docs/tools/peer.py -p PORT MODE

MODE, against `server upload` (each prints the server's answer):
  corrupt     notes.txt's 32 bytes, with a trailer carrying the checksum of other bytes
  short       notes.txt's 32 bytes, the last 10 kept back (then the end of the stream)
  slow        300000 zero bytes as slow.bin, pausing halfway until you press Enter
  late        the same as late.bin, pausing after the whole file, before the trailer
  seed        notes.txt's bytes as seed.txt, the tutorials' way: the digest in the header
  nul-name    6 bytes named "safe.txt\\u0000../../etc/passwd" (prints the header and the
              trailer it sends, then the answer)
and against `server echo`:
  little-endian  the frame b"hello" with its length in this PC's byte order, as
                 struct.pack('i') writes it; prints what comes back
The server is on 127.0.0.1.
"""
import argparse
import fcntl
import hashlib
import json
import socket
import struct
import sys
import termios
import time

NOTES = b"Where does a message end? Here.\n"  # the walkthrough's notes.txt: 32 bytes
PORT = 9009


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"the server closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def frame(payload):
    return struct.pack("!I", len(payload)) + payload


def wait_until_acknowledged(sock):
    """Waits (at most 5 s) until the server's kernel has every byte sent so far, so that
    what `ls` shows during a pause does not depend on when it is run."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        unacked = fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0\0\0\0")  # SIOCOUTQ on a socket
        if struct.unpack("i", unacked)[0] == 0:
            return
        time.sleep(0.01)


def upload(name, body, checksum_of=None, send=None, pause_after=None, seed=False, show=False):
    digest = hashlib.sha256(body if checksum_of is None else checksum_of).hexdigest()
    if seed:  # the tutorials' way: the digest in the header, no trailer
        header = {"name": name, "size": len(body), "sha256": digest}
        data = frame(json.dumps(header).encode()) + body
    else:
        header = {"name": name, "size": len(body)}
        trailer = {"sha256": digest}
        data = frame(json.dumps(header).encode()) + body + frame(json.dumps(trailer).encode())
        if show:
            print(json.dumps(header))
            print(json.dumps(trailer))
    with socket.create_connection(("127.0.0.1", PORT), timeout=30) as sock:
        if pause_after is None:
            sock.sendall(data[:send])
        else:
            sock.sendall(data[:pause_after])
            wait_until_acknowledged(sock)
            print(f"sent {pause_after} of {len(data)} bytes; press Enter for the rest", flush=True)
            sys.stdin.readline()
            sock.sendall(data[pause_after:])
        sock.shutdown(socket.SHUT_WR)
        (length,) = struct.unpack("!I", recv_exact(sock, 4))
        print(recv_exact(sock, length).decode())


def little_endian():
    with socket.create_connection(("127.0.0.1", PORT), timeout=30) as sock:
        sock.sendall(struct.pack("<I", 5) + b"hello")
        try:
            reply = sock.recv(100)
        except ConnectionResetError:  # it closed with bytes of ours unread: the kernel resets
            print("the server reset the connection")
            return
        print(f"the server's reply: {reply!r}" if reply else "the server closed the connection")


def main():
    global PORT
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-p", "--port", type=int, default=PORT)
    p.add_argument("mode", choices=["corrupt", "short", "slow", "late", "seed", "nul-name",
                                    "little-endian"])
    args = p.parse_args()
    PORT = args.port
    zeros = bytes(300000)
    header_len = 4 + len(json.dumps({"name": "late.bin", "size": len(zeros)}))
    if args.mode == "corrupt":
        upload("corrupt.txt", NOTES, checksum_of=b"other bytes")
    elif args.mode == "short":
        upload("short.txt", NOTES, send=4 + len(json.dumps({"name": "short.txt", "size": 32}))
               + len(NOTES) - 10)
    elif args.mode == "slow":
        upload("slow.bin", zeros, pause_after=150000)
    elif args.mode == "late":
        upload("late.bin", zeros, pause_after=header_len + len(zeros))
    elif args.mode == "seed":
        upload("seed.txt", NOTES, seed=True)
    elif args.mode == "nul-name":
        upload("safe.txt\0../../etc/passwd", b"hello\n", show=True)
    else:
        little_endian()


if __name__ == "__main__":
    main()
