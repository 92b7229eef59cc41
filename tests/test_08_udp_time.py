"""Lab 08 - udp-time: a UDP time service that formats the time as each client asks.

The server is tested with Python UDP peers and the client with a Python UDP server, so that
each program is judged on its own; the last tests put the two together. Every server runs with
TZ set, so the expected times are known. The order follows the handout
(labs/08-udp-time/README.md).
"""
from __future__ import annotations

import calendar
import os
import re
import select
import signal
import socket
import time

import pytest

from harness import (PAST_THE_LAST_PORT, Address, CheckFailure, UdpPeer, UdpPeerServer, expect,
                     expect_equal, show, silent_port)

LAB = "08-udp-time"

UTC = {"TZ": "UTC"}
# Japan: nine hours ahead of UTC, no summer time, and the zone's name is JST. The POSIX string
# needs no time zone database, should a machine lack one.
TOKYO = {"TZ": "Asia/Tokyo" if os.path.exists("/usr/share/zoneinfo/Asia/Tokyo") else "JST-9"}
TOKYO_OFFSET = 9 * 3600
# A zone whose name is empty: there "%Z" is legitimately nothing at all.
NAMELESS = {"TZ": "<>-9"}

FORMAT_MAX = 256   # the handout's limits
RESULT_MAX = 1024
C_TIME_LEN = 24    # "%c" in the C locale: "Mon Nov 23 09:25:29 2026", always 24 bytes
REQUEST_RE = re.compile(r"^request from (\S+):(\d+): sent (.*)$", re.MULTILINE)


# -- helpers -------------------------------------------------------------------------------

def receive(lab, server, peers: list[UdpPeer], what: str, timeout: float = 5.0):
    """The first datagram that reaches any of peers: (index of the peer, data, sender).
    Fails at once if the server exits, and after the deadline if nothing comes."""
    deadline = lab.deadline(timeout)
    socks = [p.sock for p in peers]
    while True:
        # Short waits, so that a server that has died is noticed at once.
        ready, _, _ = select.select(socks, [], [], min(0.1, deadline.remaining()))
        if ready:
            i = socks.index(ready[0])
            data, sender = ready[0].recvfrom(65535)
            return i, data, Address(sender[0], sender[1])
        if not server.proc.running:
            server.proc.exit_seen = True
            raise CheckFailure(f"the server ended before it answered {what}",
                               actual=f"it has {server.proc.status()}",
                               hint="a request, however bad, must never stop the server: "
                                    "answer it with an 'error: ...' reply, never die()")
        if deadline.expired:
            raise CheckFailure(f"no reply to {what} within {timeout:g} s",
                               expected="one datagram back to the address the request came "
                                        "from", actual="nothing",
                               hint="serve (step 5): sendto() the reply to the address "
                                    "recvfrom() filled in for this request")


def ask(lab, server, data: bytes, peer: UdpPeer | None = None) -> bytes:
    """Sends one request datagram and returns the reply, which must come from the server's
    address."""
    own = peer is None
    peer = peer or UdpPeer(server.host)
    try:
        lab.story.step(f"send the request {show(data, 120)} from {peer.address}")
        peer.send_to(server.address, data)
        _, reply, sender = receive(lab, server, [peer], f"the request {show(data, 120)}")
    finally:
        if own:
            peer.close()
    expect_equal(sender, server.address, "the reply should come from the server's own address")
    return reply


def expect_error(lab, server, data: bytes, why: str, hint=None) -> bytes:
    """hint: the step that should have turned the request into an error, or a function that
    names it from the reply that came instead."""
    reply = ask(lab, server, data)
    if callable(hint) and not reply.startswith(b"error:"):
        hint = hint(reply)
    expect(reply.startswith(b"error:"), f"{why}: the reply should be an error",
           expected="a reply starting with 'error:'", actual=show(reply),
           hint=hint or "check the request before you hand it to strftime() (check_format, "
                        "step 3), and check what strftime() returns (format_time, step 4)")
    return reply


def expect_still_answers(lab, server) -> None:
    lab.story.step("a good request afterwards: '%Y'")
    reply = ask(lab, server, b"%Y")
    expect(re.fullmatch(rb"\d{4}", reply) is not None,
           "the server should go on answering after a bad request", expected="the year",
           actual=show(reply))


def times_around(fmt: str, before: float, after: float, offset: int = 0) -> set[bytes]:
    """fmt (no %z/%Z) at every second from before to after, in a zone offset seconds from UTC:
    the reply must be one of these, wherever the second or the year turns."""
    return {time.strftime(fmt, time.gmtime(t + offset)).encode()
            for t in range(int(before) - 1, int(after) + 2)}


def expect_time(lab, server, fmt: str, offset: int = 0, what: str = "",
                hint: str | None = None) -> bytes:
    before = time.time()
    reply = ask(lab, server, fmt.encode())
    after = time.time()
    choices = times_around(fmt, before, after, offset)
    cut = reply and reply not in choices and any(c.startswith(reply) for c in choices)
    expect(reply in choices, what or f"the server should write the time as {fmt!r} asks",
           expected=" or ".join(sorted(show(c) for c in choices)[:3]), actual=show(reply),
           hint=hint or (f"the reply is only the first {len(reply)} bytes of the result: one "
                         "sendto() per reply, with the whole result; two sendto()s are two "
                         "datagrams, and the first is taken for the whole reply" if cut else
                         "format_time (step 4): strftime() with the request as its format, "
                         "on localtime_r() of time()"))
    return reply


def request_lines(lab, server, count: int) -> list[re.Match]:
    """Waits until the server has logged at least count requests; returns all its log lines."""
    found = server.proc.stdout.wait_for(
        lambda data: len(REQUEST_RE.findall(data.decode("utf-8", "replace"))) >= count or None,
        lab.deadline())
    lines = list(REQUEST_RE.finditer(server.proc.stdout.text))
    expect(found is not None, f"the server should log each request on one line ({count} so "
           "far)", expected=f"{count} lines like 'request from 127.0.0.1:40123: sent 19 bytes'",
           actual=f"{len(lines)}, in {show(server.proc.stdout.text)}")
    return lines


def run_client(lab, *args: str, env: dict | None = None):
    """Runs the lab's client with a timeout that stretches under valgrind."""
    wait = f"{4 * lab.settings.time_scale:g}"
    return lab.run("client", *args, "-t", wait, env=env)


# -- the server ----------------------------------------------------------------------------

def test_server_prints_listening_address(lab):
    """Step 1: the server binds a UDP socket to an OS-chosen port and prints it."""
    with lab.start_server(env=UTC) as server:
        expect(server.host == "127.0.0.1", "the server should listen on the -H address",
               expected="127.0.0.1", actual=server.host)
        expect(0 < int(server.port) < 65536, "the printed port should be a real port",
               actual=server.port, hint="print the port getsockname() returns, not -p's 0")
        lab.story.step(f"send an empty request to the printed address {server.address}")
        ask(lab, server, b"")


def test_server_empty_request_gets_the_default_format(lab):
    """Step 2-5: an empty datagram is a request too: the time as '%Y-%m-%d %H:%M:%S'."""
    with lab.start_server(env=UTC) as server:
        before = time.time()
        reply = ask(lab, server, b"")
        after = time.time()
        match = re.fullmatch(rb"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)", reply)
        expect(match is not None, "an empty request should get the time in the default format",
               expected="'YYYY-MM-DD HH:MM:SS'", actual=show(reply),
               hint="an empty datagram is a valid request of 0 bytes, not the end of anything")
        stamp = calendar.timegm(tuple(int(g) for g in match.groups()) + (0, 0, 0))
        expect(int(before) - 1 <= stamp <= after + 1, "the default reply should be the time now "
               "(TZ=UTC)", expected=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(before)),
               actual=show(reply), hint="time(), then localtime_r()")


def test_server_formats_the_time_as_asked(lab):
    """Step 4: the request is the strftime format; TZ=UTC gives UTC times."""
    with lab.start_server(env=UTC) as server:
        expect_time(lab, server, "%Y", what="'%Y' should be this year")
        expect_time(lab, server, "%Y-%m-%d", what="'%Y-%m-%d' should be today's date")
        expect_time(lab, server, "it is %H:%M, day %j", what="text around the conversions "
                    "should come back as it was sent")
        expect_equal(ask(lab, server, b"%z %Z"), b"+0000 UTC", "with TZ=UTC, '%z %Z' should be "
                     "'+0000 UTC'")
        expect_equal(ask(lab, server, b"100%%"), b"100%", "'%%' should be a percent sign")


def test_server_uses_the_local_time_zone(lab):
    """Step 4: local time is the time in the zone TZ names (here Japan, UTC+9)."""
    with lab.start_server(env=TOKYO) as server:
        expect_equal(ask(lab, server, b"%z %Z"), b"+0900 JST",
                     f"with TZ={TOKYO['TZ']}, '%z %Z' should be '+0900 JST'",
                     hint="format_time (step 4): localtime_r(), not gmtime_r(): local time is "
                          "the time in the zone TZ names")
        expect_time(lab, server, "%Y-%m-%d %H", offset=TOKYO_OFFSET,
                    what="'%Y-%m-%d %H' should be the date and hour in Tokyo")


def test_server_empty_result_is_not_an_error(lab):
    """Step 4: strftime() returns 0 for an empty result too: that is a reply of 0 bytes."""
    with lab.start_server(env=NAMELESS) as server:
        reply = ask(lab, server, b"%Z")
        expect_equal(reply, b"", f"with TZ={NAMELESS['TZ']} (a zone without a name) '%Z' is "
                     "empty: the reply should be an empty datagram, not an error",
                     hint="format_time (step 4): strftime() returns 0 both for 'does not fit' "
                          "and for an empty result: format ' ' + the format, and take the space "
                          "off afterwards")
        expect_equal(ask(lab, server, b"[%Z]"), b"[]", "'[%Z]' should be '[]' there")
        expect_still_answers(lab, server)


TOO_LONG_HINT = ("check_format (step 3): reject a format longer than 256 bytes, by the length "
                 "recvfrom() returned")


def test_server_rejects_an_oversized_format_and_goes_on(lab):
    """Step 3: formats longer than 256 bytes get an error; 256 bytes are fine."""
    with lab.start_server(env=UTC) as server:
        expect_error(lab, server, b"%Y" * 2000, "a 4000-byte format", hint=TOO_LONG_HINT)
        expect_still_answers(lab, server)
        limit = b"A" * FORMAT_MAX
        expect_equal(ask(lab, server, limit), limit, "a format of exactly 256 bytes is allowed, "
                     "and plain text comes back as it is")
        expect_error(lab, server, b"A" * (FORMAT_MAX + 1), "a 257-byte format",
                     hint=TOO_LONG_HINT)
        expect_still_answers(lab, server)


@pytest.mark.memory
def test_server_request_without_nul_at_any_size(lab):
    """Step 2: a datagram is not a string: requests of 1023 to 65507 bytes, none with a NUL,
    are received without writing past the buffer."""
    with lab.start_server(env=UTC) as server:
        for size in [1023, 1024, 1025, 4096, 65507]:
            expect_error(lab, server, b"A" * size, f"a {size}-byte request",
                         hint="receive_request (step 2) asks recvfrom() for cap - 1 bytes, so "
                              "that request[len] = '\\0' stays inside the buffer; "
                              "check_format (step 3) rejects what is too long")
        expect_still_answers(lab, server)


DOES_NOT_FIT_HINT = ("format_time (step 4): strftime() into a buffer with room for 1024 bytes; "
                     "it returns 0 when the result does not fit, which is an error reply (format "
                     "' ' + the format, so that 0 can only mean that)")


def does_not_fit_hint(reply: bytes) -> str:
    """Why a result over 1024 bytes was not an error, from the reply that came instead: an
    empty reply is strftime()'s 0 taken for an empty result; a longer reply is a result buffer
    with no bound of 1024 bytes."""
    if reply == b"":
        return ("format_time (step 4): strftime() returned 0 because the result did not fit, "
                "and an empty reply went out: here 0 means 'does not fit', an error reply "
                "(format ' ' + the format, so that 0 can only mean that)")
    if len(reply) > RESULT_MAX:
        return (f"format_time (step 4): the result came back whole, {len(reply)} bytes: over "
                f"the {RESULT_MAX} bytes a result may have. Give strftime() a buffer with room "
                f"for {RESULT_MAX} bytes (and the NUL), no more: it returns 0 when the result "
                "does not fit, and that is an error reply")
    return DOES_NOT_FIT_HINT


def test_server_over_expanding_format_gets_an_error(lab):
    """Step 4: a short format with a long result: more than 1024 bytes is an error."""
    with lab.start_server(env=UTC) as server:
        expect_error(lab, server, b"%c" * 128, "'%c' 128 times (3072 bytes of result)",
                     hint=does_not_fit_hint)
        expect_still_answers(lab, server)
        fits = b"%c" * 42 + b"x" * (RESULT_MAX - 42 * C_TIME_LEN)
        reply = ask(lab, server, fits)
        expect_equal(len(reply), RESULT_MAX, "a result of exactly 1024 bytes should come back "
                     "whole", hint="the result buffer needs room for 1024 bytes and the NUL")
        expect_error(lab, server, fits + b"x", "a result of 1025 bytes", hint=does_not_fit_hint)
        expect_still_answers(lab, server)


def test_server_long_reply_in_one_datagram(lab):
    """Step 5: one reply is one datagram, however long: '%Y' 128 times is 512 bytes."""
    with lab.start_server(env=UTC) as server, UdpPeer() as peer:
        before = time.time()
        reply = ask(lab, server, b"%Y" * 128, peer)
        choices = {y * 128 for y in times_around("%Y", before, time.time())}
        expect(reply in choices, "the whole 512-byte reply should come in one datagram",
               expected=f"{show(next(iter(choices)), 60)} (512 bytes)",
               actual=f"{show(reply, 60)} ({len(reply)} bytes)",
               hint="one sendto() per reply: two sendto()s are two datagrams, two replies")
        lab.story.step("check that nothing else arrives for the same request")
        extra = peer.recv(lab.deadline(0.3))
        expect(extra is None, "one request should get exactly one datagram back",
               actual=show(extra[0], 100) if extra else None)


def test_server_rejects_an_embedded_nul(lab):
    """Step 3: a NUL byte inside the request is an error (it would hide the rest)."""
    with lab.start_server(env=UTC) as server:
        hint = ("check_format (step 3): use the length recvfrom() returned, not strlen(): a "
                "NUL inside the request would hide the rest, so reject it")
        expect_error(lab, server, b"%Y\0%m", "the request '%Y', NUL, '%m'", hint=hint)
        expect_error(lab, server, b"\0", "a request of one NUL byte", hint=hint)
        expect_still_answers(lab, server)


CONVERSION_HINT = ("check_format (step 3): every '%' must be followed by a character from the "
                   "handout's list ('%%' included); anything else, and a '%' at the very end, "
                   "is an error: strftime() must never see it")


def test_server_rejects_unknown_conversions(lab):
    """Step 3: only the conversions in the handout; a lone '%' at the end is an error."""
    with lab.start_server(env=UTC) as server:
        for bad in [b"%", b"%Y%", b"%Q", b"%5Y", b"%-d", b"%Ey"]:
            expect_error(lab, server, bad, f"the format {bad.decode()!r}", hint=CONVERSION_HINT)
        expect_still_answers(lab, server)


# Conversions that strftime() and printf() both know, with different meanings: to printf, %n
# writes through a pointer, %p prints one, %d %x %a... read arguments that are not there.
PRINTF_TRAPS = ["%p", "%n", "%%n", "%%p", "%d%e%u", "%x%X", "%a%A%c%C%F%g%G", "%S",
                "%n%n%n%n%n%n%n%n%p%p%p%p%p%p%p%p"]
# Not strftime() conversions at all: errors, whatever printf() would make of them.
NOT_STRFTIME = [b"%s", b"%s" * 40, b"%99999999d", b"%.99999999f", b"%*d", b"%1$n", b"%lln",
                b"%ls", b"%S%s%n%p%99999999s"]
LOG_LINE = re.compile(r"^request from \S+: sent (\d+ bytes?|error: .*)$")


PRINTF_HINT = ("never pass bytes from the network to printf() or snprintf() as its format: "
               "printf(\"%s\", text) prints text, printf(text) obeys it; copy the request "
               "with memcpy(), and let only strftime() read it as a format")


def test_server_request_is_never_a_printf_format(lab):
    """Steps 3-5: the request is a strftime() format, never printf()'s: %n, %p, %s and
    %99999999d get their strftime meaning or an error reply, each request is logged on the
    handout's line, and the server lives on."""
    with lab.start_server(env=UTC) as server:
        for fmt in PRINTF_TRAPS:
            expect_time(lab, server, fmt, what=f"{fmt!r} means to strftime() what the handout "
                        "says, whatever it means to printf()", hint=PRINTF_HINT)
        for bad in NOT_STRFTIME:
            expect_error(lab, server, bad, f"the format {show(bad, 60)}", hint=CONVERSION_HINT)
        expect_still_answers(lab, server)
        lab.story.step("check the log: one line per request, as the handout shows it")
        count = len(PRINTF_TRAPS) + len(NOT_STRFTIME) + 1
        request_lines(lab, server, count)
        lines = server.proc.stdout.lines()[1:]
        odd = [line for line in lines if not LOG_LINE.match(line)]
        expect(not odd, "every request should be logged as 'request from PEER: sent N bytes' "
               "or 'request from PEER: sent error: ...', never with the client's bytes",
               actual=show("\n".join(odd[:5]), 400),
               hint=PRINTF_HINT)


def test_server_replies_to_the_sender(lab):
    """Step 5: each reply goes to the address its request came from, which the server logs."""
    with lab.start_server(env=UTC) as server, UdpPeer() as a, UdpPeer() as b:
        for i, (peer, other) in enumerate([(a, b), (b, a), (a, b)], 1):
            tag = f"peer {i} %Y".encode()
            lab.story.step(f"send {tag.decode()!r} from {peer.address}")
            peer.send_to(server.address, tag)
            got, reply, _ = receive(lab, server, [peer, other], f"the request from {peer.address}")
            expect(got == 0, "the reply should go to the address the request came from",
                   expected=f"a reply at {peer.address}",
                   actual=f"it went to {other.address}, which sent an earlier request",
                   hint="sendto() the address recvfrom() filled in for this request")
            expect(reply.startswith(f"peer {i} ".encode()), "each peer should get its own reply",
                   actual=show(reply))
        lab.story.step("check the server's log: one line per request, with the sender")
        lines = request_lines(lab, server, 3)
        expect_equal([int(m.group(2)) for m in lines[:3]],
                     [a.address.port, b.address.port, a.address.port],
                     "the log should name each request's sender: its port, as recvfrom() gives "
                     "it")
        expect_equal(lines[0].group(3), "11 bytes", "the log should say what was sent")


def test_server_answers_many_clients_at_once(lab):
    """Twenty peers send at once; each gets its own reply."""
    with lab.start_server(env=UTC) as server:
        peers = [UdpPeer() for _ in range(20)]
        try:
            lab.story.step("send 20 requests from 20 peers at once, 'client N: %H:%M:%S'")
            for i, peer in enumerate(peers):
                peer.send_to(server.address, f"client {i:02}: %H:%M:%S".encode())
            waiting = set(range(20))
            while waiting:
                got, reply, _ = receive(lab, server, [peers[i] for i in sorted(waiting)],
                                        f"the requests of peers {sorted(waiting)}")
                i = sorted(waiting)[got]
                expect(re.fullmatch(rf"client {i:02}: \d\d:\d\d:\d\d".encode(), reply)
                       is not None, f"peer {i} should get its own reply",
                       expected=f"'client {i:02}: HH:MM:SS'", actual=show(reply),
                       hint="answer each request at the address it came from")
                waiting.discard(i)
        finally:
            for peer in peers:
                peer.close()
        request_lines(lab, server, 20)


def test_server_ends_cleanly_on_sigterm(lab):
    """SIGTERM and Ctrl-C (SIGINT) end the server with status 0; 'stopped' is its last
    line."""
    for signo in (signal.SIGTERM, signal.SIGINT):
        server = lab.start_server(env=UTC)
        with server:
            ask(lab, server, b"%Y")
            lab.story.step(f"send {signo.name}")
            server.proc.signal(signo)
            code = server.proc.wait(lab.deadline())
            server.proc.exit_seen = True
            expect_equal(code, 0, f"the server should exit with status 0 on {signo.name}",
                         hint="wait with wait_readable(): it returns WAIT_STOPPED when a stop "
                              "arrives")
            lines = server.proc.stdout.lines()
            expect_equal(lines[-1] if lines else "", "stopped",
                         "the server's last line should be 'stopped'")


def test_server_port_in_use_is_a_clear_error(lab):
    """Another socket already has the UDP port: exit 1 with the reason."""
    with silent_port() as taken:
        lab.story.step(f"start the server on {taken}, where a Python UDP socket is bound")
        result = lab.run("server", "-p", str(taken.port), env=UTC)
    result.expect_status(1, "a runtime failure")
    expect("Address already in use" in result.stderr, "the server should say why it cannot "
           "listen", expected="'Address already in use' on stderr", actual=show(result.stderr),
           hint="use die_errno() after bind() fails")


def test_server_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments print the usage and exit 2."""
    lab.story.step("start the server on IPv6 loopback")
    with lab.start_server(host="::1", env=UTC) as server, UdpPeer("::1") as peer:
        expect_equal(server.host, "::1", "the server should listen on ::1 with -H ::1")
        reply = ask(lab, server, b"%Y", peer)
        expect(re.fullmatch(rb"\d{4}", reply) is not None, "the server should answer on ::1",
               actual=show(reply))
        line = request_lines(lab, server, 1)[0]
        expect_equal(line.group(1), "[::1]", "IPv6 senders are logged in brackets")
    lab.expect_usage("server", [["--help"], ["-p", "abc"], ["-p", PAST_THE_LAST_PORT], ["-x"], ["-p"]])


# -- the client ----------------------------------------------------------------------------

def replying(reply: bytes):
    """A handler for UdpPeerServer that answers every request with reply."""
    return lambda data, sender, server: reply


@pytest.mark.memory
def test_client_sends_the_format_and_prints_the_reply(lab):
    """Step 6-8: -f FORMAT goes out as one datagram; the reply is printed on stdout."""
    with UdpPeerServer(replying(b"12:34:56")) as peer:
        lab.story.step(f"run: client -f '%H:%M:%S', against a Python UDP server at {peer.address}")
        result = run_client(lab, "-p", str(peer.address.port), "-f", "%H:%M:%S")
        peer.check()
    expect_equal([r[0] for r in peer.requests], [b"%H:%M:%S"],
                 "the client should send the format as one datagram, without a NUL or newline")
    result.expect_status(0)
    expect_equal(result.stdout, "12:34:56\n", "the client should print the reply and a newline")


def test_client_sends_an_empty_request_by_default(lab):
    """Step 6-8: with no -f, the request is an empty datagram (the server's default)."""
    with UdpPeerServer(replying(b"2026-01-02 03:04:05")) as peer:
        lab.story.step("run the client without -f")
        result = run_client(lab, "-p", str(peer.address.port))
        peer.check()
    expect_equal([r[0] for r in peer.requests], [b""], "without -f the client should send an "
                 "empty datagram", hint="send() of 0 bytes is a real datagram in UDP")
    result.expect_status(0)
    expect_equal(result.stdout, "2026-01-02 03:04:05\n", "the client should print the reply")


def test_client_prints_any_reply_whole(lab):
    """Step 7-8: an empty reply prints an empty line; a 1024-byte one comes out whole."""
    for reply in [b"", b"x" * RESULT_MAX]:
        with UdpPeerServer(replying(reply)) as peer:
            lab.story.step(f"run the client against a server that replies {show(reply, 40)}")
            result = run_client(lab, "-p", str(peer.address.port), "-f", "%c")
            peer.check()
        result.expect_status(0)
        expect_equal(result.stdout_bytes, reply + b"\n", f"the {len(reply)}-byte reply should be "
                     "printed whole, then a newline", hint="print_reply (step 8): the reply is "
                     "bytes, not a C string: fwrite() exactly its length, then a newline")


def test_client_prints_no_error_after_an_empty_reply(lab):
    """Step 7-8: an empty reply (a format such as %Z that gives nothing) is a reply like any
    other: an empty line on stdout, status 0, nothing on stderr."""
    with UdpPeerServer(replying(b"")) as peer:
        lab.story.step("run: client -f '%Z', against a Python UDP server that replies with "
                       "an empty datagram")
        result = run_client(lab, "-p", str(peer.address.port), "-f", "%Z")
        peer.check()
    result.expect_status(0)
    expect_equal(result.stdout, "\n", "the client should print the empty reply: a newline")
    lab.expect_no_errors(
        result.proc, "the server answered, with an empty datagram",
        hint="receive_reply (step 7): recv() returning 0 is an empty datagram, a reply like "
             "any other, not a closed connection (UDP has none): print it, say nothing on "
             "stderr")


def expect_error_status(result) -> None:
    """Result.expect_status(3), with the hint of the mistake it catches."""
    expect(result.returncode == 3, "the client should exit with status 3 (the server answered "
           "with an error)", expected="exit status 3", actual=result.proc.status(),
           hint="print_reply (step 8): a reply starting with 'error:' goes to stderr, and the "
                "client exits with status 3, so that a script can tell it failed")


def test_client_error_reply_exits_3(lab):
    """Step 8: a reply starting with 'error:' goes to stderr, and the exit status is 3."""
    with UdpPeerServer(replying(b"error: the format is longer than 256 bytes")) as peer:
        lab.story.step("run the client against a server that answers with an error")
        result = run_client(lab, "-p", str(peer.address.port), "-f", "%Y" * 200)
        peer.check()
    expect_error_status(result)
    expect("error: the format is longer than 256 bytes" in result.stderr,
           "the client should print the server's error on stderr", actual=show(result.stderr))
    expect_equal(result.stdout, "", "nothing goes to stdout when the server says no")


def test_client_times_out_without_a_reply(lab):
    """Step 7: no reply within -t seconds: exit 1 with 'no reply' on stderr."""
    with silent_port() as silent:
        lab.story.step(f"run: client -t 0.5, against {silent}, which never answers")
        start = time.monotonic()
        result = lab.run("client", "-p", str(silent.port), "-t", "0.5",
                         hint="receive_reply (step 7): wait_readable(fd, timeout_ms) before "
                              "recv(): it returns -2 when the time is up; then say 'no reply' "
                              "and exit 1")
        took = time.monotonic() - start
    result.expect_status(1, "no reply is a runtime failure")
    expect("no reply" in result.stderr, "the client should say that no reply came",
           expected="'no reply' on stderr", actual=show(result.stderr))
    expect(took >= 0.45, "the client should wait -t seconds for the reply before it gives up",
           expected="at least 0.5 s", actual=f"{took:.2f} s",
           hint="receive_reply (step 7): wait_readable(fd, timeout_ms) with -t's time, in "
                "milliseconds; it returns -2 only when that time is up")


def test_client_no_server_is_a_clear_error(lab):
    """Step 7: nothing at all on the port: exit 1 with 'no reply' on stderr, within -t."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # now nothing is bound there
    lab.story.step(f"run: client -t 2 against 127.0.0.1:{port}, where no socket is bound")
    result = lab.run("client", "-p", str(port), "-t", "2")
    result.expect_status(1, "no reply is a runtime failure")
    expect("no reply" in result.stderr, "the client should say that no reply came",
           expected="'no reply' on stderr", actual=show(result.stderr))


def test_client_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments exit 2 with the usage."""
    with UdpPeerServer(replying(b"2026"), host="::1") as peer:
        lab.story.step("run the client against a Python UDP server on ::1")
        result = run_client(lab, "-H", "::1", "-p", str(peer.address.port), "-f", "%Y")
        peer.check()
    result.expect_status(0)
    expect_equal(result.stdout, "2026\n", "the client should work over IPv6")
    lab.expect_usage("client", [["--help"], ["-p", "0"], ["-t", "0"], ["-t", "abc"], ["-f"], ["--bogus"]])


# -- together ------------------------------------------------------------------------------

def test_client_and_server_together(lab):
    """The lab's client asks the lab's server: a format, the default, and an error."""
    with lab.start_server(env=TOKYO) as server:
        lab.story.step("run: client -f '%z %Z'")
        result = run_client(lab, "-p", server.port, "-f", "%z %Z")
        result.expect_status(0)
        expect_equal(result.stdout, "+0900 JST\n", f"the server runs with TZ={TOKYO['TZ']}",
                     hint="format_time (step 4): localtime_r(), not gmtime_r(): the time is "
                          "UTC, not the zone TZ names" if result.stdout.startswith("+0000")
                     else None)
        lab.story.step("run the client without -f")
        result = run_client(lab, "-p", server.port)
        result.expect_status(0)
        expect(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n", result.stdout) is not None,
               "the client should print the time in the default format",
               actual=show(result.stdout))
        lab.story.step("run the client with %Y 200 times (400 bytes)")
        result = run_client(lab, "-p", server.port, "-f", "%Y" * 200)
        expect_error_status(result)
        expect("error:" in result.stderr, "the client should print the server's error",
               actual=show(result.stderr))
        lines = request_lines(lab, server, 3)
        expect(lines[2].group(3).startswith("error:"),
               "the server should log the error it sent", actual=lines[2].group(0))


def test_many_lab_clients_at_once(lab):
    """Eight of the lab's clients at once: each prints its own reply."""
    with lab.start_server(env=UTC) as server:
        lab.story.step("start 8 clients at once, each with -f 'client N %Y'")
        wait = f"{4 * lab.settings.time_scale:g}"
        procs = [lab.start("client", "-p", server.port, "-f", f"client {i} %Y", "-t", wait,
                           name=f"client {i}") for i in range(8)]
        for i, proc in enumerate(procs):
            code = proc.wait(lab.deadline())
            proc.exit_seen = True
            expect_equal(code, 0, f"client {i} should exit with status 0")
            lab.judge_valgrind(proc)
            expect(re.fullmatch(rf"client {i} \d{{4}}\n", proc.stdout.text) is not None,
                   f"client {i} should print its own reply", expected=f"'client {i} YYYY'",
                   actual=show(proc.stdout.text))
        request_lines(lab, server, 8)
