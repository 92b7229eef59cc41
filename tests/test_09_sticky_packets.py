"""Lab 09 - sticky-packets: message boundaries, framing and file transfer.

The tests follow the handout's three parts (labs/09-sticky-packets/README.md): the naive
receiver that takes one recv() for one message; length-prefixed frames; file upload with a
JSON header, the file, and a JSON trailer that carries its SHA-256. The server is tested with Python peers - a writer that sends one byte per write,
one that puts many frames (or header and body) in a single write, peers that lie about
lengths, names and checksums, or vanish - and the client with Python servers; then both
together.

Sizes scale down where a setting makes them slow, and the test's steps say so: under
--short-io every recv moves 7 bytes (50 MiB would take minutes), under --valgrind everything
runs some 30 times slower.
"""
from __future__ import annotations

import hashlib
import json
import random
import select
import re
import socket
import struct
import threading
from pathlib import Path

import pytest

from harness import (MAX_HEADER_LEN, CheckFailure, Deadline, Ended, Reader, content, expect,
                     expect_equal, frame, header_for, header_frame, length_hint, peers,
                     poll_until, seed_upload_bytes, sha256, show, trailer_for, upload_bytes)

LAB = "09-sticky-packets"

MAX_FRAME_LEN = 1 << 20  # the limits the handout documents (and MAX_HEADER_LEN)
MAX_FILE_SIZE = 1 << 30
NAIVE_BUF_LEN = 1024

MESSAGE_RE = r'^message (\d+): (\d+) bytes "(.*)"(\.\.\.)?$'
END_RE = r"^end of stream from \S+ after (\d+) messages?$"


def vm_peak_kib(proc) -> int:
    """The most virtual memory the process has ever had (VmPeak), in KiB."""
    try:
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def blocked(proc) -> bool:
    """Whether the process sleeps in a system call (state S in /proc/PID/stat): waiting for
    bytes that have not come, rather than still working on those that have."""
    try:
        with open(f"/proc/{proc.pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "S"
    except (OSError, IndexError):
        return False


def expect_stderr(lab, proc, pattern: str, what: str, hint: str | None = None,
                  instead: str | None = None, start: int = 0) -> re.Match:
    """Waits for a line of stderr (at or after offset start) matching pattern. instead: the
    lines that report the same event otherwise (say, a refusal of another length): once one
    of those is there, the expected line can no longer come, and the wait ends."""
    regex = re.compile(pattern, re.MULTILINE)
    other = re.compile(instead, re.MULTILINE) if instead else None

    def settled(data: bytes):
        text = data.decode("utf-8", "replace")
        found = regex.search(text, start)
        return found or (other is not None and other.search(text, start) is not None)

    match = proc.stderr.wait_for(settled, lab.deadline())
    if not isinstance(match, re.Match):
        raise CheckFailure(f"the {proc.name} should print {what} on stderr",
                           expected=f"a line matching {pattern!r}",
                           actual=f"its stderr is {show(proc.stderr.text)}", hint=hint)
    return match


def byte_swapped(length: int) -> int:
    """length's 4 big-endian bytes read in this machine's byte order (little-endian)."""
    return struct.unpack("<I", struct.pack("!I", length))[0]


def misread_prefix_hint(lab, proc, length: int, start: int) -> str | None:
    """Why a frame of `length` bytes got no reply at all, when the server says so on stderr
    (after offset start): a refusal of the byte-swapped length is a prefix read without
    ntohl(). None when the server refuses nothing of the kind within a short wait."""
    pattern = re.compile(rf"refused a frame of {byte_swapped(length)} bytes")
    if proc.stderr.wait_for(lambda data: pattern.search(data.decode("utf-8", "replace"), start),
                            lab.deadline(1)) is None:
        return None
    return (f"the server refused the frame as {byte_swapped(length)} bytes: that is the prefix "
            f"{struct.pack('!I', length).hex(' ')} ({length}) read in this machine's byte order "
            "(little-endian). Read the prefix with ntohl(), and send yours with htonl()")


def over_limit_hint(proc, length: int, start: int) -> str:
    """Why a frame of `length` bytes (over the limit) was not refused as it should be, from
    what the server printed after offset start: a refusal of the byte-swapped length is a
    missing ntohl(); no refusal at all is a limit never checked (0xFFFFFFFF reads the same in
    either byte order, so byte order cannot be the cause there)."""
    swapped = byte_swapped(length)
    refused = re.findall(r"refused a frame of (\d+) bytes", proc.stderr.text[start:])
    if str(swapped) in refused and swapped != length:
        return (f"the server read the prefix as {swapped}: this machine's byte order. Read "
                "the 4 bytes of the prefix in network byte order: ntohl()")
    return (f"the length was not compared with the limit: a frame of {length} bytes is over "
            f"{MAX_FRAME_LEN} and must be refused (hang up, and say so on stderr) before "
            "anything is allocated or read for it")


def started_writing(updir: Path) -> bool:
    return any(p.stat().st_size > 0 for p in updir.iterdir())


def spoke(sock: socket.socket) -> bool:
    """The server has answered, closed or reset the connection: what the test waits for
    next will not happen (a refused upload, say), so waiting on would only waste time."""
    return bool(select.select([sock], [], [], 0)[0])


def expect_no_big_allocation(lab, server, before_kib: int, length: int) -> None:
    grown = vm_peak_kib(server.proc) - before_kib
    expect(grown < 512 * 1024, f"a length of {length} should be refused before any memory is "
           "allocated for it", expected="the server's peak memory (VmPeak) to stay about the "
           "same", actual=f"it grew by {grown // 1024} MiB",
           hint="compare the length with the limit first, and only then call malloc()")


def messages_printed(proc, start: int = 0) -> list[tuple[int, int, str]]:
    """The (number, size, text) of each 'message N: K bytes "..."' line printed so far."""
    text = proc.stdout.text[start:]
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in re.finditer(MESSAGE_RE, text, re.MULTILINE)]


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def naive_chunk(lab) -> int:
    """What one recv() returns at most: the naive buffer, or the --short-io cap if smaller."""
    short_io = lab.settings.short_io
    if short_io and not short_io.recv_fixed:
        pytest.skip(f"SOCKLAB_SHORT_IO={short_io} draws each recv()'s cap at random")
    return min(NAIVE_BUF_LEN, (short_io and short_io.recv) or NAIVE_BUF_LEN)


# -- part 1: the problem, made visible ------------------------------------------------------

def naive_session(lab, server, data: bytes) -> list[tuple[int, int, str]]:
    """Sends data in one write, closes, and returns the messages the naive server saw."""
    with peers.connect(server.address, lab.deadline()) as sock:
        peers.send_all(sock, data, lab.deadline())
    lab.expect_stdout(server.proc, END_RE, "'end of stream from PEER after N messages' when "
                      "the client closes", hint="recv() returns 0 when the peer has closed")
    return messages_printed(server.proc)


def test_naive_two_sends_together_are_one_message(lab):
    """Step 1: "hello" and "world" written together come out of one recv() as one message."""
    with lab.start_server("naive") as server:
        lab.story.step("connect, write 'hello' and 'world' in a single write, close")
        seen = naive_session(lab, server, b"hello" + b"world")
    expected = [(i, len(c), c.decode()) for i, c in enumerate(chunks(b"helloworld",
                                                                     naive_chunk(lab)), 1)]
    expect_equal(seen, expected, "the naive receiver should print what each recv() returned "
                 "as one message: the two words run together",
                 hint="one recv() per message: recv(conn, buf, 1024, 0), then print "
                      "'message N: K bytes \"TEXT\"'")


def test_naive_one_long_send_is_several_messages(lab):
    """Step 1: 3000 bytes written at once come out of several recv() calls of 1024 bytes."""
    data = b"0123456789" * 300
    with lab.start_server("naive") as server:
        lab.story.step("connect, write 3000 bytes in a single write, close")
        seen = naive_session(lab, server, data)
    expected = [len(c) for c in chunks(data, naive_chunk(lab))]
    expect_equal([size for _, size, _ in seen], expected,
                 "the naive receiver reads at most 1024 bytes at a time, so one long message "
                 "becomes several", hint="recv() into a buffer of NAIVE_BUF_LEN (1024) bytes")


def test_naive_slow_writer_is_split_where_it_paused(lab):
    """Step 1: "hel", a pause, then "lo": the naive receiver sees two messages."""
    with lab.start_server("naive") as server:
        with peers.connect(server.address, lab.deadline()) as sock:
            lab.story.step("write 'hel', then wait until the server prints it")
            peers.send_all(sock, b"hel", lab.deadline())
            lab.expect_stdout(server.proc, r'^message 1: 3 bytes "hel"$',
                              "'message 1: 3 bytes \"hel\"' as soon as those 3 bytes arrive")
            lab.story.step("write 'lo', the rest of the word")
            peers.send_all(sock, b"lo", lab.deadline())
            lab.expect_stdout(server.proc, r'^message 2: 2 bytes "lo"$',
                              "'message 2: 2 bytes \"lo\"': one recv() returns what has arrived")


def test_naive_client_and_server_together(lab):
    """Step 1: `client naive hello world` sends two words; every byte arrives, in order."""
    with lab.start_server("naive") as server:
        lab.story.step("run: client naive hello world")
        result = lab.run("client", "-p", server.port, "naive", "hello", "world")
        result.expect_status(0)
        result.expect_stdout_line(r'^sent message 1: 5 bytes "hello"$', "what it sent")
        result.expect_stdout_line(r'^sent message 2: 5 bytes "world"$', "what it sent")
        lab.expect_stdout(server.proc, END_RE, "the end of the client's stream")
        seen = messages_printed(server.proc)
    expect_equal("".join(text for _, _, text in seen), "helloworld",
                 "the naive server should receive all ten bytes, in order (however they are "
                 "split into messages)")


# -- part 2: length-prefixed frames ---------------------------------------------------------

ONE_RECV_HINT = ("the server hung up while the bytes were still arriving one at a time: recv() "
                 "returns what has arrived, maybe 1 byte, not all you asked for: loop until "
                 "you have the 4 bytes of the length, then until you have the whole payload")


def send_slowly(sock, data: bytes, pieces: int, gap: float, deadline) -> None:
    """peers.send_in_pieces. A well-formed stream sent one byte per write that the server
    breaks before it has every byte: the server took what one recv() returned for all it
    asked for (whole frames in one write pass elsewhere, so the pieces are the difference)."""
    try:
        peers.send_in_pieces(sock, data, pieces, gap, deadline)
    except CheckFailure as failure:
        if pieces != 1 or "connection broke" not in failure.what:
            raise
        raise CheckFailure(failure.what, expected=failure.expected, actual=failure.actual,
                           hint=ONE_RECV_HINT) from None


def echo(lab, server, data: bytes, count: int, pieces: int = 0,
         timeout: float = 5) -> list[bytes]:
    """Writes data (one write, or `pieces` bytes per write) and reads `count` framed replies;
    then expects the server to close when we do."""
    with peers.connect(server.address, lab.deadline()) as sock:
        if pieces:
            send_slowly(sock, data, pieces, 0.002, lab.deadline(20))
        else:
            peers.send_all(sock, data, lab.deadline(timeout))
        reader = Reader(sock, lab.deadline(timeout))
        replies = [reader.frame(f"reply {i} of {count} should be a frame",)
                   for i in range(1, count + 1)]
        sock.shutdown(socket.SHUT_WR)
        rest = reader.until_closed()
        expect(rest == b"", "the server should send one reply per frame and nothing more",
               actual=f"{show(rest)} after the last reply")
    return replies


@pytest.mark.memory
def test_echo_one_frame(lab):
    """Steps 2-6: a frame holding "hello" is answered with the same frame, byte for byte."""
    with lab.start_server("echo") as server:
        lab.story.step("send 00 00 00 05 'hello', read one framed reply")
        with peers.connect(server.address, lab.deadline()) as sock:
            peers.send_all(sock, frame(b"hello"), lab.deadline())
            reader = Reader(sock, lab.deadline())
            raw = reader.upto(9)
        hint = "read exactly 4 bytes, ntohl(), then exactly that many bytes; reply with " \
               "htonl(length) and the payload"
        if raw == b"":
            hint = misread_prefix_hint(lab, server.proc, 5, 0) or hint
        expect_equal(raw, frame(b"hello"), "the reply should be the length 5 as 4 big-endian "
                     "bytes, then 'hello'", hint=hint)
        lab.expect_stdout(server.proc, r'^message 1: 5 bytes "hello"$',
                          "'message 1: 5 bytes \"hello\"'")


def test_echo_length_is_network_byte_order(lab):
    """Steps 2-6: lengths are big-endian; a native (little-endian) 5 reads as 83,886,080."""
    with lab.start_server("echo") as server:
        payload = content(258)
        lab.story.step("send a frame of 258 bytes (prefix 00 00 01 02)")
        with peers.connect(server.address, lab.deadline()) as sock:
            peers.send_all(sock, frame(payload), lab.deadline())
            prefix = Reader(sock, lab.deadline()).upto(4)
        hint = "htonl() before sending"
        if len(prefix) == 4:
            hint = length_hint(struct.unpack("!I", prefix)[0], payload, hint)
        elif prefix == b"":
            hint = misread_prefix_hint(lab, server.proc, len(payload), 0) or hint
        expect_equal(prefix, b"\x00\x00\x01\x02", "the reply's prefix should announce the 258 "
                     "bytes sent, most significant byte first", hint=hint)
        lab.story.step("send the prefix the tutorials' struct.pack('i', 5) makes: 05 00 00 00")
        logged = len(server.proc.stderr.data)
        with peers.connect(server.address, lab.deadline()) as sock:
            peers.send_all(sock, struct.pack("<I", 5) + b"hello", lab.deadline())
            reply = Reader(sock, lab.deadline()).until_closed()
        expect_stderr(lab, server.proc, r"refused a frame of 83886080 bytes",
                      "'refused a frame of 83886080 bytes ...': 05 00 00 00, read big-endian, "
                      "is 83,886,080, over the limit", start=logged,
                      hint="the server answered 05 00 00 00 'hello' as a frame of 5 bytes: it "
                           "reads the prefix in this machine's byte order: ntohl()"
                      if reply.endswith(b"hello") else
                      over_limit_hint(server.proc, 83886080, logged))


@pytest.mark.short_io("send=7,recv=5,seed=90")
def test_echo_many_frames_in_one_write(lab):
    """Steps 2-6: a hundred frames in a single write: a hundred replies, each whole."""
    rng = random.Random(100)
    payloads = [content(rng.choice([0, 1, 3, 4, 5, 100, 1000, 3000]), seed=i) for i in range(100)]
    with lab.start_server("echo") as server:
        lab.story.step("send 100 frames of 0 to 3000 bytes in one write, read 100 replies")
        replies = echo(lab, server, b"".join(map(frame, payloads)), len(payloads))
        for i, (got, sent) in enumerate(zip(replies, payloads), 1):
            expect_equal(got, sent, f"reply {i} should hold the bytes of frame {i}",
                         hint=length_hint(len(got), sent, "the frames came in one piece: read "
                                          "each frame's length, then exactly that many bytes, "
                                          "and keep the rest for the next one"))
        lab.expect_stdout(server.proc, r"^message 100: ", "'message 100: ...'")


def test_echo_frames_one_byte_per_write(lab):
    """Steps 2-6: frames written one byte per write are put back together."""
    payloads = [b"hello", b"", b"sticky", content(40)]
    with lab.start_server("echo") as server:
        lab.story.step("send 4 frames, one byte per write (TCP_NODELAY, 2 ms apart)")
        replies = echo(lab, server, b"".join(map(frame, payloads)), len(payloads), pieces=1)
    for i, (got, sent) in enumerate(zip(replies, payloads), 1):
        expect_equal(got, sent, f"reply {i} should hold the bytes of frame {i}",
                     hint="recv() returns what has arrived, maybe 1 byte: loop until you have "
                          "the 4 bytes of the length, then until you have the payload")


@pytest.mark.short_io("send=1000,recv=1000,seed=91")
def test_echo_largest_frame(lab):
    """Steps 2-6: a frame of exactly the limit, 1 MiB, is accepted and echoed."""
    payload = content(MAX_FRAME_LEN)
    with lab.start_server("echo") as server:
        lab.story.step("send one frame of 1048576 bytes")
        replies = echo(lab, server, frame(payload), 1, timeout=30)
    expect(replies[0] == payload, "the 1 MiB reply should be the 1 MiB sent",
           actual=f"{len(replies[0])} bytes, sha256 {sha256(replies[0])[:16]}...",
           hint=length_hint(len(replies[0]), payload, None))


def test_echo_refuses_a_length_over_the_limit(lab):
    """Steps 2-6: a length over 1 MiB (0xFFFFFFFF among them) is refused before anything is
    allocated; the server goes on."""
    with lab.start_server("echo") as server:
        for length in [0xFFFFFFFF, MAX_FRAME_LEN + 1]:
            before = vm_peak_kib(server.proc)
            logged = len(server.proc.stderr.data)
            lab.story.step(f"send the prefix {struct.pack('!I', length).hex(' ')} ({length} "
                           "bytes) and 10 bytes")
            with peers.connect(server.address, lab.deadline()) as sock:
                peers.send_all(sock, struct.pack("!I", length) + b"0123456789", lab.deadline())
                reader = Reader(sock, lab.deadline())
                rest = reader.until_closed()
            expect(rest == b"" and reader.ended in (Ended.EOF, Ended.RESET),
                   "the server should hang up on a frame over the limit, without a reply",
                   actual=f"{show(rest)}, then {reader.how_it_ended()}",
                   hint=over_limit_hint(server.proc, length, logged))
            expect_stderr(lab, server.proc, rf"refused a frame of {length} bytes",
                          f"'refused a frame of {length} bytes from PEER: the limit is 1048576 "
                          "bytes'", instead=r"refused a frame of \d+ bytes", start=logged,
                          hint=over_limit_hint(server.proc, length, logged))
            expect_no_big_allocation(lab, server, before, length)
            lab.expect_running(server.proc, "after a frame over the limit")
        lab.story.step("a good client afterwards")
        expect_equal(echo(lab, server, frame(b"still here"), 1), [b"still here"],
                     "the next client should be served")


def test_echo_prints_no_error_after_a_normal_close(lab):
    """Steps 2-6: a client that sends two frames, reads the replies and closes between frames
    has ended normally: the server prints 'end of stream' and nothing on stderr, where the
    handout puts only refusals and connections closed in the middle of a frame."""
    with lab.start_server("echo") as server:
        lab.story.step("send two frames, read both replies, close between frames")
        expect_equal(echo(lab, server, frame(b"one") + frame(b"two"), 2), [b"one", b"two"],
                     "each reply should hold the bytes of its frame")
        lab.expect_stdout(server.proc, END_RE, "'end of stream from PEER after 2 messages'")
        lab.stop_and_expect_no_errors(
            server, "a client closed between frames: recv() returned 0 before a prefix",
            hint="recv_frame: an end of stream before the first byte of a prefix is the "
                 "normal end (FRAME_END: print 'end of stream ...' on stdout, nothing on "
                 "stderr); only an end inside a prefix or a payload is an error (FRAME_SHORT)")


def test_echo_peer_leaving_mid_frame(lab):
    """Steps 2-6: a peer that closes or resets in the middle of a frame never stops the server."""
    with lab.start_server("echo") as server:
        lab.story.step("announce 100 bytes, send 10, close")
        with peers.connect(server.address, lab.deadline()) as sock:
            peers.send_all(sock, struct.pack("!I", 100) + b"0123456789", lab.deadline())
        expect_stderr(lab, server.proc, r"in the middle of a frame",
                      "'PEER closed the connection in the middle of a frame'",
                      instead=r"refused a frame of \d+ bytes",  # it misread the length
                      hint="a recv() of 0 before the announced length has arrived means the peer "
                           "left in the middle of the frame")
        lab.story.step("send half a prefix, then reset")
        sock = peers.connect(server.address, lab.deadline())
        peers.send_all(sock, b"\x00\x00", lab.deadline())
        peers.reset(sock)
        lab.story.step("a good client afterwards")
        expect_equal(echo(lab, server, frame(b"next"), 1), [b"next"],
                     "the next client should be served")


def echo_peer(count: int, reply_in_pieces: bool):
    """A Python echo server for testing the client: reads `count` frames, then answers with
    them, all in one write or one byte per write."""
    received: list[bytes] = []

    def handler(conn, peer):
        reader = Reader(conn, Deadline(10))
        for i in range(1, count + 1):  # a prefix over the limit is wrong at once: no waiting
            received.append(reader.frame(f"the client should send message {i} as a frame",
                                         limit=MAX_FRAME_LEN))
        replies = b"".join(frame(p) for p in received)
        if reply_in_pieces:
            peers.send_in_pieces(conn, replies, 1, 0.002, Deadline(10))
        else:
            peers.send_all(conn, replies, Deadline(10))
        reader.until_closed()

    return handler, received


def glued_replies_hint(stdout: str, words: list[str]) -> str | None:
    """The client's stdout shows a reply longer than the message it answers: one recv() took
    several replies (prefixes and all) for one."""
    for m in re.finditer(r'^reply (\d+): (\d+) bytes', stdout, re.MULTILINE):
        number, size = int(m.group(1)), int(m.group(2))
        if 1 <= number <= len(words) and size > len(words[number - 1].encode()):
            return (f"the client printed {size} bytes as reply {number}, whose message has "
                    f"{len(words[number - 1].encode())}: one recv() returned several replies "
                    "together, and it took them all for one (the next prefixes too), then "
                    "waited for replies it had already read. Read each reply with "
                    "recv_frame(): its 4-byte length, then exactly that many bytes")
    return None


@pytest.mark.parametrize("replies", ["one write", "one byte per write"])
def test_echo_client_sends_frames_and_prints_replies(lab, replies):
    """Step 7: `client echo` frames every message and prints every framed reply."""
    words = ["hello", "world", "", "a longer message, with spaces"]
    handler, received = echo_peer(len(words), replies != "one write")
    with peers.PeerServer(handler) as peer:
        lab.story.step(f"run: client echo {' '.join(repr(w) for w in words)}, against a Python "
                       f"server that replies in {replies}")
        try:
            result = lab.run("client", "-p", str(peer.address.port), "echo", *words, timeout=10)
        except CheckFailure as failure:  # it did not end: say what it took for a reply
            raise CheckFailure(failure.what, expected=failure.expected, actual=failure.actual,
                               hint=glued_replies_hint(lab.story.procs[-1].stdout.text, words)
                               or failure.hint) from None
        peer.join(Deadline(5))
        try:
            peer.check()
        except CheckFailure as failure:  # well-formed replies, one byte per write, cut short
            if replies == "one write" or "connection broke" not in failure.what:
                raise
            raise CheckFailure(failure.what, expected=failure.expected, actual=failure.actual,
                               hint="the client hung up while the replies were still arriving "
                                    "one byte at a time: recv() returns what has arrived, "
                                    "maybe 1 byte: read each reply with recv_frame(), which "
                                    "loops until it has the 4 bytes of the length, then the "
                                    "whole payload") from None
    expect_equal(received, [w.encode() for w in words],
                 "the Python server should receive each message as one frame")
    glued = glued_replies_hint(result.stdout, words)
    expect(result.returncode == 0, "the client should exit with status 0",
           expected="exit status 0", actual=result.proc.status(), hint=glued)
    for i, word in enumerate(words, 1):
        result.expect_stdout_line(rf'^reply {i}: {len(word)} bytes "{re.escape(word)}"$',
                                  f"reply {i}", hint=glued or "read each reply with recv_frame()")


@pytest.mark.short_io("send=3,recv=3,seed=92")
@pytest.mark.memory
def test_echo_client_and_server_together(lab):
    """Steps 2-7: `client echo` against the echo server: every message comes back whole."""
    with lab.start_server("echo") as server:
        lab.story.step("run: client echo hello '' world")
        result = lab.run("client", "-p", server.port, "echo", "hello", "", "world")
        result.expect_status(0)
        for line in ['reply 1: 5 bytes "hello"', 'reply 2: 0 bytes ""',
                     'reply 3: 5 bytes "world"']:
            result.expect_stdout_line(f"^{re.escape(line)}$", repr(line))
        lab.expect_stdout(server.proc, END_RE, "the end of the client's stream")
        expect_equal(messages_printed(server.proc), [(1, 5, "hello"), (2, 0, ""), (3, 5, "world")],
                     "the server should print one line per message")


# -- part 3: file upload --------------------------------------------------------------------

def start_upload_server(lab):
    updir = lab.workdir / "uploads"
    return lab.start_server("-d", str(updir), "upload"), updir


def upload(lab, server, *parts: bytes, pieces: int = 0, timeout: float = 5,
           half_close: bool = False) -> dict:
    """Sends an upload (or a broken one) - each part in one write, or `pieces` bytes per
    write - and returns the server's status."""
    with peers.connect(server.address, lab.deadline()) as sock:
        for data in parts:
            if pieces:
                send_slowly(sock, data, pieces, 0.001, lab.deadline(30))
            else:
                peers.send_all(sock, data, lab.deadline(timeout))
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock, lab.deadline(timeout))
        try:
            return reader.status()
        except CheckFailure as failure:
            if failure.hint or reader.ended != Ended.TIMEOUT or reader.buf or \
                    not (server.proc.running and blocked(server.proc)):
                raise
            raise CheckFailure(failure.what, expected=failure.expected, actual=failure.actual,
                               hint=WAITS_AFTER_ALL_HINT) from None


# The server had every byte of the upload and, silent, waited for more: it counted more bytes
# due than the header, the file's size and the trailer make.
WAITS_AFTER_ALL_HINT = (
    "the server has had every byte of the upload and still waits for more without answering. "
    "The file is exactly 'size' bytes: cap each recv() of the file at the bytes still due "
    "(size - received), or the trailer that follows is read as part of the file, and the "
    "server then waits for a trailer it has already swallowed")


def files_in(updir: Path) -> list[str]:
    return sorted(p.name for p in updir.iterdir()) if updir.exists() else []


def expect_files(updir: Path, names: list[str], why: str) -> None:
    expect_equal(files_in(updir), sorted(names), why,
                 hint="write to a temporary file, rename() it only when size and checksum "
                      "are right, and unlink() it on any failure")


def expect_stored(lab, server, updir: Path, name: str, body: bytes, status: dict,
                  digest: str | None = None) -> None:
    """The status says ok, and updir/name holds body (whose sha256 is digest, if known)."""
    digest = digest or sha256(body)
    expect_equal(status.get("status"), "ok", f"the upload of {name} should succeed (the "
                 f"server's answer was {status})")
    expect_equal(status.get("size"), len(body), "the ok status should carry the size")
    expect_equal(status.get("sha256"), digest, "the ok status should carry the sha256")
    path = updir / name
    expect(path.is_file(), f"{name} should be in the upload directory",
           actual=f"it holds {files_in(updir)}")
    stored_digest = hashlib.sha256(path.read_bytes()).hexdigest()  # (file_digest: 3.11)
    stored_size = path.stat().st_size
    expect(stored_size == len(body) and stored_digest == digest,
           f"the stored {name} should be byte for byte the file sent",
           expected=f"{len(body)} bytes, sha256 {digest}",
           actual=f"{stored_size} bytes, sha256 {stored_digest}")
    lab.expect_stdout(server.proc, rf"^stored {re.escape(name)}: {len(body)} bytes, sha256 "
                      rf"{digest}$", f"'stored {name}: {len(body)} bytes, sha256 ...'")


def expect_refused(status: dict, what: str, word: str | None = None,
                   hint: str | None = None) -> None:
    """hint: why a server answers ok to what, if it does."""
    refused = status.get("status") == "error" and isinstance(status.get("error"), str)
    expect(refused, f"the server should refuse {what}",
           expected='{"status": "error", "error": "why"}', actual=json.dumps(status),
           hint=hint if status.get("status") == "ok" else None)
    if word:
        expect(word in status["error"].lower(), f"the error should say why it refused {what}",
               expected=f"an error mentioning {word!r}", actual=status["error"])


def sized(lab, size: int) -> int:
    """50 MiB is too slow in 7-byte recv() calls, or under valgrind: a few MiB there."""
    if size > 4 << 20 and lab.settings.short_io:
        return 1 << 20
    if size > 4 << 20 and lab.settings.valgrind:
        return 4 << 20
    return size


@pytest.mark.parametrize("size", [0, 1, 65537, 50 << 20], ids=["0B", "1B", "65537B", "50MiB"])
def test_upload_file_sizes(lab, size):
    """Steps 8-10: files of 0 B to 50 MiB are stored byte for byte, checksum verified."""
    scaled = sized(lab, size)
    body = content(scaled)
    digest = sha256(body)
    name = f"file-{size}.bin"
    header, trailer = header_for(name, body), trailer_for(body, digest)
    server, updir = start_upload_server(lab)
    with server:
        if scaled <= 1 << 20:
            lab.story.step(f"upload {name}: the header frame, {scaled} bytes and the trailer "
                           "frame in one write")
            status = upload(lab, server, header + body + trailer)
        else:
            note = "" if scaled == size else (
                f" (scaled down from {size}: " + ("short I/O cuts every recv)"
                                                  if lab.settings.short_io else "valgrind)"))
            lab.story.step(f"upload {name}: the header frame, then {scaled} bytes{note}, then "
                           "the trailer frame")
            status = upload(lab, server, header, body, trailer, timeout=60)
        lab.story.step(f"check {updir / name}")
        expect_stored(lab, server, updir, name, body, status, digest)
        expect_files(updir, [name], "the upload directory should hold the file and nothing "
                     "else")


def test_upload_one_byte_per_write(lab):
    """Steps 8-10: header, file and trailer written one byte per write arrive just the same."""
    body = content(150)
    server, updir = start_upload_server(lab)
    with server:
        lab.story.step("upload slow.txt (150 bytes), every byte in its own write")
        status = upload(lab, server, upload_bytes("slow.txt", body), pieces=1)
        expect_stored(lab, server, updir, "slow.txt", body, status)


@pytest.mark.short_io("send=1000,recv=700,seed=93")
@pytest.mark.memory
def test_upload_with_the_lab_client(lab):
    """Steps 8-11: `client upload FILE` stores FILE under its own name and prints the answer."""
    body = content(100_000)
    source = lab.workdir / "notes.txt"
    source.write_bytes(body)
    server, updir = start_upload_server(lab)
    with server:
        lab.story.step(f"run: client upload {source}")
        result = lab.run("client", "-p", server.port, "upload", str(source), timeout=10)
        result.expect_status(0)
        result.expect_stdout_line(rf"^uploaded {re.escape(str(source))} as notes\.txt: 100000 "
                                  rf"bytes, sha256 {sha256(body)}$", "'uploaded FILE as NAME: "
                                  "SIZE bytes, sha256 HEX'")
        lab.expect_stdout(server.proc, r"^stored notes\.txt: ", "'stored notes.txt: ...'")
        expect(sha256((updir / "notes.txt").read_bytes()) == sha256(body),
               "the stored notes.txt should be the file the client sent")


def upload_peer(answer: dict):
    """A Python upload server: reads a header frame, the body and a trailer frame, answers
    with `answer`."""
    got: dict = {}

    def handler(conn, peer):
        reader = Reader(conn, Deadline(10))
        text = reader.frame("the client should send a framed header first", MAX_HEADER_LEN)
        try:
            got["header"] = header = json.loads(text)
        except ValueError:
            raise CheckFailure("the header should be JSON", actual=show(text))
        size = header.get("size") if isinstance(header, dict) else None
        expect(isinstance(size, int) and size >= 0, "the header should have a 'size'",
               actual=show(text))
        body = reader.exactly(size)
        expect(body is not None, f"the client should send the {size} bytes it announced",
               actual=f"{len(reader.buf)} bytes, then {reader.how_it_ended()}")
        got["body"] = body
        text = reader.frame("after the file, the client should send a framed trailer",
                            MAX_HEADER_LEN)
        try:
            got["trailer"] = json.loads(text)
        except ValueError:
            raise CheckFailure("the trailer should be JSON", actual=show(text))
        peers.send_all(conn, header_frame(answer), Deadline(5))
        reader.until_closed()

    return handler, got


def test_upload_client_sends_a_true_header(lab):
    """Step 11: the client sends a header with the file's name and size, the file, then a
    trailer with the file's SHA-256."""
    body = content(70_000)
    source = lab.workdir / "data.bin"
    source.write_bytes(body)
    ok = {"status": "ok", "name": "data.bin", "size": len(body), "sha256": sha256(body)}
    handler, got = upload_peer(ok)
    with peers.PeerServer(handler) as peer:
        lab.story.step("run: client upload data.bin, against a Python server")
        result = lab.run("client", "-p", str(peer.address.port), "upload", str(source))
        peer.join(Deadline(5))
        peer.check()
    expect_equal(got.get("header"), {"name": "data.bin", "size": len(body)},
                 "the header should be {\"name\": ..., \"size\": ...}")
    expect(got.get("body") == body, "the body should be the file, byte for byte")
    expect_equal(got.get("trailer"), {"sha256": sha256(body)},
                 "the trailer should be {\"sha256\": ...}, the digest of the file sent",
                 hint="hash each chunk as you send it; EVP_DigestFinal_ex() after the last")
    result.expect_status(0)
    result.expect_stdout_line(r"^uploaded .*data\.bin as data\.bin: 70000 bytes, sha256 "
                              rf"{sha256(body)}$", "'uploaded ...'")


def test_upload_client_reports_a_refusal(lab):
    """Step 11: when the server refuses, the client says why on stderr and exits 1."""
    source = lab.workdir / "data.bin"
    source.write_bytes(b"some data")
    handler, _ = upload_peer({"status": "error", "error": "the disk is on fire"})
    with peers.PeerServer(handler) as peer:
        lab.story.step("run: client upload data.bin, against a Python server that refuses")
        result = lab.run("client", "-p", str(peer.address.port), "upload", str(source))
        peer.join(Deadline(5))
        peer.check()
    result.expect_status(1, "the server refused the file")
    expect("the disk is on fire" in result.stderr, "the client should print the server's "
           "reason on stderr", expected="'the disk is on fire' on stderr",
           actual=show(result.stderr))


def test_upload_refuses_a_header_length_over_the_limit(lab):
    """Steps 8-10: a header length over 4096 (0xFFFFFFFF among them) is refused before anything
    is allocated; the server goes on."""
    server, updir = start_upload_server(lab)
    with server:
        for length in [0xFFFFFFFF, MAX_HEADER_LEN + 1]:
            before = vm_peak_kib(server.proc)
            lab.story.step(f"send the header length {struct.pack('!I', length).hex(' ')} "
                           f"({length} bytes)")
            with peers.connect(server.address, lab.deadline()) as sock:
                peers.send_all(sock, struct.pack("!I", length), lab.deadline())
                reader = Reader(sock, lab.deadline())
                try:
                    status = reader.status()
                except CheckFailure as failure:
                    # Silent and still running: it waits for the bytes announced. Both lengths
                    # are over the limit in either byte order: the limit was never compared.
                    if reader.ended != Ended.TIMEOUT or reader.buf or not server.proc.running:
                        raise
                    raise CheckFailure(
                        failure.what, expected=failure.expected, actual=failure.actual,
                        hint=f"the length was not compared with the limit: the server waits for "
                             f"the {length} bytes announced, but a header over {MAX_HEADER_LEN} "
                             "bytes must be refused with an error status before anything is "
                             "allocated or read for it (in either byte order, this length is "
                             "over the limit)") from None
            expect_refused(status, f"a header of {length} bytes", "limit")
            expect_no_big_allocation(lab, server, before, length)
            lab.expect_running(server.proc, "after a header over the limit")
        lab.story.step("a good upload afterwards")
        body = b"fine"
        expect_stored(lab, server, updir, "ok.txt", body,
                      upload(lab, server, upload_bytes("ok.txt", body)))


def header_of_exactly(size: int, name: str, body: bytes) -> bytes:
    """An upload header of exactly size bytes: {"name": ..., "size": ...} with spaces (JSON's
    own whitespace) between its fields."""
    start, end = json.dumps({"name": name})[:-1] + ",", json.dumps({"size": len(body)})[1:]
    return (start + " " * (size - len(start) - len(end)) + end).encode()


def test_upload_header_of_the_limit_split_at_its_boundaries(lab):
    """Steps 8-10: headers of 4095 and 4096 bytes (the limit) are accepted however they are
    split: inside the length prefix, before the header's last byte, between header and file,
    each piece read by the server before the next is sent."""
    body = b"at the limit\n"
    server, updir = start_upload_server(lab)
    with server:
        for size in (MAX_HEADER_LEN - 1, MAX_HEADER_LEN):
            name = f"h{size}.txt"
            header = header_of_exactly(size, name, body)
            prefix = struct.pack("!I", size)
            pieces = [prefix[:2], prefix[2:] + header[:-1], header[-1:], body + trailer_for(body)]
            how = ("2 bytes of the length prefix, then its other 2 and the header but its last "
                   "byte, then that byte, then the file and the trailer")
            lab.story.step(f"upload {name} with a header of exactly {size} bytes, in "
                           f"{len(pieces)} writes, each read by the server before the next: {how}")
            with peers.connect(server.address, lab.deadline()) as sock:
                if not peers.send_split(sock, pieces, lab.deadline()):
                    lab.expect_running(server.proc, f"while it reads a {size}-byte header")
                status = Reader(sock, lab.deadline()).status()
            expect(status.get("status") == "ok", f"the server should accept a header of "
                   f"{size} bytes (the limit is {MAX_HEADER_LEN}), split as it was: {how}",
                   expected='{"status": "ok", ...}', actual=json.dumps(status),
                   hint=f"a header of up to {MAX_HEADER_LEN} bytes is allowed: refuse only a "
                        f"length over {MAX_HEADER_LEN} (len > {MAX_HEADER_LEN}); the buffer "
                        f"needs {MAX_HEADER_LEN} bytes for the header and one more for the "
                        "'\\0' the JSON parser needs"
                   if size == MAX_HEADER_LEN else
                   "read exactly 4 bytes of prefix, then exactly that many bytes of header, "
                   "however few each recv() returns")
            expect_stored(lab, server, updir, name, body, status)


BAD_HEADERS = [
    ("not JSON", b"name=x.txt size=3"),
    ("JSON but not an object", b'["x.txt", 3]'),
    ("no name", json.dumps({"size": 3}).encode()),
    ("no size", json.dumps({"name": "x.txt"}).encode()),
    ("a size that is text", json.dumps({"name": "x.txt", "size": "3"}).encode()),
    ("a negative size", json.dumps({"name": "x.txt", "size": -3}).encode()),
    ("a size of 1.5 bytes", json.dumps({"name": "x.txt", "size": 1.5}).encode()),
    ("a size over 1 GiB", json.dumps({"name": "x.txt", "size": MAX_FILE_SIZE + 1}).encode()),
    ("a sha256 in the header that is too short",
     json.dumps({"name": "x.txt", "size": 3, "sha256": "abc"}).encode()),
    ("a sha256 in the header that is a number",
     json.dumps({"name": "x.txt", "size": 3, "sha256": 7}).encode()),
    ("a name that is a number", json.dumps({"name": 7, "size": 3}).encode()),
    ("bytes after the JSON", json.dumps({"name": "x.txt", "size": 3}).encode() + b"}"),
]


def test_upload_refuses_headers_that_are_wrong(lab):
    """Steps 8-10: a header that is not JSON, lacks a field or has a bad value is refused."""
    server, updir = start_upload_server(lab)
    with server:
        for what, header in BAD_HEADERS:
            lab.story.step(f"send a header with {what}: {show(header, 120)}")
            expect_refused(upload(lab, server, frame(header)), f"a header with {what}")
            lab.expect_running(server.proc, f"after a header with {what}")
        expect_files(updir, [], "no file should appear for a bad header")
        lab.story.step("a good upload afterwards")
        expect_stored(lab, server, updir, "x.txt", b"abc",
                      upload(lab, server, upload_bytes("x.txt", b"abc")))


BAD_NAMES = ["../escaped.txt", "/tmp/escaped.txt", "sub/escaped.txt", "", ".", "..",
             ".hidden", "tab\there", "x" * 256]


def test_upload_refuses_file_names_with_paths(lab):
    """Steps 8-10: a name with a path in it ("../x", "/etc/x"), empty, "." or ".." is refused."""
    server, updir = start_upload_server(lab)
    body = b"should not be stored"
    cases = [(f"a file named {name!r}", upload_bytes(name, body), "name") for name in BAD_NAMES]
    expect_all_refused(lab, server, updir, cases, "good.txt", body,
                       hint="the name comes from the peer: refuse '/', a leading '.', and empty "
                            "names before using it")


def expect_all_refused(lab, server, updir, cases, good_name: str, body: bytes, hint: str) -> None:
    """Each case (what, upload bytes, the word its refusal names or None) is refused, the
    server lives on, no file appears anywhere; then a good upload is stored."""
    with server:
        before = sorted(str(p) for p in lab.workdir.rglob("*"))
        for what, data, word in cases:
            lab.story.step(f"upload {what}: {show(data, 160)}")
            expect_refused(upload(lab, server, data), what, word, hint=hint)
            lab.expect_running(server.proc, f"after {what}")
        after = sorted(str(p) for p in lab.workdir.rglob("*"))
        expect_equal(after, before, "no file should be created anywhere for these uploads",
                     hint=hint)
        lab.story.step("a good upload afterwards")
        expect_stored(lab, server, updir, good_name, body,
                      upload(lab, server, upload_bytes(good_name, body)))


def test_upload_refuses_a_nul_inside_a_json_string(lab):
    """Steps 8-10: the rules hold for every character of a JSON string: a name or a sha256
    with \\u0000 inside ("safe.txt\\u0000../../etc/passwd") is refused, and nothing is stored."""
    server, updir = start_upload_server(lab)
    body = b"should not be stored"
    cases = [
        ("a name with \\u0000 inside, then a path",
         upload_bytes("safe.txt\0../../etc/passwd", body)),
        ("a trailer sha256 of 64 right digits, then \\u0000",
         upload_bytes("nul.txt", body, digest=sha256(body) + "\0")),
        ("a trailer sha256 of 64 right digits, then \\u0000 and more",
         upload_bytes("nul.txt", body, digest=sha256(body) + "\0 and more")),
        ("a header sha256 of 64 right digits, then \\u0000",
         header_for("nul.txt", body, sha256=sha256(body) + "\0") + body),
    ]
    expect_all_refused(lab, server, updir, [(f"an upload with {what}", data, None)
                                            for what, data in cases], "safe.txt", body,
                       hint="cJSON decodes \\u0000 into a NUL byte, and a C string ends there: "
                            "check every character of the value, not only those before a NUL")


def test_upload_refused_client_can_finish_and_read_the_whole_answer(lab):
    """A refused upload's client may still be sending its file: the server reads and throws
    it away before it closes, so the client can finish sending, read the whole error answer,
    and see an ordinary end of the stream - not a reset, which can destroy the answer."""
    body = content(1 << 20)
    server, updir = start_upload_server(lab)
    with server:
        lab.story.step("send a 1 MiB upload named '../big.bin' in one write, then read the answer")
        with peers.connect(server.address, lab.deadline()) as sock:
            try:
                sock.settimeout(lab.deadline(30).remaining())
                sock.sendall(upload_bytes("../big.bin", body))
            except socket.timeout:
                raise CheckFailure("the server should read the rest of a refused upload",
                                   expected="all 1 MiB accepted", actual="the server stopped "
                                   "reading", hint="after the refusal, read and discard what the "
                                   "client still sends until it closes (bounded in time and size)")
            except OSError as e:
                raise CheckFailure("the client of a refused upload should be able to finish "
                                   "sending its file", expected="all 1 MiB sent",
                                   actual=f"the connection broke: {e.strerror or e}",
                                   hint="closing a connection with unread bytes makes Linux "
                                        "reset it, and a reset may destroy the end of the "
                                        "answer: shutdown(SHUT_WR), read and discard what the "
                                        "client sends until it closes, then close()")
            reader = Reader(sock, lab.deadline())
            expect_refused(reader.status(), "the name '../big.bin'", "name")
            rest = reader.until_closed()
            expect(reader.ended == Ended.EOF and not rest,
                   "after the error answer the server should end the stream in an orderly way",
                   expected="end of stream (recv returns 0)",
                   actual=f"{show(rest)}, then {reader.how_it_ended()}",
                   hint="closing a connection with unread bytes makes Linux reset it: "
                        "shutdown(SHUT_WR) first and read what the client still sends")
        lab.expect_running(server.proc, "after the refused upload")
        expect_files(updir, [], "nothing of the refused upload should be stored")
        lab.story.step("a good upload afterwards")
        expect_stored(lab, server, updir, "good.txt", b"good",
                      upload(lab, server, upload_bytes("good.txt", b"good")))


def test_upload_short_body_leaves_no_file(lab):
    """Steps 8-10: the client closes after 500 of 1000 bytes: an error, and no file at all."""
    body = content(1000)
    server, updir = start_upload_server(lab)
    with server:
        lab.story.step("announce 1000 bytes, send 500, then shut down our sending side")
        status = upload(lab, server, header_for("short.bin", body) + body[:500],
                        half_close=True)
        expect_refused(status, "a file that ends early", "500 of 1000")
        expect_files(updir, [], "neither the file nor a temporary file should be left")
        lab.story.step("a good upload afterwards")
        expect_stored(lab, server, updir, "short.bin", body,
                      upload(lab, server, upload_bytes("short.bin", body)))


def test_upload_vanishing_client_leaves_no_file(lab):
    """Steps 8-10: the client resets in mid-file: no file, and the server serves the next one."""
    body = content(300_000)
    server, updir = start_upload_server(lab)
    with server:
        lab.story.step("send the header and 100000 of 300000 bytes, then reset")
        sock = peers.connect(server.address, lab.deadline())
        peers.send_all(sock, upload_bytes("gone.bin", body)[:-200_000], lab.deadline())
        peers.reset(sock)
        lab.story.step("a good upload afterwards (the server finishes the first one before)")
        expect_stored(lab, server, updir, "next.bin", body[:10],
                      upload(lab, server, upload_bytes("next.bin", body[:10])))
        expect_files(updir, ["next.bin"], "nothing of the vanished upload should be left")


def test_upload_wrong_checksum_leaves_no_file(lab):
    """Steps 8-10: a file whose SHA-256 is not the trailer's is refused and not stored."""
    body = content(65537)
    server, updir = start_upload_server(lab)
    with server:
        lab.story.step("upload corrupt.bin with a trailer holding the checksum of other bytes")
        status = upload(lab, server, upload_bytes("corrupt.bin", body,
                                                  digest=sha256(b"something else")))
        expect_refused(status, "a file with the wrong checksum", "checksum",
                       hint=unchecked_digest_hint(status, body, sha256(b"something else")))
        expect_files(updir, [], "neither the file nor a temporary file should be left")
        lab.story.step("upload corrupt.bin with one byte changed on the way")
        bent = bytearray(body)
        bent[40_000] ^= 1
        status = upload(lab, server, header_for("corrupt.bin", body) + bent + trailer_for(body))
        expect_refused(status, "a file with one byte changed", "checksum",
                       hint=unchecked_digest_hint(status, bytes(bent), sha256(body)))
        expect_files(updir, [], "neither the file nor a temporary file should be left")


def unchecked_digest_hint(status: dict, arrived: bytes, announced: str) -> str:
    """Why a file whose digest is not the trailer's was stored: the ok status shows what the
    server computed; the digest of what arrived there is a digest never compared."""
    if status.get("sha256") == sha256(arrived):
        return (f"the server computed the sha256 of what arrived ({sha256(arrived)[:16]}...) but "
                f"stored the file although the trailer says {announced[:16]}...: compare the "
                "two digests, and refuse the file when they differ")
    return ("compute the sha256 of the bytes that arrived, compare it with the trailer's, and "
            "refuse the file when they differ")


def bad_trailers(body: bytes) -> list[tuple[str, bytes]]:
    """Trailers that must be refused after body, each with what is wrong with it."""
    digest = sha256(body)
    return [
        ("a trailer that is not JSON", frame(b"sha256=" + digest.encode())),
        ("a trailer that is JSON but not an object", frame(json.dumps([digest]).encode())),
        ("a trailer with no sha256", frame(json.dumps({"md5": "0" * 32}).encode())),
        ("a trailer whose sha256 is too short", frame(json.dumps({"sha256": "abc"}).encode())),
        ("a trailer whose sha256 is a number", frame(json.dumps({"sha256": 7}).encode())),
        ("a trailer with bytes after the JSON",
         frame(json.dumps({"sha256": digest}).encode() + b"}")),
        ("a trailer length of ff ff ff ff", b"\xff\xff\xff\xff"),
        (f"a trailer length of {MAX_HEADER_LEN + 1}", struct.pack("!I", MAX_HEADER_LEN + 1)),
        ("no trailer at all (the client closes after the file)", b""),
    ]


def test_upload_refuses_trailers_that_are_wrong(lab):
    """Steps 8-10: after a whole file, a trailer that is missing, not a JSON object with a
    64-digit sha256, or longer than 4096 bytes (ff ff ff ff among them) is refused before
    anything is allocated for it, and no file is left."""
    body = content(5000)
    server, updir = start_upload_server(lab)
    with server:
        for what, trailer in bad_trailers(body):
            before = vm_peak_kib(server.proc)
            lab.story.step(f"upload x.bin (5000 bytes), then {what}: {show(trailer, 120)}")
            status = upload(lab, server, header_for("x.bin", body) + body + trailer,
                            half_close=True)
            expect_refused(status, f"an upload with {what}")
            expect_no_big_allocation(lab, server, before, 0xFFFFFFFF)
            lab.expect_running(server.proc, f"after {what}")
            expect_files(updir, [], f"no file should be left after {what}")
        lab.story.step("a good upload afterwards")
        expect_stored(lab, server, updir, "x.bin", body,
                      upload(lab, server, upload_bytes("x.bin", body)))


@pytest.mark.parametrize("style", ["the digest in the header", "no digest anywhere"])
def test_upload_in_the_tutorials_style(lab, style):
    """Steps 8-10: the tutorials' upload - the digest in the header, the file, no trailer - is
    still stored, and still refused when the file does not match it."""
    body = content(70_000)
    server, updir = start_upload_server(lab)
    with server:
        lab.story.step("upload seed.bin with its sha256 in the header, and no trailer")
        status = upload(lab, server, seed_upload_bytes("seed.bin", body))
        expect_stored(lab, server, updir, "seed.bin", body, status)
        if style == "no digest anywhere":
            lab.story.step("upload bare.bin with no sha256 in the header, then close: a trailer "
                           "is missing")
            status = upload(lab, server, header_for("bare.bin", body) + body, half_close=True)
            expect_refused(status, "an upload with no digest in its header nor a trailer")
            expect_files(updir, ["seed.bin"], "bare.bin should not be stored")
            return
        lab.story.step("upload other.bin with the digest of other bytes in the header")
        status = upload(lab, server, header_for("other.bin", body, sha256=sha256(b"other")) +
                        body)
        expect_refused(status, "a file that does not match its header's digest", "checksum")
        expect_files(updir, ["seed.bin"], "other.bin should not be stored")


def test_upload_file_appears_only_when_verified(lab):
    """Steps 8-10: while the file is arriving, its name does not exist yet."""
    body = content(400_000)
    data = upload_bytes("growing.bin", body)
    server, updir = start_upload_server(lab)
    with server:
        with peers.connect(server.address, lab.deadline()) as sock:
            lab.story.step("send the header and the first 200000 bytes")
            peers.send_all(sock, data[:-200_000], lab.deadline())
            lab.story.step("wait until the server has written some of it to a file")
            poll_until(lambda: started_writing(updir) or spoke(sock) or not server.proc.running,
                       lab.deadline(3))
            expect(not (updir / "growing.bin").exists(), "growing.bin should not exist before "
                   "all of it has arrived and its checksum is right",
                   actual=f"the upload directory holds {files_in(updir)}",
                   hint="write to a temporary file (mkstemp) and rename() it at the end")
            lab.story.step("send the rest")
            peers.send_all(sock, data[-200_000:], lab.deadline())
            status = Reader(sock, lab.deadline()).status()
        expect_stored(lab, server, updir, "growing.bin", body, status)
        expect_files(updir, ["growing.bin"], "the temporary file should be gone")


def test_upload_file_appears_only_after_the_trailer(lab):
    """Steps 8-10: all of the file has arrived, but its digest has not: the name does not
    exist yet, and a wrong digest leaves nothing behind."""
    body = content(300_000)
    server, updir = start_upload_server(lab)
    with server:
        with peers.connect(server.address, lab.deadline()) as sock:
            lab.story.step("send the header and the whole file, but not the trailer yet")
            peers.send_all(sock, header_for("whole.bin", body) + body, lab.deadline())
            lab.story.step("wait until the server has written all 300000 bytes and waits for "
                           "more")
            # The file first, then the state: a server seen sleeping after its last write
            # is waiting for the trailer, and has done all it does before that.
            whole = poll_until(lambda: any(p.stat().st_size == len(body)
                                           for p in updir.iterdir()) and blocked(server.proc),
                               lab.deadline(3))
            expect(whole, "the server should write the file as it arrives, then wait for the "
                   "trailer", actual=f"the upload directory holds {files_in(updir)}")
            expect(not (updir / "whole.bin").exists(), "whole.bin should not exist before the "
                   "trailer's digest is known to match", actual=f"the upload directory holds "
                   f"{files_in(updir)}", hint="rename() the temporary file only after the "
                   "trailer has arrived and its sha256 equals the digest of what arrived")
            lab.story.step("send a trailer with the digest of other bytes")
            peers.send_all(sock, trailer_for(body, sha256(b"not this")), lab.deadline())
            status = Reader(sock, lab.deadline()).status()
        expect_refused(status, "a file whose trailer does not match it", "checksum")
        expect_files(updir, [], "no file, and no temporary file, should be left")


def test_upload_without_verifying_for_the_benchmark(lab):
    """The -N (--no-verify) switch of both programs: no SHA-256 on either side; the file is
    stored all the same, and both say it was not verified."""
    body = content(100_000)
    source = lab.workdir / "fast.bin"
    source.write_bytes(body)
    updir = lab.workdir / "uploads"
    with lab.start_server("-N", "-d", str(updir), "upload") as server:
        lab.story.step(f"run: client -N upload {source}, against: server -N upload")
        result = lab.run("client", "-N", "-p", server.port, "upload", str(source), timeout=10)
        result.expect_status(0)
        result.expect_stdout_line(r"^uploaded .*fast\.bin as fast\.bin: 100000 bytes, not "
                                  r"verified$", "'uploaded FILE as NAME: SIZE bytes, not verified'")
        lab.expect_stdout(server.proc, r"^stored fast\.bin: 100000 bytes, not verified$",
                          "'stored NAME: SIZE bytes, not verified'")
        expect((updir / "fast.bin").read_bytes() == body,
               "the stored fast.bin should be the file the client sent")


def test_uploads_one_after_another_and_at_once(lab):
    """Steps 8-10: uploads in a row, and two at once, each end up whole; a name sent again
    replaces the file."""
    server, updir = start_upload_server(lab)
    with server:
        files = {f"f{i}.bin": content(20_000 + i, seed=i) for i in range(3)}
        for name, body in files.items():
            lab.story.step(f"upload {name}")
            expect_stored(lab, server, updir, name, body,
                          upload(lab, server, upload_bytes(name, body)))
        lab.story.step("upload f0.bin again, with new content")
        files["f0.bin"] = content(1234, seed=77)
        expect_stored(lab, server, updir, "f0.bin", files["f0.bin"],
                      upload(lab, server, upload_bytes("f0.bin", files["f0.bin"])))

        size = 256 << 10 if lab.settings.short_io else 1 << 20
        lab.story.step(f"two clients upload {size} bytes each, at the same time")
        twins = {"a.bin": content(size, seed=1), "b.bin": content(size, seed=2)}
        statuses: dict = {}
        errors: list = []

        def one(name):
            try:
                statuses[name] = upload(lab, server, upload_bytes(name, twins[name]),
                                        timeout=20)
            except BaseException as e:  # re-raised below, in the test's thread
                errors.append(e)

        threads = [threading.Thread(target=one, args=(n,)) for n in twins]
        for t in threads:
            t.start()
        for t in threads:
            t.join(lab.deadline(30).remaining())
        if errors:
            raise errors[0]
        for name, body in twins.items():
            expect_stored(lab, server, updir, name, body, statuses.get(name, {}))
        expect_files(updir, [*files, *twins], "every file, and nothing else")


# -- the programs' edges --------------------------------------------------------------------

def test_server_ends_cleanly_during_an_upload(lab):
    """SIGTERM in the middle of an upload: exit 0, 'stopped', no temporary file left."""
    body = content(300_000)
    server, updir = start_upload_server(lab)
    with server:
        with peers.connect(server.address, lab.deadline()) as sock:
            lab.story.step("send the header and 100000 of 300000 bytes")
            peers.send_all(sock, upload_bytes("cut.bin", body)[:-200_000], lab.deadline())
            poll_until(lambda: started_writing(updir) or spoke(sock) or not server.proc.running,
                       lab.deadline(3))
            lab.story.step("send SIGTERM while the server waits for the rest")
            code = lab.stop_server(server)
        expect_equal(code, 0, "the server should exit with status 0 soon after SIGTERM",
                     hint="wait through wait_readable(), which returns WAIT_STOPPED on "
                          "SIGTERM")
        lab.expect_stdout(server.proc, r"^stopped$", "'stopped' as its last line")
        expect_files(updir, [], "the temporary file should be removed when the server stops")


def test_server_command_line(lab):
    """-H ::1 works; --help exits 0; a missing or unknown mode, or a bad port, exits 2."""
    lab.story.step("start the echo server on IPv6 loopback")
    with lab.start_server("echo", host="::1") as server:
        expect_equal(echo(lab, server, frame(b"v6"), 1), [b"v6"], "an echo over IPv6")
    lab.expect_usage("server", [["--help"], [], ["sideways"], ["-p", "abc", "echo"], ["echo", "upload"]])


def test_client_command_line(lab):
    """-H ::1 works; bad arguments exit 2; a file that does not exist exits 1."""
    handler, _ = echo_peer(1, False)
    with peers.PeerServer(handler, host="::1") as peer:
        lab.story.step("run: client -H ::1 echo v6, against a Python server on ::1")
        result = lab.run("client", "-H", "::1", "-p", str(peer.address.port), "echo", "v6")
        peer.join(Deadline(5))
        peer.check()
        result.expect_status(0)
        result.expect_stdout_line(r'^reply 1: 2 bytes "v6"$', "the reply")
    lab.expect_usage("client", [["echo"], ["sideways", "x"], ["upload", "a", "b"], ["-g", "x", "naive", "a"]])
    with peers.refusing_port() as closed:
        missing = lab.workdir / "no-such-file"
        lab.story.step(f"run: client upload {missing}")
        result = lab.run("client", "-p", str(closed.port), "upload", str(missing))
    result.expect_status(1, "a runtime failure")
    expect("No such file or directory" in result.stderr, "the client should say why",
           expected="'No such file or directory' on stderr", actual=show(result.stderr))


def test_client_and_server_refusal_together(lab):
    """`client -n ../x upload FILE`: the server refuses the name; the client exits 1."""
    source = lab.workdir / "plain.txt"
    source.write_bytes(b"plain")
    server, updir = start_upload_server(lab)
    with server:
        lab.story.step("run: client -n ../x upload plain.txt")
        result = lab.run("client", "-p", server.port, "-n", "../x", "upload", str(source))
        result.expect_status(1, "the server refused the upload")
        expect("name" in result.stderr, "the client should print the server's reason",
               actual=show(result.stderr))
        lab.expect_stdout(server.proc, r"^refused an upload from \S+: ",
                          "'refused an upload from PEER: WHY'")
        expect(not (lab.workdir / "x").exists(), "../x must not be written")
