"""Datagram peers for the UDP labs: a socket that sends and receives with deadlines, and a
Python UDP server (for testing clients) whose handler decides what, and whether, to answer -
so it can drop requests, answer late, or answer from somewhere else."""
from __future__ import annotations

import contextlib
import socket
import threading
from typing import Callable, Iterator, Optional

from .peers import Address
from .trace import TracedSocket
from .timing import Deadline

MAX_DATAGRAM = 65535


class UdpPeer:
    """A UDP socket bound to an ephemeral port of host."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = TracedSocket(Address(host, 0).family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = Address(host, self.sock.getsockname()[1])

    def send_to(self, address: Address, data: bytes) -> None:
        self.sock.sendto(data, (address.host, address.port))

    def recv(self, deadline: Deadline) -> Optional[tuple[bytes, Address]]:
        """The next datagram and its sender, or None if none comes before the deadline."""
        if deadline.expired:
            return None
        self.sock.settimeout(deadline.remaining())
        try:
            data, sender = self.sock.recvfrom(MAX_DATAGRAM)
        except socket.timeout:
            return None
        return data, Address(sender[0], sender[1])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "UdpPeer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def silent_port(host: str = "127.0.0.1") -> Iterator[Address]:
    """A UDP port that is bound but never answers, held for the duration: requests sent there
    vanish, as to a server that is down or a packet lost on the way."""
    with UdpPeer(host) as peer:
        yield peer.address


class UdpPeerServer:
    """A UDP server in a thread: handler(data, sender, server) returns the reply bytes, or None
    to stay silent (a lost request). Every request is kept in `requests`. Exceptions in the
    handler are re-raised in the test by check()."""

    def __init__(self, handler: Callable[[bytes, Address, "UdpPeerServer"], Optional[bytes]],
                 host: str = "127.0.0.1"):
        self.handler = handler
        self.peer = UdpPeer(host)
        self.address = self.peer.address
        self.requests: list[tuple[bytes, Address]] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            got = self.peer.recv(Deadline(0.05))  # short, so that close() is noticed soon
            if got is None:
                continue
            data, sender = got
            self.requests.append((data, sender))
            try:
                reply = self.handler(data, sender, self)
                if reply is not None:
                    self.peer.send_to(sender, reply)
            except BaseException as e:
                self.errors.append(e)

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peer.close()

    def __enter__(self) -> "UdpPeerServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
