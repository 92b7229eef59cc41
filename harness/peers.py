"""The other side of the conversation, written in Python: clients that test servers and
servers that test clients, including the misbehaving peers that real networks produce
(one that resets, one that vanishes, one that writes a byte at a time).

Every socket here has a timeout taken from a Deadline: no peer ever waits forever.
"""
from __future__ import annotations

import contextlib
import enum
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from .checks import CheckFailure
from .trace import TracedSocket
from .timing import Deadline, poll_until


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def connect(address: Address, deadline: Deadline) -> socket.socket:
    """A TCP connection to address; CheckFailure if it cannot be made in time."""
    sock = TracedSocket(address.family, socket.SOCK_STREAM)
    sock.settimeout(max(deadline.remaining(), 0.01))
    try:
        sock.connect((address.host, address.port))
    except OSError as e:
        sock.close()
        raise CheckFailure(f"could not connect to {address}: {e.strerror or e}",
                           hint="is the server still running? Its last lines are below.")
    return sock


def local_address(sock: socket.socket) -> Address:
    host, port = sock.getsockname()[:2]
    return Address(host, port)


def _settimeout(sock: socket.socket, deadline: Deadline) -> None:
    if deadline.expired:
        raise socket.timeout("deadline passed")
    sock.settimeout(deadline.remaining())


def send_all(sock: socket.socket, data: bytes, deadline: Deadline) -> None:
    """Sends all of data; a peer that closed, reset or stopped reading is a CheckFailure."""
    try:
        _settimeout(sock, deadline)
        sock.sendall(data)
    except socket.timeout:
        raise CheckFailure(f"the peer stopped reading: {len(data)} bytes could not be sent "
                           f"within {deadline.seconds:g} s")
    except OSError as e:
        raise CheckFailure(f"the connection broke while the harness was still sending "
                           f"({e.strerror or e})", hint="the other side closed or reset the "
                           "connection before it had read everything it was sent")


class Ended(enum.Enum):
    """How a read of a peer's stream ended. str() is the word a check's message shows."""
    EOF = "eof"          # the peer closed its side: recv() returned 0 (end of stream)
    RESET = "reset"      # the peer reset the connection (RST): recv() failed, ECONNRESET
    TIMEOUT = "timeout"  # the deadline passed with the connection still open, silent
    MARKER = "marker"    # recv_until(): the data so far contains the marker it waited for
    LIMIT = "limit"      # the reader's limit of bytes was reached; more may follow

    def __str__(self) -> str:
        return self.value


@dataclass
class Received:
    data: bytes
    ended: Ended  # why the reading stopped


def recv_until_closed(sock: socket.socket, deadline: Deadline, limit: int = 1 << 30) -> Received:
    """Everything the peer sends until it closes (or resets) the connection, or until the
    deadline, or until limit bytes (Ended.LIMIT). Never raises for those endings: the caller
    judges them."""
    chunks, size = [], 0
    while size < limit:
        try:
            _settimeout(sock, deadline)
            chunk = sock.recv(min(65536, limit - size))
        except socket.timeout:
            return Received(b"".join(chunks), Ended.TIMEOUT)
        except ConnectionResetError:
            return Received(b"".join(chunks), Ended.RESET)
        if not chunk:
            return Received(b"".join(chunks), Ended.EOF)
        chunks.append(chunk)
        size += len(chunk)
    return Received(b"".join(chunks), Ended.LIMIT)


def recv_until(sock: socket.socket, marker: bytes, deadline: Deadline,
               limit: int = 1 << 20) -> Received:
    """Reads until the data so far contains marker (Ended.MARKER), or the stream ends (EOF,
    RESET), the deadline passes (TIMEOUT) or limit bytes came without it (LIMIT)."""
    data = b""
    while marker not in data and len(data) < limit:
        try:
            _settimeout(sock, deadline)
            chunk = sock.recv(65536)
        except socket.timeout:
            return Received(data, Ended.TIMEOUT)
        except ConnectionResetError:
            return Received(data, Ended.RESET)
        if not chunk:
            return Received(data, Ended.EOF)
        data += chunk
    return Received(data, Ended.MARKER if marker in data else Ended.LIMIT)


def send_in_pieces(sock: socket.socket, data: bytes, size: int, gap: float,
                   deadline: Deadline) -> None:
    """Writes data `size` bytes at a time with a pause of `gap` seconds between writes, and
    TCP_NODELAY so that each write leaves as its own segment: a slow, fragmenting writer.
    The pause is the behaviour under test (a peer on a slow network), not a synchronisation."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(data), size):
        send_all(sock, data[i:i + size], deadline)
        if gap and i + size < len(data):
            time.sleep(gap)


def reset(sock: socket.socket) -> None:
    """Closes with SO_LINGER {on, 0}: the kernel sends RST instead of FIN, as when a peer
    crashes or its machine disappears."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


TCP_ESTABLISHED = 1  # tcpi_state: open both ways
TCP_FIN_WAIT2 = 5  # tcpi_state: our FIN was acknowledged, so the peer has all our bytes


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of our socket (tcpi_state, the first byte of TCP_INFO)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def vanish_while_paused(proc, sock: socket.socket, data: bytes, deadline: Deadline,
                        step: Callable[[str], None]) -> None:
    """The peer that makes SIGPIPE happen: while the program is paused (SIGSTOP), send data,
    close our side (FIN), wait until its kernel has acknowledged it, then reset (RST). Let go
    on, the program finds the data queued and writes its answer to a connection that is
    gone: send() fails with EPIPE, and raises SIGPIPE unless told not to (MSG_NOSIGNAL).

    The program is first let finish what it was doing (Proc.settle), then paused and seen to
    be: what it does with the connection is then decided before the pause, never by a race
    with it. A program that has ended by then, or closed the connection, fails the check: it
    was to be left with bytes to answer."""
    step("pause the program (SIGSTOP), as if it were busy")
    proc.settle(deadline)
    proc.signal(signal.SIGSTOP)
    try:
        if not proc.settle(deadline):  # stopped now (or ended: then it says so)
            raise CheckFailure(f"the {proc.name} should still be running, with the client "
                               "connected, when the client vanishes",
                               actual=f"the {proc.name} had already {proc.status()}",
                               hint=f"the {proc.name} must not end after one client or one "
                                    "message: it ends when it is stopped, or when its client "
                                    "closes the connection")
        if tcp_state(sock) != TCP_ESTABLISHED:
            raise CheckFailure(f"the {proc.name} should keep the connection open while the "
                               "client is connected",
                               actual=f"it had closed it (our socket is in TCP state "
                                      f"{tcp_state(sock)})",
                               hint="close a connection when the client has closed it (recv() "
                                    "returns 0), not after one message")
        step(f"send {len(data)} bytes, close our side (FIN), wait for its ACK")
        send_all(sock, data, deadline)
        sock.shutdown(socket.SHUT_WR)
        acked = poll_until(lambda: tcp_state(sock) == TCP_FIN_WAIT2, deadline)
        if not acked:
            raise CheckFailure("the program's kernel should acknowledge our FIN",
                               actual=f"our socket is in TCP state {tcp_state(sock)}")
        step("reset (RST); then let the program go on (SIGCONT)")
        reset(sock)
    finally:
        proc.signal(signal.SIGCONT)


@contextlib.contextmanager
def refusing_port(host: str = "127.0.0.1") -> Iterator[Address]:
    """A port where nothing listens, held for the duration: a socket bound to it that never
    calls listen(), so connecting is refused and no one else can take the port meanwhile."""
    address = Address(host, 0)
    with socket.socket(address.family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        yield Address(host, sock.getsockname()[1])


@contextlib.contextmanager
def port_in_use(host: str = "127.0.0.1") -> Iterator[Address]:
    """A port where a Python socket listens, held for the duration."""
    with socket.socket(Address(host, 0).family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen()
        yield Address(host, sock.getsockname()[1])


class PeerServer:
    """A TCP server in a thread, for testing clients: handler(conn, peer_address) runs for each
    connection the client makes. Exceptions in the handler are kept and re-raised by
    check(), so a test never passes because its peer broke."""

    def __init__(self, handler: Callable[[socket.socket, Address], None],
                 host: str = "127.0.0.1", connections: int = 1, timeout: float = 10):
        self.handler = handler
        self.connections = connections
        self._deadline = Deadline(timeout)
        self._listener = TracedSocket(Address(host, 0).family, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self.address = Address(host, self._listener.getsockname()[1])
        self.peers: list[Address] = []
        self.errors: list[BaseException] = []
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            for _ in range(self.connections):
                _settimeout(self._listener, self._deadline)
                conn, peer = self._listener.accept()
                with conn:
                    address = Address(peer[0], peer[1])
                    self.peers.append(address)
                    self.handler(conn, address)
        except socket.timeout:
            pass  # no (more) clients came: the test judges that from what it has
        except BaseException as e:  # re-raised in the test's thread by check()
            if not (self._closing and isinstance(e, OSError)):
                self.errors.append(e)

    def join(self, deadline: Deadline) -> None:
        self._thread.join(deadline.remaining())

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        self._thread.join(5)
        self._listener.close()

    def __enter__(self) -> "PeerServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()



def _proc_net_address(text: str) -> tuple[str, int]:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words of the address in hex, each in
    the machine's byte order, ':' and the port in hex."""
    words, port = text.split(":")
    raw = b"".join(int(words[i:i + 8], 16).to_bytes(4, sys.byteorder)
                   for i in range(0, len(words), 8))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)


def _queues(sock: socket.socket) -> tuple[int | None, int | None]:
    """(bytes we sent that the peer's kernel has not acknowledged yet, bytes the peer's
    kernel holds that the peer's program has not read yet), from the kernel's table of TCP
    sockets (/proc/net/tcp or tcp6; on loopback both ends of a connection are in it). None
    where the socket is not found (the peer has closed its end, say)."""
    ours = sock.getsockname()[:2]
    theirs = sock.getpeername()[:2]
    def norm(address):
        return socket.inet_pton(sock.family, address[0]), address[1]
    ours, theirs = norm(ours), norm(theirs)
    unacked = unread = None
    table = "/proc/net/tcp6" if sock.family == socket.AF_INET6 else "/proc/net/tcp"
    with open(table) as f:
        next(f)  # the column names
        for row in f:
            fields = row.split()
            try:
                local = norm(_proc_net_address(fields[1]))
                remote = norm(_proc_net_address(fields[2]))
            except (ValueError, OSError):
                continue
            tx, rx = (int(n, 16) for n in fields[4].split(":"))
            if local == ours and remote == theirs:
                unacked = tx
            elif local == theirs and remote == ours:
                unread = rx
    return unacked, unread


def wait_read_by_peer(sock: socket.socket, deadline: Deadline) -> bool:
    """Waits until the program at the other end of sock (on this machine) has read every byte
    we sent it: its kernel has acknowledged them, and holds none that its program has not
    taken with recv(). Then the next write cannot join those bytes in one recv(): each write
    arrives as a read of its own. False if that did not happen in time (a program that does
    not read: the check then shows what it did), or if the other end is not on this machine."""
    def drained():
        unacked, unread = _queues(sock)
        return unacked == 0 and unread == 0
    return bool(poll_until(drained, deadline, interval=0.002))


def send_split(sock: socket.socket, pieces: list[bytes], deadline: Deadline) -> bool:
    """Writes each piece as a segment of its own (TCP_NODELAY) and waits, after each, until the
    program at the other end has read it (wait_read_by_peer), so that each piece reaches it
    through a recv() of its own: a line or frame split exactly there, never a race. Returns
    False if the program did not read a piece (but the first ones) in time."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i, piece in enumerate(pieces):
        send_all(sock, piece, deadline)
        if i + 1 < len(pieces) and not wait_read_by_peer(sock, deadline):
            return False
    return True
