#!/usr/bin/env python3
"""Sends lab 08's server three requests a shell cannot type, from one socket, and prints
each reply (docs/08-udp-time.md).

    python3 docs/tools/udp-send.py -p PORT

The requests: b"%Y\\0%m" (a NUL byte inside the format), 1024 times b"A", and an empty
datagram. The server is on 127.0.0.1.
"""
import argparse
import socket

REQUESTS = [b"%Y\0%m", b"A" * 1024, b""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-p", "--port", type=int, required=True)
    args = p.parse_args()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)  # UDP may lose a datagram: never wait forever
        sock.connect(("127.0.0.1", args.port))
        for request in REQUESTS:
            sock.send(request)
            reply = sock.recv(2048)
            print(f"{len(request):4} bytes sent, reply: {reply!r}")


if __name__ == "__main__":
    main()
