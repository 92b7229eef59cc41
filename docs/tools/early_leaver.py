#!/usr/bin/env python3
"""A client that half-closes, reads 7 bytes of the payload, and leaves.

    python3 docs/tools/early_leaver.py -p PORT

It connects to 127.0.0.1:PORT. Closing a socket whose receive queue still holds bytes makes
the kernel reset the connection: the server's next send() fails (docs/02-recv-buffer.md,
MSG_NOSIGNAL).
"""
import argparse
import socket


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-p", "--port", type=int, required=True)
    args = p.parse_args()
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sock.shutdown(socket.SHUT_WR)  # FIN: "I will send nothing more"
    print(sock.recv(7))            # read 7 bytes of the payload...
    sock.close()                   # ...and leave: unread data, so the kernel resets


if __name__ == "__main__":
    main()
