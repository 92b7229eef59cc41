"""A UDP socket has no port until its first sendto (docs/06-udp-basic.md)."""
import socket

rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))                # someone to send to
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("before sendto:", s.getsockname())
s.sendto(b"hi", rx.getsockname())
print("after sendto: ", s.getsockname())
