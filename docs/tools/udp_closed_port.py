"""Sends to a UDP port where nothing is bound, unconnected then connected (docs/06-udp-basic.md).

    python3 docs/tools/udp_closed_port.py -p PORT
"""
import argparse
import socket

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("-p", "--port", type=int, required=True)
port = p.parse_args().port

for connected in (False, True):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    if connected:
        s.connect(("127.0.0.1", port))
        s.send(b"hello")
    else:
        s.sendto(b"hello", ("127.0.0.1", port))
    try:
        s.recv(65535)
    except OSError as e:
        print("connected" if connected else "unconnected", "->", type(e).__name__, e)
    s.close()
