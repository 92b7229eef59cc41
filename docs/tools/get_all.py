#!/usr/bin/env python3
"""An HTTP-like client: sends a request, then reads 1024 bytes at a time until the end.

    python3 docs/tools/get_all.py -p PORT

It connects to 127.0.0.1:PORT, sends `GET / HTTP/1.0` and an empty line, and never sends
anything else. It prints how many bytes it received and how the stream ended: the end of the
stream (recv() returned 0), or an error such as a reset (docs/02-recv-buffer.md).
"""
import argparse
import socket


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-p", "--port", type=int, required=True)
    args = p.parse_args()
    with socket.create_connection(("127.0.0.1", args.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        received = 0
        try:
            while chunk := sock.recv(1024):
                received += len(chunk)
        except OSError as e:  # ConnectionResetError, a timeout
            print(f"{received} bytes, then: {e.strerror or e}")
            return
    print(f"{received} bytes, then the end of the stream")


if __name__ == "__main__":
    main()
