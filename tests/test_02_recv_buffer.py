"""Lab 02 - recv-buffer: recv() returns what is there, not a message.

The server sends a payload and closes; the client reads it with a buffer of -b SIZE bytes and
reports every recv(). The server is tested with Python clients, the client with Python servers
(some of which send in pieces, in lock step with the client, so that what each recv() returns
is known exactly), and with Python's own http.server; the last tests put the two programs
together. The order follows the handout (labs/02-recv-buffer/README.md).

Every check here also holds with --short-io 7, where each send() and recv() of the programs
moves at most 7 bytes: a chunk is then never longer than 7 bytes, and there are more reads.
"""
from __future__ import annotations

import fcntl
import os
import random
import re
import signal
import socket
import struct
import termios
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from harness import (PYTHON, CheckFailure, Deadline, Proc, Result, expect, expect_equal, peers,
                     poll_until, read_program_file, show)

LAB = "02-recv-buffer"

ADDR = r"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):(\d+)"
DEFAULT_TEXT = b"TCP delivers a stream of bytes, not messages.\n"
PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+\n"
SIZES = [1, 2, 7, 1024, 65536]
MIB = 1 << 20
BIG = 32 * MIB  # more than the socket buffers hold: the server is still sending

CHUNK_LINE = re.compile(rb"^recv (\d+): (\d+) bytes?(.*)\n", re.MULTILINE)
TOTAL_LINE = r"^total: (\d+) bytes in (\d+) reads? \(buffer (\d+) bytes\)$"
EOF_TAIL = b", end of stream"


def pattern(n: int) -> bytes:
    """The server's -n payload: byte i is PATTERN[i % 64]."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def noise(n: int, seed: int = 2) -> bytes:
    """n random bytes, none of them NUL: the payload of the checks whose lesson is not the
    NUL byte (reading to the end, buffer sizes, -o -, HTTP), so that a client that writes
    chunks as C strings fails the NUL checks alone, not every check of the lab."""
    return bytes(b % 255 + 1 for b in random.Random(seed).randbytes(n))


def binary(n: int, seed: int = 2) -> bytes:
    """n random bytes with a NUL every 17 bytes (from the second on): a payload that only
    survives as bytes, never as a C string."""
    data = bytearray(random.Random(seed).randbytes(n))
    data[1::17] = bytes(len(data[1::17]))
    if n:
        data[0] = ord("x")
    return bytes(data)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# -- reading the client's report ---------------------------------------------------------------

@dataclass
class Reads:
    """What the client's report lines say about its recv() calls."""
    numbers: list[int]      # the N of every "recv N:" line, in order
    chunks: list[int]       # the byte counts of the recv()s that returned data
    eof_at: Optional[int]   # N of the "recv N: 0 bytes, end of stream" line, if any

    @property
    def total(self) -> int:
        return sum(self.chunks)


def parse_reads(report: bytes) -> Reads:
    numbers, chunks, eof_at = [], [], None
    for m in CHUNK_LINE.finditer(report):
        number, size = int(m.group(1)), int(m.group(2))
        numbers.append(number)
        if size == 0 and m.group(3).startswith(EOF_TAIL):
            eof_at = number
        elif size > 0:
            chunks.append(size)
    return Reads(numbers, chunks, eof_at)


def reported_bytes(report: bytes) -> int:
    """The bytes the client has reported receiving so far (complete lines only)."""
    return sum(int(m.group(2)) for m in CHUNK_LINE.finditer(report))


def expect_reads(lab, report: bytes, size: int, payload_len: int) -> Reads:
    """The checks of the lesson: every chunk within the buffer, all of the payload and nothing
    more, at least ceil(len/size) reads, numbered in order, and recv() == 0 at the end."""
    reads = parse_reads(report)
    expect(reads.numbers == list(range(1, len(reads.numbers) + 1)),
           "the client should number its recv() calls 1, 2, 3, ... in 'recv N: ...' lines",
           expected="recv 1, recv 2, recv 3, ...", actual=f"recv {reads.numbers[:12]}")
    over = [(i + 1, n) for i, n in enumerate(reads.chunks) if n > size]
    expect(not over, f"no recv() with a {size}-byte buffer can return more than {size} bytes",
           expected=f"every 'recv N: K bytes' line with K <= {size}",
           actual="; ".join(f"recv {i}: {n} bytes" for i, n in over[:5]),
           hint="pass the -b size to recv() as its length, and allocate that many bytes")
    expect(reads.total == payload_len, "the chunks the client reports should add up to the "
           "whole payload", expected=f"{payload_len} bytes", actual=f"{reads.total} bytes in "
           f"{len(reads.chunks)} reads", hint="call recv() again and again, until it returns 0")
    least = ceil_div(payload_len, size)
    expect(len(reads.chunks) >= least, f"{payload_len} bytes cannot arrive in fewer than "
           f"{least} reads of at most {size} bytes", actual=f"{len(reads.chunks)} reads")
    expect(reads.eof_at == len(reads.chunks) + 1, "the last recv() should return 0 (the server "
           "closed the connection), reported as 'recv N: 0 bytes, end of stream'",
           expected=f"'recv {len(reads.chunks) + 1}: 0 bytes, end of stream' last",
           actual=f"the end of stream at recv {reads.eof_at}" if reads.eof_at else
           "no end-of-stream line", hint="recv() returns 0 once, when the server has closed: "
           "that, and only that, ends the loop")
    return reads


def expect_totals(lab, report: str, size: int, nbytes: int, reads: Optional[int] = None) -> None:
    m = re.search(TOTAL_LINE, report, re.MULTILINE)
    if m is None:
        raise CheckFailure("the client should end with its totals",
                           expected=f"a line 'total: {nbytes} bytes in N reads (buffer {size} "
                                    "bytes)'", actual=show(report[-600:]))
    expect_equal(int(m.group(1)), nbytes, "the total should count every byte received")
    expect_equal(int(m.group(3)), size, "the totals line should show the -b buffer size")
    if reads is not None:
        expect_equal(int(m.group(2)), reads, "the total should count the recv() calls that "
                     "returned data")


def expect_file(path: Path, payload: bytes, what: str, hint: str | None = None) -> None:
    data = read_program_file(path)
    if data is None:
        raise CheckFailure(f"the client should write {what} to -o {path.name}",
                           actual="no such file")
    if data != payload:
        first = next((i for i, (a, b) in enumerate(zip(data, payload)) if a != b),
                     min(len(data), len(payload)))
        raise CheckFailure(f"{what} should arrive byte for byte",
                           expected=f"{len(payload)} bytes: {show(payload[:80])}...",
                           actual=f"{len(data)} bytes, the first difference at byte {first}: "
                                  f"{show(data[first:first + 40])} instead of "
                                  f"{show(payload[first:first + 40])}", hint=hint)


def finish(lab, proc: Proc, timeout: float = 5.0) -> Result:
    """Waits for a program started with lab.start() to end, like lab.run() does."""
    code = proc.wait(lab.deadline(timeout))
    if code is None:
        proc.kill()
        raise CheckFailure(f"the {proc.name} did not finish within {timeout:g} s",
                           actual=f"its stdout so far: {show(proc.stdout.text[-600:])}",
                           hint="does the loop end when recv() returns 0?")
    proc.exit_seen = True
    lab.judge_valgrind(proc)
    return Result(proc, code)


# -- Python servers that test the client -------------------------------------------------------

def sends(payload: bytes, then_wait_for_close: bool = False):
    """A handler that sends payload in one write and closes (or, with then_wait_for_close,
    keeps the connection open until the client closes it)."""
    def handler(conn, peer):
        if payload:
            peers.send_all(conn, payload, Deadline(30))
        if then_wait_for_close:
            peers.recv_until_closed(conn, Deadline(30))
    return handler


class Lockstep:
    """A server peer that sends pieces one at a time, each only after the client has reported
    (on stdout) receiving every byte before it, then closes. So each recv() of the client
    finds exactly one piece, or the rest of it, waiting: what recv() returns is known in
    advance, whatever the timing. First reads a request up to request_end, if given."""

    def __init__(self, lab, pieces: list[bytes], request_end: bytes | None = None,
                 then_reset: bool = False):
        self.pieces = pieces
        self.then_reset = then_reset
        self.request_end = request_end
        self.request = b""
        self.deadline = lab.deadline(20)
        self.client: Optional[Proc] = None
        self._attached = threading.Event()

    def attach(self, client: Proc) -> None:
        self.client = client
        self._attached.set()

    def __call__(self, conn, peer) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each piece, one segment
        if self.request_end is not None:
            self.request = peers.recv_until(conn, self.request_end, self.deadline).data
        self._attached.wait(self.deadline.remaining())
        sent = 0
        for piece in self.pieces:
            try:
                peers.send_all(conn, piece, self.deadline)
            except CheckFailure:
                return  # the client has gone: the test judges what it printed
            sent += len(piece)
            if not self.client.stdout.wait_for(lambda out: reported_bytes(out) >= sent,
                                               self.deadline):
                return  # the client ended (or stalled) before reporting the piece
        if self.then_reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def run_client_against(lab, handler, *args: str, host: str = "127.0.0.1",
                       timeout: float = 20, hint: str | None = None) -> Result:
    with peers.PeerServer(handler, host=host, timeout=10 * lab.settings.time_scale) as peer:
        lab.story.step(f"run: client -p {peer.address.port} {' '.join(args)}, against a Python "
                       "server")
        if isinstance(handler, Lockstep):
            proc = lab.start("client", "-H", host, "-p", str(peer.address.port), *args)
            handler.attach(proc)
            result = finish(lab, proc, timeout=timeout)
        else:
            result = lab.run("client", "-H", host, "-p", str(peer.address.port), *args,
                             timeout=timeout, hint=hint)
        peer.join(lab.deadline())
        peer.check()
    return result


# -- Python's http.server ----------------------------------------------------------------------

def start_http_server(lab, directory: Path) -> peers.Address:
    """Python's http.server on an OS-chosen port, serving directory; killed at teardown."""
    lab.story.step("start Python's http.server on an OS-chosen port")
    proc = Proc("http.server", [PYTHON, "-m", "http.server", "0", "--bind",
                                "127.0.0.1", "--directory", str(directory)],
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=directory)
    lab.story.started(proc)
    m = proc.wait_for_stdout(r"Serving HTTP on \S+ port (\d+)", lab.deadline(10))
    if m is None:
        raise CheckFailure("Python's http.server did not start (a problem of this machine, "
                           "not of your code)", actual=show(proc.stderr.text))
    return peers.Address("127.0.0.1", int(m.group(1)))


# == the server =================================================================================

def fetch(lab, server) -> tuple[peers.Address, peers.Received]:
    """A Python client that reads everything until the server closes."""
    with peers.connect(server.address, lab.deadline()) as sock:
        me = peers.local_address(sock)
        got = peers.recv_until_closed(sock, lab.deadline(20))
    return me, got


def expect_payload(lab, server, payload: bytes, what: str) -> peers.Address:
    lab.story.step(f"connect, read until the server closes ({len(payload)} bytes expected)")
    me, got = fetch(lab, server)
    expect(got.ended == peers.Ended.EOF, "the server should close the connection once the payload is "
           "sent: that is how the client knows it is over",
           expected="end of stream (recv returns 0)",
           actual=f"the connection ended by {got.ended} after {len(got.data)} bytes",
           hint="close() the connection's socket after sending")
    if got.data != payload:
        first = next((i for i, (a, b) in enumerate(zip(got.data, payload)) if a != b),
                     min(len(got.data), len(payload)))
        # Text functions (strlen, fputs, %s) stop at a '\0': what arrived then holds none of
        # the payload's NUL bytes, and the first byte missing is one.
        cut_at_nul = first < len(payload) and payload[first] == 0 and b"\0" not in got.data
        raise CheckFailure(f"the server should send {what}, byte for byte",
                           expected=f"{len(payload)} bytes: {show(payload[:80])}",
                           actual=f"{len(got.data)} bytes, the first difference at byte {first}:"
                                  f" {show(got.data[first:first + 40])}" + (
                                      f" (byte {first} of the payload is a '\\0', and none "
                                      "of its NUL bytes arrived)" if cut_at_nul else ""),
                           hint="every NUL byte went missing: '\\0' is data, not the end of "
                                "a string: send as many bytes as read() returned, never "
                                "strlen() of the chunk" if cut_at_nul else
                                "send all of it: send() may send fewer bytes than you ask for")
    return me


@pytest.mark.short_io("send=7,seed=20")
def test_server_sends_the_default_text_and_closes(lab):
    """Step 1-2: a client gets the text, then the end of the stream; the server logs it."""
    with lab.start_server() as server:
        lab.expect_stdout(server.proc, r"^payload: 46 bytes \(text\)$",
                          "'payload: 46 bytes (text)' after the listening line")
        me = expect_payload(lab, server, DEFAULT_TEXT, "the default text")
        lab.story.step("check the server's log")
        lab.expect_stdout(server.proc, rf"^connection from {re.escape(str(me))}$",
                          f"'connection from {me}'")
        lab.expect_stdout(server.proc, rf"^sent 46 bytes to {re.escape(str(me))}$",
                          f"'sent 46 bytes to {me}'")


def test_server_sends_a_message(lab):
    """-m TEXT: exactly that text, no newline added."""
    text = "hello, world: a message of 39 bytes..."
    with lab.start_server("-m", text) as server:
        expect_payload(lab, server, text.encode(), "the -m text")


@pytest.mark.short_io("send=1000,seed=21")
def test_server_sends_pattern_bytes(lab):
    """-n BYTES: that many bytes of the pattern, in order."""
    with lab.start_server("-n", "200000") as server:
        lab.expect_stdout(server.proc, r"^payload: 200000 bytes \(pattern\)$",
                          "'payload: 200000 bytes (pattern)'")
        expect_payload(lab, server, pattern(200000), "200000 bytes of the pattern")


def test_server_sends_an_empty_payload(lab):
    """-n 0: nothing at all, and the end of the stream at once."""
    with lab.start_server("-n", "0") as server:
        expect_payload(lab, server, b"", "nothing")


@pytest.mark.short_io("send=1000,seed=22")
def test_server_sends_a_file_byte_exact(lab):
    """-f FILE: the file's bytes, NUL bytes and all."""
    data = binary(300_000)
    path = lab.workdir / "payload.bin"
    path.write_bytes(data)
    with lab.start_server("-f", str(path)) as server:
        lab.expect_stdout(server.proc, rf"^payload: 300000 bytes \(file {re.escape(str(path))}\)$",
                          "'payload: 300000 bytes (file PATH)'")
        expect_payload(lab, server, data, "the file (which has NUL bytes in it)")


def test_server_serves_clients_one_after_another(lab):
    """The connection loop: every client gets the whole payload."""
    with lab.start_server("-n", "5000") as server:
        for i in range(1, 4):
            lab.story.step(f"client {i}")
            expect_payload(lab, server, pattern(5000), "the whole payload to every client")


def test_server_survives_a_client_that_leaves_early(lab):
    """Clients that reset or stop reading mid-payload never stop the server (SIGPIPE)."""
    with lab.start_server("-n", str(BIG)) as server:
        lab.story.step(f"connect, half-close (FIN), read 7 of the {BIG} bytes, then close "
                       "(which resets: unread data was left)")
        sock = peers.connect(server.address, lab.deadline())
        sock.shutdown(socket.SHUT_WR)
        first = peers.recv_until(sock, PATTERN[:7], lab.deadline())
        expect(first.ended == peers.Ended.MARKER, "the server should start sending at once",
               actual=f"{show(first.data)}, then {first.ended}")
        sock.close()
        lab.story.step("wait for the server to notice (a warning on stderr)")
        noticed = server.proc.stderr.wait_for(
            lambda err: re.search(rb"send to .*(Broken pipe|Connection reset)", err),
            lab.deadline(10))
        lab.expect_running(server.proc, "after a client left in the middle of the payload")
        expect(noticed is not None, "the server should warn that the send failed, and go on",
               expected="'server: send to PEER after N bytes: Broken pipe' on stderr",
               actual=show(server.proc.stderr.text))
        lab.story.step("connect and reset at once")
        peers.reset(peers.connect(server.address, lab.deadline()))
        lab.story.step("a new client reads the first 64 KiB, then leaves")
        with peers.connect(server.address, lab.deadline()) as sock:
            got = b""
            while len(got) < 65536:
                piece = peers.recv_until(sock, PATTERN, lab.deadline(), limit=65536)
                expect(piece.data, "the server should serve the next client",
                       actual=f"{len(got)} bytes, then {piece.ended}")
                got += piece.data
        expect_equal(got[:65536], pattern(65536), "the next client gets the payload from the "
                     "start")
        lab.expect_running(server.proc, "after three clients that left early",)


REQUEST = b"GET /payload HTTP/1.0\r\nHost: socklab\r\nConnection: close\r\n\r\n"


def test_server_delivers_everything_to_a_client_that_sent_a_request(lab):
    """A client that sends a request, then reads, gets the whole payload and an ordinary end:
    the server reads what it was sent before it closes (a close with unread bytes resets)."""
    size = 8 * MIB  # more than the connection's buffers hold: a reset throws a tail away
    with lab.start_server("-n", str(size)) as server:
        lab.story.step(f"connect, send an HTTP-style request ({len(REQUEST)} bytes), then read "
                       f"until the server closes ({size} bytes expected)")
        with peers.connect(server.address, lab.deadline()) as sock:
            me = peers.local_address(sock)
            peers.send_all(sock, REQUEST, lab.deadline())
            got = peers.recv_until_closed(sock, lab.deadline(60))
        expect(got.ended == peers.Ended.EOF and len(got.data) == size, "a client that sent a request "
               "should still get the whole payload, then the end of the stream",
               expected=f"{size} bytes, then the end of the stream",
               actual=f"{len(got.data)} bytes, then {got.ended}",
               hint="closing a socket that still holds unread bytes makes the kernel reset "
                    "the connection and drop what has not left yet: shutdown(SHUT_WR) after "
                    "the payload, read what the client sent until it closes, then close()")
        if got.data != pattern(size):
            first = next(i for i, (a, b) in enumerate(zip(got.data, pattern(size))) if a != b)
            raise CheckFailure("the payload should arrive byte for byte",
                               actual=f"the first difference at byte {first}")
        lab.story.step("check the server's log")
        lab.expect_stdout(server.proc, rf"^sent {size} bytes to {re.escape(str(me))}$",
                          f"'sent {size} bytes to {me}'")


def test_server_says_sent_only_to_a_client_that_got_everything(lab):
    """'sent N bytes to PEER' means that client has the payload: never for a client that
    resets the connection without reading it."""
    with lab.start_server() as server:
        lab.story.step("connect, send a request, wait until the 46 bytes have arrived, then "
                       "reset the connection without reading them")
        sock = peers.connect(server.address, lab.deadline())
        leaver = peers.local_address(sock)
        peers.send_all(sock, REQUEST, lab.deadline())
        poll_until(lambda: socket_queue(sock) >= len(DEFAULT_TEXT) or not server.proc.running,
                   lab.deadline(10))  # a server that has exited sends nothing more
        peers.reset(sock)
        lab.story.step("a second client reads the payload to the end")
        me = expect_payload(lab, server, DEFAULT_TEXT, "the default text")
        lab.expect_stdout(server.proc, rf"^sent 46 bytes to {re.escape(str(me))}$",
                          f"'sent 46 bytes to {me}'")
        lab.story.step("check the server's log about the first client")
        claims = [line for line in server.proc.stdout.lines()
                  if line == f"sent 46 bytes to {leaver}"]
        expect(not claims, "the server should not log 'sent' for a client that reset the "
               "connection before reading the payload",
               expected=f"no line 'sent 46 bytes to {leaver}' (a warning on stderr instead)",
               actual=show(server.proc.stdout.text[-400:]),
               hint="print 'sent N bytes' only once the client has closed its end (recv() "
                    "returns 0 after your shutdown(SHUT_WR)); a recv() error means it did not "
                    "get everything")


def test_server_closes_the_connections_of_early_leavers(lab):
    """Clients that leave at once (close or reset right after connecting), 60 times: every
    connection's socket is closed, and the server's descriptors return to where they were."""
    size = 4 * MIB  # more than fits in the connection at once: the server's send() fails
    with lab.start_server("-n", str(size)) as server:
        lab.story.step("serve one client, then count the server's open descriptors")
        me = expect_payload(lab, server, pattern(size), "the payload")
        lab.expect_stdout(server.proc, rf"^sent {size} bytes to {re.escape(str(me))}$",
                          f"'sent {size} bytes to {me}'")
        before = server.proc.open_fds()
        lab.story.step(f"60 clients that leave at once: half close, half reset (the server had "
                       f"{before} descriptors open)")
        for i in range(60):
            sock = peers.connect(server.address, lab.deadline())
            if i % 2:
                peers.reset(sock)
            else:
                sock.close()
        lab.story.step("one more client, which reads the payload to the end (the server has "
                       "then dealt with every early leaver)")
        expect_payload(lab, server, pattern(size), "the payload")
        lab.expect_running(server.proc, "after 60 clients that left at once")
        poll_until(lambda: server.proc.open_fds() <= before, lab.deadline(2))
        after = server.proc.open_fds()
        expect(after <= before, "every connection's socket should be closed, also when the "
               "client left before the payload was sent", expected=f"at most {before} open "
               "descriptors", actual=f"{after} (see ls -l /proc/{server.proc.pid}/fd)",
               hint="close() the socket accept() returned however the sending ended")


def test_server_ends_cleanly_on_sigterm(lab):
    """SIGTERM ends the server with status 0, even while it is stuck sending to a client
    that does not read."""
    server = lab.start_server("-n", str(BIG))
    with server:
        lab.story.step("connect a client that reads nothing, and wait until the server "
                       "waits in send() for room in the connection's buffers")
        with peers.connect(server.address, lab.deadline()) as sock:
            # Under --short-io the server creeps on, 7 bytes a send(), and seldom waits.
            creeping = lambda: lab.settings.short_io and socket_queue(sock) >= 32768  # noqa
            poll_until(lambda: waiting_to_send(server.proc) or creeping()
                       or not server.proc.running, lab.deadline(10))
            lab.expect_running(server.proc, "while a client is connected")
            expect(socket_queue(sock) > 0, "the server should start sending at once",
                   actual="nothing arrived")
            lab.story.step("send SIGTERM while the server waits to send more")
            code = lab.stop_server(server)
        expect_equal(code, 0, "the server should exit with status 0 soon after SIGTERM",
                     hint="a send() that blocks never sees SIGTERM: see limit_send_wait() and "
                          "send_all() (EAGAIN means: look for a stop, then try again)")
        expect(server.proc.stdout.lines()[-1:] == ["stopped"], "the server should print "
               "'stopped' last", actual=show(server.proc.stdout.text[-200:]))


def waiting_to_send(proc: Proc) -> bool:
    """True while the program sleeps in the kernel, waiting for room in a socket's send
    buffer (from /proc/PID/wchan: sk_stream_wait_memory sleeps in wait_woken). Our server
    waits nowhere else but in ppoll(), which shows as poll_schedule_timeout."""
    try:
        return Path(f"/proc/{proc.pid}/wchan").read_text().strip() in ("sk_stream_wait_memory",
                                                                       "wait_woken")
    except OSError:
        return False


def socket_queue(sock: socket.socket) -> int:
    """Bytes waiting in the socket's receive queue (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def test_server_command_line(lab):
    """-H ::1 works; bad arguments exit 2 with the usage; a missing -f FILE exits 1."""
    with lab.start_server("-m", "over IPv6", host="::1") as server:
        expect_equal(server.host, "::1", "the server should listen on ::1 with -H ::1")
        expect_payload(lab, server, b"over IPv6", "the text")
    lab.expect_usage("server", [["--help"], ["-n", "abc"], ["-n", "-5"], ["-m", "x", "-n", "5"], ["-x"]])
    lab.story.step("run: server -f no-such-file")
    result = lab.run("server", "-p", "0", "-f", str(lab.workdir / "no-such-file"))
    result.expect_status(1, "a runtime failure")
    expect("No such file or directory" in result.stderr, "the server should say why",
           expected="'No such file or directory' on stderr", actual=show(result.stderr))


# == the client =================================================================================

@pytest.mark.parametrize("size", SIZES)
def test_client_reads_until_the_server_closes(lab, size):
    """Step 3-5: with -b SIZE, every chunk fits the buffer and all of them add up to the
    payload, written out byte for byte."""
    payload = noise(max(1000, 2 * size + 123))
    out = lab.workdir / "out.bin"
    result = run_client_against(lab, sends(payload), "-b", str(size), "-o", str(out))
    result.expect_status(0)
    result.expect_stdout_line(rf"^connected to {ADDR}$", "'connected to HOST:PORT' first")
    reads = expect_reads(lab, result.stdout_bytes, size, len(payload))
    expect_totals(lab, result.stdout, size, len(payload), len(reads.chunks))
    expect_file(out, payload, "the payload", hint="write every chunk as it arrives, its len "
                "bytes and no more (fwrite), up to the end of the stream")


def expected_chunks(pieces: list[bytes], size: int, cap: Optional[int]) -> list[int]:
    """What each recv() returns when the pieces come one at a time: each piece, or what is
    left of it, cut to the buffer (and to the short-I/O cap, if any)."""
    most = min(size, cap) if cap else size
    out = []
    for piece in pieces:
        left = len(piece)
        while left:
            out.append(min(left, most))
            left -= out[-1]
    return out


@pytest.mark.parametrize("size", [7, 65536])
def test_client_recv_returns_what_has_arrived(lab, size):
    """recv() returns what is there when it is called: each piece the server sends, cut to
    the buffer; a short chunk is not the end."""
    pieces = [b"Hello", b",", b" " + pattern(299), b"!\n", noise(4000)]
    peer = Lockstep(lab, pieces)
    out = lab.workdir / "out.bin"
    result = run_client_against(lab, peer, "-b", str(size), "-o", str(out))
    reads = parse_reads(result.stdout_bytes)
    short_io = lab.settings.short_io
    if short_io and not short_io.recv_fixed:
        pytest.skip(f"SOCKLAB_SHORT_IO={short_io} draws each recv()'s cap at random")
    want = expected_chunks(pieces, size, short_io and short_io.recv)
    expect_equal(reads.chunks, want, f"the server sent {len(pieces)} pieces of "
                 f"{[len(p) for p in pieces]} bytes, each only after the client had reported the "
                 f"one before: each recv() with a {size}-byte buffer should return what had "
                 "arrived, at most a buffer full",
                 hint="pass the -b size to recv() as its length, and allocate that many bytes"
                      if any(n > size for n in reads.chunks) else
                      "a recv() that returns less than the buffer does not mean the end: only "
                      "0 does")
    result.expect_status(0)
    expect_reads(lab, result.stdout_bytes, size, sum(map(len, pieces)))
    expect_file(out, b"".join(pieces), "the payload")


def test_client_single_recv_loses_the_rest(lab):
    """-1: one recv(), and whatever else the server sent is lost (the tutorials' bug)."""
    out = lab.workdir / "out.bin"
    result = run_client_against(lab, sends(DEFAULT_TEXT, then_wait_for_close=True),
                                "-1", "-b", "7", "-o", str(out))
    result.expect_status(0)
    reads = parse_reads(result.stdout_bytes)
    expect(len(reads.numbers) == 1 and len(reads.chunks) == 1,
           "with -1 the client should call recv() exactly once, and report it",
           expected="one line 'recv 1: K bytes ...'", actual=show(result.stdout),
           hint="-1 (opts->once) stops the loop after the first recv()")
    k = reads.chunks[0]
    expect(1 <= k <= 7, "one recv() with a 7-byte buffer returns 1 to 7 bytes", actual=k)
    expect_totals(lab, result.stdout, 7, k, 1)
    expect_file(out, DEFAULT_TEXT[:k], f"the {k} bytes of that one recv()")


EOF_ENDS_THE_LOOP = ("recv() returns 0 once the server has closed: that ends the loop (called "
                     "again, recv() returns 0 at once, forever)")


def test_client_stops_at_end_of_stream(lab):
    """recv() returning 0 ends the loop: the client reports it and exits at once."""
    lab.story.step("-q: the loop must end by itself when the server closes")
    # A few hundred bytes: "at once" is well within 5 s, and a client that never stops is
    # told so in 5 s rather than 20.
    result = run_client_against(lab, sends(DEFAULT_TEXT), "-q", "-b", "7", timeout=5,
                                hint=EOF_ENDS_THE_LOOP)
    result.expect_status(0)
    expect(not CHUNK_LINE.search(result.stdout_bytes), "-q should print no 'recv N:' lines",
           actual=show(result.stdout))
    expect_totals(lab, result.stdout, 7, len(DEFAULT_TEXT))
    lab.story.step("the same, with a line per recv()")
    result = run_client_against(lab, sends(DEFAULT_TEXT), "-b", "7", timeout=5,
                                hint=EOF_ENDS_THE_LOOP)
    result.expect_status(0)
    expect_reads(lab, result.stdout_bytes, 7, len(DEFAULT_TEXT))
    last = result.stdout.splitlines()[-2:]
    expect(len(last) == 2 and last[0].endswith(": 0 bytes, end of stream")
           and last[1].startswith("total: "), "the end of stream and the totals come last",
           actual=show("\n".join(last)))


def test_client_prints_no_error_after_a_normal_end_of_stream(lab):
    """Step 4: the server's close ends every payload: the client exits 0 and writes nothing
    on stderr (without -o -, which sends the report lines there)."""
    result = run_client_against(lab, sends(DEFAULT_TEXT), "-b", "7", timeout=5,
                                hint=EOF_ENDS_THE_LOOP)
    result.expect_status(0)
    expect_totals(lab, result.stdout, 7, len(DEFAULT_TEXT))
    lab.expect_no_errors(
        result.proc, "the server sent the payload and closed the connection",
        hint="receive_all (step 4): recv() returning 0 is the server's close, the normal end "
             "of the payload: stop without a word on stderr (perror() there prints "
             "'Success'); report_chunk already says 'end of stream' on stdout. Only -1 is "
             "a failure, which main() reports")


def test_client_handles_an_empty_payload(lab):
    """A server that closes without sending: the first recv() returns 0."""
    result = run_client_against(lab, sends(b""), "-b", "7", "-o", str(lab.workdir / "out"))
    result.expect_status(0)
    result.expect_stdout_line(r"^recv 1: 0 bytes, end of stream$",
                              "'recv 1: 0 bytes, end of stream'")
    expect_totals(lab, result.stdout, 7, 0, 0)
    expect_file(lab.workdir / "out", b"", "an empty payload (an empty file)")


@pytest.mark.short_io("recv=5,seed=23")
def test_client_keeps_nul_bytes(lab):
    """A payload full of NUL bytes arrives whole: a chunk is bytes, not a C string."""
    payload = b"\0\0\0 starts with NULs\0, has them inside\0\0 and ends with one\0" + binary(3000)
    out = lab.workdir / "out.bin"
    result = run_client_against(lab, sends(payload), "-b", "7", "-o", str(out))
    result.expect_status(0)
    expect_reads(lab, result.stdout_bytes, 7, len(payload))
    expect_file(out, payload, "the payload with its NUL bytes",
                hint="fwrite(chunk, 1, len, out), never fputs() or strlen(): '\\0' is data")


def test_client_quiet_1_mib_intact(lab):
    """-q: 1 MiB arrives intact; only the totals are printed."""
    payload = noise(MIB, seed=7)
    out = lab.workdir / "out.bin"
    result = run_client_against(lab, sends(payload), "-q", "-b", "4096", "-o", str(out))
    result.expect_status(0)
    expect(not CHUNK_LINE.search(result.stdout_bytes), "-q should print no 'recv N:' lines",
           actual=show(result.stdout[:600]))
    expect_totals(lab, result.stdout, 4096, MIB)
    expect_file(out, payload, "1 MiB")


def test_client_writes_the_payload_to_stdout(lab):
    """-o -: the payload alone on stdout, the report lines on stderr."""
    payload = noise(5000, seed=3)
    result = run_client_against(lab, sends(payload), "-b", "1024", "-o", "-")
    result.expect_status(0)
    expect_equal(result.stdout_bytes, payload, "with -o - the payload, and nothing else, "
                 "should go to stdout", hint="the report lines then go to stderr")
    expect_reads(lab, result.proc.stderr.data, 1024, len(payload))
    expect_totals(lab, result.stderr, 1024, len(payload))


@pytest.mark.memory
def test_client_reset_is_an_error(lab):
    """A server that resets the connection after sending: exit 1, with the reason."""
    peer = Lockstep(lab, [b"a few bytes, then a reset"], then_reset=True)
    result = run_client_against(lab, peer, "-b", "7")
    result.expect_status(1, "a runtime failure")
    expect("Connection reset by peer" in result.stderr, "the client should say why it failed",
           expected="'client: receive: Connection reset by peer' on stderr",
           actual=show(result.stderr))


def test_client_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments exit 2 with the usage."""
    result = run_client_against(lab, sends(b"over IPv6"), "-b", "4", host="::1")
    result.expect_status(0)
    result.expect_stdout_line(r"^connected to \[::1\]:\d+$", "an IPv6 address in brackets")
    expect_reads(lab, result.stdout_bytes, 4, 9)
    lab.expect_usage("client", [["--help"], ["-b", "0"], ["-b", "abc"], ["-b", "16777217"], ["-g", "no-slash"],
                 ["-g", "/a b"], ["-p", "0"], ["--bogus"]])


# -- the client and HTTP -----------------------------------------------------------------------

def header_lines(report: str) -> list[str]:
    return [line[len("header: "):] for line in report.splitlines() if line.startswith("header: ")]


HEADER_END_HINT = "look for \\r\\n\\r\\n in everything received so far, not in each chunk"


def header_size_of(lab, server: peers.Address, path: str) -> Optional[int]:
    """The size of the header the HTTP server sends for path, its empty line included: asked
    again by the harness, the same way (the header's lines are of a fixed length)."""
    with peers.connect(server, lab.deadline()) as sock:
        peers.send_all(sock, f"GET {path} HTTP/1.0\r\n\r\n".encode(), lab.deadline())
        got = peers.recv_until_closed(sock, lab.deadline())
    end = got.data.find(b"\r\n\r\n")
    return end + 4 if end >= 0 else None


def expect_header_end_found(lab, result: Result, reads: Reads, header_size: Optional[int]) -> None:
    """A client that got past the header but never printed it, where the empty line that ends
    the header arrived split over several recv()s: the failure names that cause."""
    if header_size is None or reads.total < header_size or \
            (result.returncode == 0 and header_lines(result.stdout)):
        return
    offsets = [0]
    for n in reads.chunks:
        offsets.append(offsets[-1] + n)
    first = next(i for i in range(len(reads.chunks)) if offsets[i + 1] > header_size - 4)
    last = next(i for i in range(len(reads.chunks)) if offsets[i + 1] >= header_size)
    if first == last:
        return
    raise CheckFailure(
        "the client should find the empty line that ends the header, and print the header",
        expected="'header: ...' lines, then exit status 0",
        actual=f"{result.proc.status()}, with {len(header_lines(result.stdout))} 'header:' "
               f"line(s); the empty line (\\r\\n\\r\\n, bytes {header_size - 4} to "
               f"{header_size - 1} of the reply) arrived split across recv {first + 1} to "
               f"recv {last + 1}",
        hint=f"the empty line that ends the header arrived split across {last - first + 1} "
             f"reads: {HEADER_END_HINT}")


@pytest.mark.parametrize("size", [1, 7, 65536])
def test_client_fetches_a_file_over_http(lab, size):
    """Step 6-7: -g PATH from Python's http.server: the header printed, the body saved."""
    site = lab.workdir / "site"
    site.mkdir()
    body = noise(3000, seed=5)
    (site / "data.bin").write_bytes(body)
    server = start_http_server(lab, site)
    out = lab.workdir / "body.bin"
    lab.story.step(f"run: client -p {server.port} -b {size} -g /data.bin -o body.bin")
    result = lab.run("client", "-p", str(server.port), "-b", str(size), "-g", "/data.bin",
                     "-o", str(out), timeout=20)
    if result.returncode != 0 or not header_lines(result.stdout):
        lab.story.step("ask the HTTP server for the same file, to see where its header ends")
        header_size = header_size_of(lab, server, "/data.bin")
        lab.story.step("check that the client found the header's end, and which reads cut it")
        expect_header_end_found(lab, result, parse_reads(result.stdout_bytes), header_size)
    result.expect_status(0)
    result.expect_stdout_line(r"^request: GET /data\.bin HTTP/1\.0$",
                              "'request: GET /data.bin HTTP/1.0'")
    header = header_lines(result.stdout)
    expect(header[:1] == ["HTTP/1.0 200 OK"], "the header's first line is the status line",
           expected="'header: HTTP/1.0 200 OK'", actual=show("\n".join(header[:3])),
           hint="the request is 'GET PATH HTTP/1.0', then Host and Connection lines, then an "
                "empty line; each line ends with \\r\\n")
    expect("Content-Length: 3000" in header, "every header line should be printed, without "
           "its \\r\\n", expected="a line 'header: Content-Length: 3000'",
           actual=show("\n".join(header)))
    header_size = sum(len(line) + 2 for line in header) + 2
    expect_reads(lab, result.stdout_bytes, size, header_size + len(body))
    result.expect_stdout_line(r"^body: 3000 bytes$", "'body: 3000 bytes'")
    expect_file(out, body, "the body (only the body: the header ends at the first empty line)")


def test_client_finds_the_header_end_split_across_reads(lab):
    """The empty line that ends the HTTP header arrives split over two recv()s."""
    body = b"the body, which has \r\n\r\n in it: only the first empty line ends the header"
    pieces = [b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r", b"\n" + body[:10],
              body[10:]]
    peer = Lockstep(lab, pieces, request_end=b"\r\n\r\n")
    out = lab.workdir / "body.bin"
    result = run_client_against(lab, peer, "-b", "65536", "-g", "/split", "-o", str(out))
    lab.story.step("check the request the Python server received")
    expect(peer.request.startswith(b"GET /split HTTP/1.0\r\n"), "the request line should be "
           "'GET /split HTTP/1.0' and \\r\\n", actual=show(peer.request))
    expect(b"\r\nConnection: close\r\n" in peer.request and peer.request.endswith(b"\r\n\r\n"),
           "the request should ask for 'Connection: close' and end with an empty line",
           actual=show(peer.request))
    result.expect_status(0)
    lab.story.step("check the header lines the client printed")
    expect_equal(header_lines(result.stdout), ["HTTP/1.0 200 OK", "Content-Type: text/plain"],
                 "the header lines, up to the empty line that arrived as '\\r' + '\\n'",
                 hint=f"the empty line that ends the header arrived split across reads: "
                      f"{HEADER_END_HINT}")
    result.expect_stdout_line(rf"^body: {len(body)} bytes$", f"'body: {len(body)} bytes'")
    expect_file(out, body, "the body")


def test_client_gives_up_on_a_header_that_never_ends(lab):
    """A server that never sends the empty line: the header does not fit in the client's
    fixed header buffer, and the client stops with an error - it neither writes past the
    buffer nor reads (or allocates) without end."""
    cap = 256 << 20  # the peer's own limit, far beyond any header buffer
    sent = [0]

    def endless(conn, peer):
        peers.recv_until(conn, b"\r\n\r\n", lab.deadline())
        line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        try:
            conn.settimeout(lab.deadline(20).remaining())
            conn.sendall(b"HTTP/1.0 200 OK\r\n")
            while sent[0] < cap:
                conn.sendall(line * 64)
                sent[0] += len(line) * 64
        except OSError:
            return  # the client has gone: what it printed is judged below

    lab.story.step("a Python server answers with header lines that never end")
    result = run_client_against(lab, endless, "-g", "/endless", "-o",
                                str(lab.workdir / "body.bin"))
    if result.returncode is not None and result.returncode < 0:  # killed by a signal
        raise CheckFailure("the client should exit with status 1 (a runtime failure: the "
                           "header does not fit)", expected="exit status 1",
                           actual=f"{result.proc.status()}, while header lines kept coming "
                                  f"({reported_bytes(result.stdout.encode())} bytes reported)",
                           hint="the header overflowed its fixed buffer: before copying header "
                                "bytes into it, check that there is room; when it is full and "
                                "no empty line came, die() with a message")
    result.expect_status(1, "a runtime failure: the header does not fit")
    got = reported_bytes(result.stdout.encode())
    # The handout's buffer holds 16 KiB; another size is a free choice, so any buffer of a few
    # KiB or more keeps the marks: the check is that the client read, and then gave up.
    expect(got >= 4096, "the client should fill its header buffer before it gives up",
           expected="'recv N: K bytes' lines for at least 4096 bytes (the handout's buffer "
                    "holds 16384)",
           actual=f"{got} bytes reported", hint="keep the header bytes until the buffer is full")
    expect(sent[0] < cap, "the client should give up once its header buffer is full",
           expected="the client closes the connection", actual=f"it read all {cap} bytes",
           hint="when the header buffer is full and no empty line came, die() with a message")


# == together ===================================================================================

@pytest.mark.short_io("send=4096,recv=1500,seed=24")
def test_client_and_server_1_mib_intact(lab):
    """The two programs together: 1 MiB of the pattern, byte for byte."""
    with lab.start_server("-n", str(MIB)) as server:
        out = lab.workdir / "out.bin"
        lab.story.step("run: client -q -b 65536 -o out.bin")
        result = lab.run("client", "-p", server.port, "-q", "-b", "65536", "-o", str(out),
                         timeout=20)
        result.expect_status(0)
        expect_totals(lab, result.stdout, 65536, MIB)
        expect_file(out, pattern(MIB), "1 MiB of the pattern")
        lab.expect_stdout(server.proc, rf"^sent {MIB} bytes to {ADDR}$", f"'sent {MIB} bytes to "
                          "PEER'")


@pytest.mark.memory
def test_client_and_server_file_with_nul_bytes(lab):
    """Together: a file with NUL bytes, read 7 bytes at a time, arrives intact."""
    data = binary(20_000, seed=11)
    path = lab.workdir / "in.bin"
    path.write_bytes(data)
    with lab.start_server("-f", str(path)) as server:
        out = lab.workdir / "out.bin"
        lab.story.step("run: client -b 7 -o out.bin")
        result = lab.run("client", "-p", server.port, "-b", "7", "-o", str(out), timeout=20)
        result.expect_status(0)
        expect_reads(lab, result.stdout_bytes, 7, len(data))
        expect_file(out, data, "the file")


def test_server_ends_cleanly_on_ctrl_c(lab):
    """Ctrl-C (SIGINT) ends the server like SIGTERM does."""
    server = lab.start_server()
    with server:
        expect_payload(lab, server, DEFAULT_TEXT, "the default text")
        lab.story.step("send SIGINT, as Ctrl-C in a terminal does")
        server.proc.signal(signal.SIGINT)
        code = server.proc.wait(lab.deadline())
        server.proc.exit_seen = True
        expect_equal(code, 0, "the server should exit with status 0 on SIGINT")
