#!/usr/bin/env python3
"""Two sends, read with a 7-byte buffer: over UDP, then over TCP (docs/02-recv-buffer.md).

    python3 docs/tools/udp_vs_tcp.py
"""
import socket

# UDP: two datagrams, read with a 7-byte buffer
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.sendto(b"first datagram", rx.getsockname())
tx.sendto(b"second datagram", rx.getsockname())
print("UDP:", rx.recv(7), rx.recv(7))

# TCP: the same two sends, read with a 7-byte buffer
listener = socket.create_server(("127.0.0.1", 0))
a = socket.create_connection(listener.getsockname())
b, _ = listener.accept()
a.sendall(b"first datagram")
a.sendall(b"second datagram")
a.close()
chunks = []
while chunk := b.recv(7):
    chunks.append(chunk)
print("TCP:", *chunks)
