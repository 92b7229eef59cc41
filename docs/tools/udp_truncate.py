"""Two datagrams, then the same bytes over TCP, each read 4 bytes at a time (docs/06-udp-basic.md)."""
import socket

rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.sendto(b"0123456789abcdef", rx.getsockname())   # 16 bytes
tx.sendto(b"second", rx.getsockname())
print("UDP: recvfrom(4) ->", rx.recvfrom(4)[0])
print("UDP: recvfrom(4) ->", rx.recvfrom(4)[0])

listener = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(listener.getsockname())
conn, _ = listener.accept()
client.sendall(b"0123456789abcdef")
client.sendall(b"second")
client.close()
print("TCP: recv(4) ->", conn.recv(4))
print("TCP: recv(4) ->", conn.recv(4))
