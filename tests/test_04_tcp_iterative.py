"""Lab 04 - tcp-iterative: the connection loop, newline framing, per-connection state.

The server is tested with Python clients and the client with a Python server, so that each
program is judged on its own; the last tests put the two together. The order follows the
handout (labs/04-tcp-iterative/README.md).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import time

import pytest

from harness import (PAST_THE_LAST_PORT, CheckFailure, Deadline, expect, expect_equal, peers,
                     poll_until, show)

LAB = "04-tcp-iterative"

MAX_LINE_LEN = 256  # the server's documented limit, in bytes before the newline
CLOSED_RE = r"^closed (\S+) after (\d+) lines?$"


def welcome_for(address) -> bytes:
    return f"welcome {address}, send lines; 'exit' to leave".encode()


class Lines:
    """Newline framing on the harness's side: the same idea as the lab's read_line (the bytes
    after a newline are kept for the next line)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.pending = b""
        self.ended: peers.Ended | None = None  # how the stream ended, once it has

    def next(self, deadline: Deadline) -> bytes | None:
        """The next line without its newline, or None (with what came of a line in
        self.pending, and self.ended saying why)."""
        while b"\n" not in self.pending:
            got = peers.recv_until(self.sock, b"\n", deadline)
            self.pending += got.data
            if got.ended != peers.Ended.MARKER:
                self.ended = got.ended
                return None
        line, _, self.pending = self.pending.partition(b"\n")
        return line


class Client:
    """A Python client of the numbering server, with checks that explain themselves."""

    def __init__(self, lab, server, name: str = "the client"):
        self.lab = lab
        self.server = server
        self.name = name
        try:
            self.sock = peers.connect(server.address, lab.deadline())
        except CheckFailure:  # a server that has ended: how it ended says why
            lab.expect_running(server.proc, f"when {name} connects")
            raise
        self.me = peers.local_address(self.sock)
        self.lines = Lines(self.sock)

    def expect_line(self, expected: bytes, what: str, hint: str | None = None,
                    timeout: float = 5, hint_if_ended: bool = True) -> None:
        """hint_if_ended: whether the hint also explains a server that has ended (a line
        that overruns a buffer), or only a wrong line (then how it ended chooses the hint)."""
        line = self.lines.next(self.lab.deadline(timeout))
        if line is None:
            if not self.lab.settle(self.server.proc):  # a server on its way out: seen to be
                self.lab.expect_running(self.server.proc, f"while {self.name} waits for {what}",
                                        hint if hint_if_ended else None)
            endings = {peers.Ended.EOF: "the server closed the connection",
                       peers.Ended.RESET: "the server reset the connection",
                       peers.Ended.TIMEOUT: f"nothing more came within {timeout:g} s"}
            raise CheckFailure(f"{self.name} should receive {what}",
                               expected=show(expected + b"\n"),
                               actual=f"{show(self.lines.pending)}, then "
                                      f"{endings.get(self.lines.ended, self.lines.ended)}",
                               hint=hint)
        expect_equal(line + b"\n", expected + b"\n", f"{self.name} should receive {what}",
                     hint=hint)

    def expect_welcome(self) -> None:
        self.expect_line(welcome_for(self.me), "the welcome line, with its own address",
                         hint="converse (step 2) sends the welcome first, before it reads "
                              "anything", hint_if_ended=False)

    def send(self, data: bytes) -> None:
        try:
            peers.send_all(self.sock, data, self.lab.deadline())
        except CheckFailure:  # the connection broke: a server that ended, seen to be
            self.lab.expect_running(self.server.proc, f"while {self.name} sends")
            raise

    def ask(self, line: bytes, number: int, hint: str | None = None) -> None:
        self.send(line + b"\n")
        self.expect_line(f"{number}: ".encode() + line,
                         f"the answer to line {number}, {show(line)}", hint=hint)

    def leave(self) -> None:
        """Says exit, expects bye and the end of the connection."""
        self.send(b"exit\n")
        self.expect_line(b"bye", "'bye' after 'exit'")
        rest = peers.recv_until_closed(self.sock, self.lab.deadline())
        expect(rest.data == b"" and rest.ended == peers.Ended.EOF,
               "after 'bye' the server should close the connection",
               expected="the end of the stream (recv returns 0)",
               actual=f"{show(rest.data)}, then {rest.ended}",
               hint="converse (step 2) returns after 'bye'; serve (step 1) then close()s the "
                    "connection's socket")
        self.close()

    def expect_nothing_yet(self, why: str, hint: str) -> None:
        """Nothing has arrived (checked without waiting)."""
        self.sock.setblocking(False)
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        finally:
            self.sock.setblocking(True)
        raise CheckFailure(why, expected="nothing yet", actual=show(data), hint=hint)

    def close(self) -> None:
        self.sock.close()


def count_closed_lines(text: str) -> int:
    return len(re.findall(CLOSED_RE, text, re.MULTILINE))


def wait_closed_lines(lab, server, count: int, timeout: float = 5) -> list[re.Match]:
    """Waits until the server has logged `count` 'closed ...' lines; returns them all."""
    server.proc.stdout.wait_for(
        lambda data: count_closed_lines(data.decode("utf-8", "replace")) >= count,
        lab.deadline(timeout))
    matches = list(re.finditer(CLOSED_RE, server.proc.stdout.text, re.MULTILINE))
    if len(matches) < count:
        lab.expect_running(server.proc, "after its clients left")
        raise CheckFailure(f"the server should log 'closed PEER after N lines' for each of "
                           f"{count} connections", expected=f"{count} such lines",
                           actual=f"{len(matches)} after {timeout:g} s",
                           hint="serve (step 1): once converse returns, however it ends, "
                                "close() the socket and print 'closed PEER after N lines'")
    return matches


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the server ----------------------------------------------------------------------------

def test_server_welcomes_a_client(lab):
    """Step 1-2: a client is accepted and welcomed with its own address."""
    with lab.start_server() as server:
        lab.story.step("connect and read the welcome line")
        client = Client(lab, server)
        client.expect_welcome()
        lab.expect_stdout(server.proc, rf"^connection from {re.escape(str(client.me))}$",
                          f"'connection from {client.me}'")
        client.close()


def test_server_numbers_each_line(lab):
    """Step 2-3: every line gets its number and itself back; 'exit' gets 'bye' and the end."""
    with lab.start_server() as server:
        lab.story.step("connect, send 'hello' and 'world', one line at a time")
        client = Client(lab, server)
        client.expect_welcome()
        client.ask(b"hello", 1)
        client.ask(b"world", 2)
        lab.story.step("send 'exit'")
        client.leave()
        closed = wait_closed_lines(lab, server, 1)[0]
        expect_equal(closed.group(0), f"closed {client.me} after 2 lines",
                     "the server should log the client's address and how many lines it answered")


def test_server_answers_several_lines_in_one_write(lab):
    """Three lines and the start of a fourth in one write: each line gets its own answer."""
    with lab.start_server() as server:
        client = Client(lab, server)
        client.expect_welcome()
        lab.story.step("send 'one\\ntwo\\nthree\\nfo' in a single write")
        client.send(b"one\ntwo\nthree\nfo")
        hint = ("read_line (step 3): one recv() may bring several lines: hand out the first, "
                "and keep the bytes after its newline for the next call")
        for number, line in enumerate([b"one", b"two", b"three"], 1):
            client.expect_line(f"{number}: ".encode() + line, f"the answer to {show(line)}",
                               hint=hint)
        lab.story.step("send the rest of the fourth line, 'ur\\n'")
        client.send(b"ur\n")
        client.expect_line(b"4: four", "the answer to 'four', whose 'fo' came with the lines "
                           "before", hint="read_line (step 3): the bytes after a newline are the "
                           "start of the next line: keep them in the connection's line_reader "
                           "and memmove them to the front on the next call")
        client.leave()


def test_server_answers_a_line_arriving_in_pieces(lab):
    """A line written one byte at a time is still one line, with one answer."""
    with lab.start_server() as server:
        client = Client(lab, server)
        client.expect_welcome()
        lab.story.step("send 'hello there\\n' one byte per write")
        peers.send_in_pieces(client.sock, b"hello there\n", 1, 0.02, lab.deadline())
        client.expect_line(b"1: hello there", "one answer for the whole line",
                           hint="read_line (step 3): one recv() is not one line: while there "
                           "is no newline, receive_more and look again")
        lab.story.step("send 'again\\n' one byte per write")
        peers.send_in_pieces(client.sock, b"again\n", 1, 0.02, lab.deadline())
        client.expect_line(b"2: again", "one answer for the second line")
        client.leave()


def test_server_answers_empty_lines_and_crlf(lab):
    """An empty line is a line; a '\\r' before the newline (telnet, nc -C) is dropped."""
    with lab.start_server() as server:
        client = Client(lab, server)
        client.expect_welcome()
        lab.story.step("send an empty line")
        client.ask(b"", 1, hint="an empty line is still a line: answer it with '1: '")
        lab.story.step("send 'hi\\r\\n'")
        client.send(b"hi\r\n")
        client.expect_line(b"2: hi", "the answer without the '\\r'")
        lab.story.step("send 'exit\\r\\n'")
        client.send(b"exit\r\n")
        client.expect_line(b"bye", "'bye': 'exit\\r' is 'exit' too")


@pytest.mark.memory
def test_server_rejects_overlong_lines_and_goes_on(lab):
    """A line longer than 256 bytes gets an error answer; the connection and the count go on."""
    with lab.start_server() as server:
        client = Client(lab, server)
        client.expect_welcome()
        longest = b"a" * MAX_LINE_LEN
        lab.story.step(f"send a line of exactly {MAX_LINE_LEN} bytes")
        client.ask(longest, 1, hint=f"a line of {MAX_LINE_LEN} bytes is allowed: the line buffer "
                                    "needs room for it and its newline, and the answer for "
                                    "'N: ' in front of it too")
        for number, size in [(2, MAX_LINE_LEN + 1), (3, 5000)]:
            lab.story.step(f"send a line of {size} bytes")
            client.send(b"b" * size + b"\n")
            client.expect_line(f"error: line {number} is longer than {MAX_LINE_LEN} bytes".encode(),
                               f"an error answer for the {size}-byte line",
                               hint="read_line (step 3): when the buffer is full and holds no "
                                    "newline, drop what it holds and read on to the line's "
                                    "newline; then report LINE_TOO_LONG")
        lab.story.step("send 'fine' on the same connection")
        client.ask(b"fine", 4, hint="after an overlong line, the next line is read as usual")
        client.leave()
        lab.story.step("a new client afterwards")
        again = Client(lab, server, "a new client")
        again.expect_welcome()
        again.ask(b"ok", 1)
        again.leave()


def split_around_the_limit() -> list[tuple[int, list[int]]]:
    """(line length, where its bytes are cut into writes) for the lines around the limit: at
    each of the last positions of the line, and between the line and its newline."""
    return [(size, cuts) for size in (MAX_LINE_LEN - 1, MAX_LINE_LEN, MAX_LINE_LEN + 1)
            for cuts in ([size], [size - 1], [size - 2], [size - 1, size])]


def pieces_story(size: int, cuts: list[int]) -> str:
    """How a line of size bytes cut at cuts arrives, in words: 'the line, then its newline'."""
    words, start = [], 0
    for cut in cuts + [size + 1]:
        end = min(cut, size)
        part = ("the line" if (start, end) == (0, size) else f"its first {end} bytes"
                if start == 0 else f"{end - start} more byte{'s' * (end - start != 1)}"
                if end > start else "")
        newline = "its newline" if cut == size + 1 else ""
        words.append(" and ".join(w for w in (part, newline) if w) or "nothing")
        start = end
    return ", then ".join(words)


def test_server_reads_lines_split_around_the_limit(lab):
    """Lines of 255, 256 and 257 bytes, each cut into writes at its last positions and before
    its newline, each piece read by the server before the next is sent: the limit holds
    wherever a line is split (256 bytes answered, 257 refused)."""
    with lab.start_server() as server:
        client = Client(lab, server)
        client.expect_welcome()
        for number, (size, cuts) in enumerate(split_around_the_limit(), 1):
            line = (b"%d" % number * size)[:size]
            data = line + b"\n"
            pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
            how = pieces_story(size, cuts)
            lab.story.step(f"send a {size}-byte line in {len(pieces)} writes, each read by the "
                           f"server before the next: {how}")
            arrived = f"the {size}-byte line arrived in {len(pieces)} segments: {how}"
            if not peers.send_split(client.sock, pieces, lab.deadline()):
                lab.expect_running(server.proc, f"while it reads {arrived}")
                raise CheckFailure(f"the server should read each piece of a line as it comes "
                                   f"({arrived})", actual="the first pieces were not read "
                                   f"within {lab.deadline().seconds:g} s",
                                   hint="read_line (step 3): while there is no newline in the "
                                        "buffer and it is not full, receive_more and look again")
            if size <= MAX_LINE_LEN:
                client.expect_line(f"{number}: ".encode() + line,
                                   f"the answer to line {number}, {size} bytes ({arrived})",
                                   hint=f"read_line (step 3): a line of up to {MAX_LINE_LEN} "
                                        f"bytes is allowed however it arrives. The buffer has "
                                        f"room for exactly {MAX_LINE_LEN} bytes and the newline "
                                        f"({MAX_LINE_LEN + 1}): it is full only when all "
                                        f"{MAX_LINE_LEN + 1} are used (r->len == sizeof r->buf); "
                                        "keep no byte for a '\\0': the line's '\\0' takes the "
                                        "newline's place")
            else:
                client.expect_line(f"error: line {number} is longer than {MAX_LINE_LEN} "
                                   "bytes".encode(), f"an error answer for line {number}, "
                                   f"{size} bytes ({arrived})",
                                   hint=f"read_line (step 3): {MAX_LINE_LEN + 1} bytes without "
                                        "a newline fill the buffer: the line is too long, "
                                        "however it arrives; drop it and read on to its newline")
        client.leave()
        closed = wait_closed_lines(lab, server, 1)[0]
        expect_equal(closed.group(0), f"closed {client.me} after {number} lines",
                     "the server should count every line, split or not")


def test_server_count_restarts_for_each_client(lab):
    """Clients one after another: each is counted from 1 (per-connection state)."""
    with lab.start_server() as server:
        for i in range(1, 4):
            lab.story.step(f"client {i}: connect, send two lines, exit")
            client = Client(lab, server, f"client {i}")
            client.expect_welcome()
            hint = ("serve (step 1): the count belongs to the connection: start it at 0 for "
                    "every client, in the struct connection made fresh for each one, not in a "
                    "global or a static")
            client.ask(f"line one of client {i}".encode(), 1, hint=hint)
            client.ask(f"line two of client {i}".encode(), 2, hint=hint)
            client.leave()


def test_server_forgets_the_half_line_of_a_client_that_left(lab):
    """The half-read line belongs to its connection: a client that leaves after 'thr' (no
    newline) leaves nothing behind for the next client."""
    with lab.start_server() as server:
        lab.story.step("client 1: connect, send 'thr' without a newline, close")
        first = Client(lab, server, "client 1")
        first.expect_welcome()
        first.send(b"thr")
        first.close()
        wait_closed_lines(lab, server, 1)
        lab.story.step("client 2: connect, send 'ee'")
        second = Client(lab, server, "client 2")
        second.expect_welcome()
        second.ask(b"ee", 1, hint="the bytes kept between calls of read_line belong to one "
                   "connection: keep them in the struct made fresh for each client, never in "
                   "static or global variables")
        second.leave()


def test_server_answers_every_byte_of_a_line(lab):
    """A line is bytes up to a newline: a NUL or a byte above 127 inside it comes back too."""
    with lab.start_server() as server:
        client = Client(lab, server)
        client.expect_welcome()
        for number, line in enumerate([b"nul\0inside", b"\0", b"caf\xc3\xa9 \xff\x01 end"], 1):
            lab.story.step(f"send the line {show(line)}")
            client.ask(line, number, hint="copy the line with memcpy and its length: printf's "
                       "%s stops at the first NUL byte")
        client.leave()


def test_server_second_client_waits_for_the_first(lab):
    """While one client is served, a second one connects but is welcomed only when the
    first leaves."""
    with lab.start_server() as server:
        lab.story.step("client 1: connect, send 'one'")
        first = Client(lab, server, "client 1")
        first.expect_welcome()
        first.ask(b"one", 1)
        lab.story.step("client 2: connect (the kernel completes the handshake: connect() "
                       "succeeds) and send 'two'")
        second = Client(lab, server, "client 2")
        second.send(b"two\n")
        lab.story.step("client 1: send 'again' (the server is still busy with client 1)")
        first.ask(b"again", 2)
        lab.story.step("client 2 should have received nothing yet")
        second.expect_nothing_yet(
            "client 2 should wait until client 1 leaves: this server serves one client at a time",
            hint="the communication loop with one client runs to its end before the connection "
                 "loop accepts the next (serving clients at the same time is lab 05)")
        lab.story.step("client 1 leaves; client 2 should be welcomed and answered now")
        first.leave()
        second.expect_welcome()
        second.expect_line(b"1: two", "the answer to 'two', sent while it waited",
                           hint="the line waited in the kernel's buffer; it is line 1 of "
                                "client 2. A higher number means the count went on from client "
                                "1's lines: start it at 0 for every connection")
        second.leave()
        closed = wait_closed_lines(lab, server, 2)
        log = server.proc.stdout.text
        expect(log.find(f"connection from {second.me}") > log.find(closed[0].group(0)),
               "the server should accept client 2 only after closing client 1",
               expected=f"'{closed[0].group(0)}' before 'connection from {second.me}'",
               actual=show(log))


def test_server_closes_every_connection(lab):
    """200 clients one after another leave no file descriptor open in the server."""
    with lab.start_server() as server:
        lab.story.step("serve one client, then count the server's open descriptors")
        client = Client(lab, server)
        client.expect_welcome()
        client.close()
        wait_closed_lines(lab, server, 1)
        before = server.proc.open_fds()
        lab.story.step(f"200 more clients: half say exit, half just close (the server had "
                       f"{before} descriptors open)")
        for i in range(200):
            client = Client(lab, server, f"client {i + 2}")
            client.expect_welcome()
            if i % 2:
                client.send(b"exit\n")
                client.expect_line(b"bye", "'bye' after 'exit'")
            client.close()
        wait_closed_lines(lab, server, 201, timeout=10)
        poll_until(lambda: server.proc.open_fds() <= before, lab.deadline(1))
        after = server.proc.open_fds()
        expect(after <= before, "every connection's socket should be closed once its client "
               "has left", expected=f"at most {before} open descriptors",
               actual=f"{after} (see ls -l /proc/{server.proc.pid}/fd)",
               hint="serve (step 1): close() the socket accept() returned when converse "
                    "returns, however the conversation ended")


def test_server_does_not_spin_when_a_client_closes(lab):
    """recv() returning 0 ends the conversation: the server neither spins nor hangs, and
    serves the next client."""
    with lab.start_server() as server:
        lab.story.step("connect, send 'hello', then close without 'exit' (and 'half' a line)")
        client = Client(lab, server)
        client.expect_welcome()
        client.ask(b"hello", 1)
        client.send(b"half")
        cpu_before, wall_before = cpu_seconds(server.proc.pid), time.monotonic()
        client.close()
        lab.story.step("the server should notice the end of the stream and close its side")
        server.proc.stdout.wait_for(
            lambda data: count_closed_lines(data.decode("utf-8", "replace")) >= 1, lab.deadline())
        if count_closed_lines(server.proc.stdout.text) < 1 and server.proc.running:
            used = cpu_seconds(server.proc.pid) - cpu_before
            wall = time.monotonic() - wall_before
            raise CheckFailure("the server should end the conversation when the client closes",
                               expected="'closed PEER after 1 line' in the server's log",
                               actual=f"no such line; meanwhile the server used {used:.1f} s of "
                                      f"CPU in {wall:.1f} s",
                               hint="read_line (step 3): recv() returns 0 once the client has "
                                    "closed: report LINE_END and never call recv() on it again. "
                                    "Called again, recv() returns 0 at once, forever: a server "
                                    "that goes on spins")
        wait_closed_lines(lab, server, 1)
        lab.story.step("the next client is served")
        again = Client(lab, server, "the next client")
        again.expect_welcome()
        again.ask(b"still there?", 1)
        again.leave()
        used = cpu_seconds(server.proc.pid) - cpu_before
        wall = time.monotonic() - wall_before
        expect(used <= 0.5 + 0.5 * wall, "the server should use little CPU while it waits",
               expected="a server asleep in poll/recv between lines",
               actual=f"{used:.1f} s of CPU in {wall:.1f} s",
               hint="a loop that calls recv() again after it returned 0 never sleeps")


def test_server_prints_no_error_after_clients_that_leave_normally(lab):
    """A client that says 'exit' and one that closes its side after a line both leave
    normally: the server writes nothing on stderr, where only problems with a client go."""
    with lab.start_server() as server:
        lab.story.step("a client sends 'hello', then 'exit', reads 'bye' and the end")
        client = Client(lab, server)
        client.expect_welcome()
        client.ask(b"hello", 1)
        client.leave()
        lab.story.step("a second client sends 'hello', then closes (an orderly close: FIN)")
        client = Client(lab, server, "the second client")
        client.expect_welcome()
        client.ask(b"hello", 1)
        client.close()
        wait_closed_lines(lab, server, 2)
        lab.stop_and_expect_no_errors(
            server, "one client said 'exit', the other closed its side",
            hint="converse (step 2): read_line returning LINE_END (recv() returned 0: the "
                 "client closed its side) is a normal end, not a problem: return without a "
                 "word on stderr. warn_errno() is for LINE_ERROR (recv() returned -1: a reset)")


def test_server_survives_clients_that_reset(lab):
    """Clients that reset (RST) at any moment never stop the server."""
    with lab.start_server() as server:
        lab.story.step("connect and reset at once")
        peers.reset(peers.connect(server.address, lab.deadline()))
        lab.story.step("connect, send half a line, reset")
        client = Client(lab, server)
        client.expect_welcome()
        client.send(b"half a li")
        peers.reset(client.sock)
        lab.story.step("connect, send three lines in one write and reset before the answers")
        client = Client(lab, server)
        client.expect_welcome()
        client.send(b"a\nb\nc\n")
        peers.reset(client.sock)
        lab.story.step("a good client afterwards")
        good = Client(lab, server, "a good client")
        good.expect_welcome()
        good.ask(b"fine", 1)
        good.leave()


def test_server_survives_a_client_that_stops_reading(lab):
    """A client that sends 20000 lines and leaves without reading the answers: the server's
    sends fail (EPIPE), never kill it (SIGPIPE), and it serves the next client."""
    with lab.start_server() as server:
        lab.story.step("client 1: connect (the server is now busy with it)")
        first = Client(lab, server, "client 1")
        first.expect_welcome()
        lab.story.step("client 2: connect, send 20000 lines in one go, close without reading")
        # Closed before the server accepts it, so its end of stream is already there: the
        # server's first answer makes client 2's kernel reset, and the next send gets EPIPE
        # (SIGPIPE without MSG_NOSIGNAL) every time, not only when the timing is right.
        with peers.connect(server.address, lab.deadline()) as gone:
            peers.send_all(gone, b"x\n" * 20000, lab.deadline())
        lab.story.step("client 1 leaves: the server turns to client 2, which has gone")
        first.leave()
        wait_closed_lines(lab, server, 2, timeout=10)
        lab.expect_running(server.proc, "after sending to a client that had gone")
        lab.story.step("a good client afterwards")
        good = Client(lab, server, "a good client")
        good.expect_welcome()
        good.ask(b"fine", 1)
        good.leave()


def test_server_ends_cleanly_on_sigterm(lab):
    """SIGTERM ends the server with status 0 and 'stopped', even mid-line with a client."""
    server = lab.start_server()
    with server:
        lab.story.step("connect a client that sends half a line")
        client = Client(lab, server)
        client.expect_welcome()
        client.send(b"half a li")
        lab.story.step("send SIGTERM while the server waits for the rest of the line")
        code = lab.stop_server(server)
        client.close()
        expect_equal(code, 0, "the server should exit with status 0 soon after SIGTERM",
                     hint="every wait goes through wait_readable(), which returns WAIT_STOPPED "
                          "when SIGTERM arrives: then return from each loop")
        lines = server.proc.stdout.lines()
        expect_equal(lines[-1] if lines else "", "stopped",
                     "the server's last line should be 'stopped'")


def test_server_ends_cleanly_on_ctrl_c(lab):
    """Ctrl-C (SIGINT) ends the server like SIGTERM, also while a client is connected."""
    server = lab.start_server()
    with server:
        client = Client(lab, server)
        client.expect_welcome()
        lab.story.step("send SIGINT, as Ctrl-C in a terminal does")
        server.proc.signal(signal.SIGINT)
        code = server.proc.wait(lab.deadline())
        server.proc.exit_seen = True
        client.close()
        expect_equal(code, 0, "the server should exit with status 0 on SIGINT")


def test_server_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments print the usage and exit 2."""
    lab.story.step("start the server on IPv6 loopback")
    with lab.start_server(host="::1") as server:
        expect_equal(server.host, "::1", "the server should listen on ::1 with -H ::1")
        client = Client(lab, server)
        client.expect_welcome()
        client.ask(b"v6", 1)
        client.leave()
    lab.expect_usage("server", [["--help"], ["-p", "abc"], ["-p", PAST_THE_LAST_PORT], ["-x"], ["-p"]])


# -- the client ----------------------------------------------------------------------------

PEER_WELCOME = b"welcome from a Python server, send lines; 'exit' to leave"


class NumberingPeer:
    """A Python version of the lab's server, for testing the client: it records the lines it
    receives. piece: write each line this many bytes at a time; delay: wait this long before
    each answer (a slow server); answers: how many lines to answer before closing."""

    def __init__(self, piece: int = 0, delay: float = 0.0, answers: int = 1000,
                 host: str = "127.0.0.1"):
        self.piece, self.delay, self.answers = piece, delay, answers
        self.received: list[bytes] = []
        self.after_exit = b""
        self.ended = ""
        self.server = peers.PeerServer(self._handle, host=host)
        self.address = self.server.address

    def _write(self, conn, line: bytes) -> None:
        if self.piece:
            peers.send_in_pieces(conn, line + b"\n", self.piece, 0.01, Deadline(10))
        else:
            peers.send_all(conn, line + b"\n", Deadline(5))

    def _handle(self, conn, peer) -> None:
        self._write(conn, PEER_WELCOME)
        lines = Lines(conn)
        while len(self.received) < self.answers:
            line = lines.next(Deadline(10))
            if line is None:
                self.ended = lines.ended
                return
            self.received.append(line)
            if line == b"exit":
                try:
                    self._write(conn, b"bye")
                    conn.shutdown(socket.SHUT_WR)
                except OSError as e:  # the client left without reading: the test says so
                    self.ended = f"the client had gone ({e.strerror})"
                    return
                rest = peers.recv_until_closed(conn, Deadline(5))
                self.after_exit = lines.pending + rest.data
                self.ended = rest.ended
                return
            if self.delay:
                time.sleep(self.delay)  # a slow server: the pause is the behaviour under test
            self._write(conn, f"{len(self.received)}: ".encode() + line)
        # Closing now, with the client's next line unread, would send a reset: the client
        # should see a plain end of stream. So: end our side, read until the client closes.
        conn.shutdown(socket.SHUT_WR)
        peers.recv_until_closed(conn, Deadline(5))
        self.ended = "closed by the peer"

    def __enter__(self) -> "NumberingPeer":
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()

    def finish(self, lab) -> None:
        self.server.join(lab.deadline())
        self.server.check()


def expected_output(peer, answers: list[bytes]) -> str:
    lines = [f"connected to {peer.address}", PEER_WELCOME.decode(), *map(bytes.decode, answers)]
    return "".join(line + "\n" for line in lines)


NEWLINE_HINT = ("talk (step 4): send each line with its newline ('\\n' alone for an empty line, "
                "never a 0-byte send): the server answers only whole lines")


def test_client_prints_the_welcome_and_each_answer(lab):
    """Step 4-5: the client sends each input line and prints the welcome and every answer."""
    with NumberingPeer() as peer:
        lab.story.step(f"run the client against a Python server at {peer.address}, input "
                       "'hello', '' and 'world'")
        result = lab.run("client", "-p", str(peer.address.port), input=b"hello\n\nworld\n",
                         hint=NEWLINE_HINT)
        peer.finish(lab)
    result.expect_status(0)
    expect_equal(result.stdout, expected_output(peer, [b"1: hello", b"2: ", b"3: world"]),
                 "the client should print 'connected to SERVER', then each line the server "
                 "sends, as it is")
    expect_equal(peer.received, [b"hello", b"", b"world"],
                 "the server should receive the input lines, each with its newline",
                 hint=NEWLINE_HINT)
    expect_equal(peer.ended, peers.Ended.EOF, "at the end of input the client should close its side "
                 "(the server's recv returns 0)")


def test_client_reads_lines_arriving_in_pieces(lab):
    """The server's lines come 3 bytes per write: the client still prints whole lines."""
    with NumberingPeer(piece=3) as peer:
        lab.story.step("run the client against a Python server that writes 3 bytes at a time")
        result = lab.run("client", "-p", str(peer.address.port), input=b"hello\nworld\n",
                         timeout=10)
        peer.finish(lab)
    result.expect_status(0)
    expect_equal(result.stdout, expected_output(peer, [b"1: hello", b"2: world"]),
                 "the client should print each line whole",
                 hint="read_line (step 5): one recv() is not one line: read until the "
                      "newline, and keep the bytes after it for the next line")


def test_client_exit_ends_the_session(lab):
    """'exit' is sent, 'bye' printed, and nothing after it is sent."""
    with NumberingPeer() as peer:
        lab.story.step("run the client with input 'one', 'exit', 'two'")
        result = lab.run("client", "-p", str(peer.address.port), input=b"one\nexit\ntwo\n")
        peer.finish(lab)
    result.expect_status(0)
    expect_equal(result.stdout, expected_output(peer, [b"1: one", b"bye"]),
                 "the client should print the answer to 'one' and the 'bye'",
                 hint="talk (step 4): after 'exit' stop reading input, shutdown(fd, SHUT_WR), and "
                      "print what the server sends until it closes: the 'bye' comes after")
    expect_equal(peer.received, [b"one", b"exit"], "the server should receive 'one' and 'exit'")
    expect_equal(peer.after_exit, b"", "the client should send nothing after 'exit'")


def test_client_waits_for_the_last_answer(lab):
    """A slow server (0.5 s per answer): the client prints every answer before it exits."""
    with NumberingPeer(delay=0.5) as peer:
        lab.story.step("run the client with input 'one', 'two' against a slow Python server")
        result = lab.run("client", "-p", str(peer.address.port), input=b"one\ntwo\n")
        peer.finish(lab)
    result.expect_status(0)
    expect_equal(result.stdout, expected_output(peer, [b"1: one", b"2: two"]),
                 "the client should wait for each answer, the last one too",
                 hint="talk (step 4): one line out, one answer in: read the answer before "
                      "the next line, and at the end print what comes until the server closes")


def test_client_prints_no_error_after_a_normal_session(lab):
    """At the end of its input the client closes its side and prints what comes until the
    server closes: a normal end, so it exits 0 and writes nothing on stderr."""
    with NumberingPeer() as peer:
        lab.story.step("run the client with input 'one', then the end of input")
        result = lab.run("client", "-p", str(peer.address.port), input=b"one\n")
        peer.finish(lab)
    result.expect_status(0)
    expect_equal(result.stdout, expected_output(peer, [b"1: one"]),
                 "the client should print the welcome and the answer to 'one'")
    lab.expect_no_errors(
        result.proc, "the end of its input, then the server's close",
        hint="talk (step 4): after shutdown(), the server closing the connection is the "
             "normal end of the session: print the lines that come until read_line returns "
             "false, and say nothing. Only a close before an answer (print_answer) is an error")


def test_client_server_closing_early_is_an_error(lab):
    """The server closes without answering: the client says so and exits 1."""
    with NumberingPeer(answers=1) as peer:
        lab.story.step("run the client against a Python server that closes after one line")
        result = lab.run("client", "-p", str(peer.address.port), input=b"one\ntwo\n")
        peer.finish(lab)
    result.expect_status(1, "a runtime failure")
    expect("the server closed the connection" in result.stderr,
           "the client should say that the server closed the connection",
           expected="'client: the server closed the connection' on stderr",
           actual=show(result.stderr), hint="read_line (step 5): recv() returning 0 while you "
           "wait for an answer means the server has closed: say so and exit 1")


def test_client_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments exit 2 with the usage."""
    with NumberingPeer(host="::1") as peer:
        lab.story.step("run the client against a Python server on ::1")
        result = lab.run("client", "-H", "::1", "-p", str(peer.address.port), input=b"v6\n")
        peer.finish(lab)
        result.expect_status(0)
        expect_equal(result.stdout, expected_output(peer, [b"1: v6"]),
                     "the client should work over IPv6")
    for args in [["--help"], ["-p", "0"], ["-p", "abc"], ["--bogus"]]:
        lab.story.step(f"run: client {' '.join(args)}")
        result = lab.run("client", *args)
        if args == ["--help"]:
            result.expect_status(0)
        else:
            result.expect_status(2, "bad arguments")
            expect("usage:" in result.stderr, "bad arguments should print the usage on stderr",
                   actual=show(result.stderr))


# -- together ------------------------------------------------------------------------------

@pytest.mark.memory
def test_client_and_server_session(lab):
    """The real client and server: a whole session, as the handout shows it."""
    with lab.start_server() as server:
        lab.story.step("run the client with input 'hello', '', 'exit', 'ignored'")
        result = lab.run("client", "-p", server.port, input=b"hello\n\nexit\nignored\n",
                         hint=NEWLINE_HINT)
        result.expect_status(0)
        me = result.expect_stdout_line(r"^welcome (\S+), ", "the welcome").group(1)
        expect_equal(result.stdout, f"connected to {server.address}\n"
                     f"welcome {me}, send lines; 'exit' to leave\n1: hello\n2: \nbye\n",
                     "the client should print the whole session")
        closed = wait_closed_lines(lab, server, 1)[0]
        expect_equal(closed.group(0), f"closed {me} after 2 lines",
                     "the server should log the client and its 2 lines")


def test_two_clients_the_second_waits_its_turn(lab):
    """Two real clients: the second connects at once but is served when the first leaves."""
    with lab.start_server() as server:
        lab.story.step("client 1: start it, type 'one'")
        first = lab.start("client", "-p", server.port, name="client 1")
        first.write(b"one\n")
        lab.expect_stdout(first, r"^1: one$", "the answer '1: one'")
        lab.story.step("client 2: start it, type 'two'")
        second = lab.start("client", "-p", server.port, name="client 2")
        second.write(b"two\n")
        lab.expect_stdout(second, r"^connected to ", "'connected to SERVER' (connect succeeds "
                          "while the server is busy: the kernel queues the connection)")
        lab.story.step("client 1: type 'again'")
        first.write(b"again\n")
        lab.expect_stdout(first, r"^2: again$", "the answer '2: again'")
        expect("welcome" not in second.stdout.text, "client 2 should not be welcomed while "
               "client 1 is connected", expected="only 'connected to ...'",
               actual=show(second.stdout.text))
        lab.story.step("client 1: end of input (Ctrl-D)")
        first.close_stdin()
        code = first.wait(lab.deadline())
        first.exit_seen = True
        expect_equal(code, 0, "client 1 should exit with status 0 at the end of its input")
        lab.judge_valgrind(first)
        lab.story.step("client 2 should now be welcomed and answered")
        lab.expect_stdout(second, r"^1: two$", "the answer '1: two' once client 1 has left")
        second.close_stdin()
        code = second.wait(lab.deadline())
        second.exit_seen = True
        expect_equal(code, 0, "client 2 should exit with status 0 at the end of its input")
        lab.judge_valgrind(second)
