"""Lab 06 - udp-basic: datagrams, recvfrom/sendto, the client's ephemeral port.

The server is tested with Python UDP peers and the client with a Python UDP server, so that
each program is judged on its own; the last tests put the two together. The order follows the
handout (labs/06-udp-basic/README.md).
"""
import errno
import random
import re
import signal
import socket
import time

import pytest

from harness import (PAST_THE_LAST_PORT, Address, CheckFailure, UdpPeer, UdpPeerServer, expect,
                     expect_equal, show, silent_port)

LAB = "06-udp-basic"

ADDR = r"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):(\d+)"
MAX_DATAGRAM = 65535  # a buffer that holds any datagram
LARGEST = 65507  # the largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header)
LOG_RE = rf"^datagram of (\d+) bytes from {ADDR}$"


def upper(data: bytes) -> bytes:
    """What the server must answer: a-z made A-Z, every other byte unchanged."""
    return data.translate(bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz",
                                          b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def some_bytes(size: int, seed: int = 6) -> bytes:
    """size bytes of every value, lowercase letters among them; the same on every run."""
    return random.Random(seed).randbytes(size)


def reply_to(lab, peer: UdpPeer, server, data: bytes, what: str = "", hint: str = "") -> bytes:
    """Sends data from peer to the server and returns the reply, which must come from the
    server's own address."""
    peer.send_to(server.address, data)
    got = peer.recv(lab.deadline(3))
    if got is None:
        ended = "" if server.proc.running else f", and the server has {server.proc.status()}"
        raise CheckFailure(f"the server should answer {what or show(data)} with one datagram",
                           expected=f"a datagram from {server.address}",
                           actual=f"nothing within 3 s{ended}",
                           hint=hint or "serve (step 2) and reply (step 3): recvfrom() tells "
                                        "you who sent the datagram: sendto() the reply to that "
                                        "address")
    reply, sender = got
    expect_equal(sender, server.address, "the reply should come from the address the server "
                 "printed", hint="answer from the socket you bound, with sendto()")
    return reply


def expect_reply(lab, peer: UdpPeer, server, data: bytes, what: str = "", hint: str = "") -> None:
    reply = reply_to(lab, peer, server, data, what, hint)
    if len(reply) != len(data):
        raise CheckFailure(f"the reply to {what or show(data)} should be as long as the request",
                           expected=f"{len(data)} bytes", actual=f"{len(reply)} bytes",
                           hint=hint or "recvfrom() returns the datagram's length: send back "
                                        "exactly that many bytes")
    expect_equal(reply, upper(data), f"the server should answer {what or show(data)} with its "
                 "uppercase copy", hint=hint or "change a-z to A-Z and leave every other byte "
                                                "as it is")


# -- the server ----------------------------------------------------------------------------

def test_server_prints_listening_address(lab):
    """Step 1: the server binds a UDP port chosen by the OS and prints it."""
    with lab.start_server() as server:
        expect(server.host == "127.0.0.1", "the server should bind the -H address",
               expected="127.0.0.1", actual=server.host)
        expect(0 < int(server.port) < 65536, "the printed port should be a real port",
               actual=server.port, hint="print the port getsockname() returns, not -p's 0")
        lab.story.step(f"bind a Python UDP socket to {server.address}: it should be taken")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((server.host, server.address.port))
                taken = False
            except OSError as e:
                taken = e.errno == errno.EADDRINUSE
        expect(taken, "the printed port should be a UDP port the server has bound",
               expected="Address already in use", actual="the UDP port was free",
               hint="socket() with SOCK_DGRAM (getaddrinfo's hints), then bind()")


def test_server_answers_with_uppercase(lab):
    """Step 2-3: a datagram is answered with its uppercase copy, sent to its sender."""
    with lab.start_server() as server, UdpPeer() as peer:
        lab.story.step(f"send 'hello, udp 06!' from {peer.address}, wait for the reply")
        expect_reply(lab, peer, server, b"hello, udp 06!")


def test_server_logs_the_senders_address(lab):
    """The server logs each datagram's size and its sender's address, port included."""
    with lab.start_server() as server, UdpPeer() as peer:
        lab.story.step(f"send 'Ada' from {peer.address}")
        expect_reply(lab, peer, server, b"Ada")
        lab.story.step("check the server's log")
        match = lab.expect_stdout(server.proc, LOG_RE, "'datagram of N bytes from HOST:PORT'")
        expect_equal(match.group(1), "3", "the log should give the datagram's size in bytes")
        expect_equal(f"{match.group(2)}:{match.group(3)}", str(peer.address),
                     "the logged address should be the sender's, with its own port",
                     hint="recvfrom() fills in the sender's address: log that one")


def test_server_changes_only_a_to_z(lab):
    """Bytes other than a-z (NUL, newlines, bytes above 127) come back unchanged."""
    data = bytes(range(256)) + b"\x00end\x00"
    with lab.start_server() as server, UdpPeer() as peer:
        lab.story.step("send all 256 byte values, NUL first, in one datagram")
        expect_reply(lab, peer, server, data, "a datagram of all 256 byte values",
                     hint="a datagram is bytes, not a C string: use the length recvfrom() "
                          "returns (never strlen), and change only 'a' to 'z'")


def test_server_answers_the_largest_datagram(lab):
    """A 65507-byte datagram (the most UDP carries over IPv4) comes back whole."""
    data = some_bytes(LARGEST)
    with lab.start_server() as server, UdpPeer() as peer:
        lab.story.step(f"send one datagram of {LARGEST} bytes")
        expect_reply(lab, peer, server, data, f"a datagram of {LARGEST} bytes",
                     hint="recvfrom() into a buffer smaller than the datagram keeps the first "
                          "bytes and throws the rest away: make the buffer 65535 bytes")


def test_server_keeps_datagram_boundaries(lab):
    """Three datagrams sent back to back are three messages: a cut one is not continued."""
    messages = [b"x" * 3000, b"short", b"y" * 2000]
    with lab.start_server() as server, UdpPeer() as peer:
        lab.story.step("send datagrams of 3000, 5 and 2000 bytes at once, then read 3 replies")
        for data in messages:
            peer.send_to(server.address, data)
        for i, data in enumerate(messages, 1):
            got = peer.recv(lab.deadline(3))
            expect(got is not None, f"the server should answer datagram {i} of 3",
                   expected=f"a reply of {len(data)} bytes", actual="nothing within 3 s")
            reply, _ = got
            expect_equal(reply, upper(data), f"reply {i} should be datagram {i}, uppercased",
                         hint="unlike TCP, UDP keeps each datagram whole and apart; but "
                              "recvfrom() into a small buffer throws away what does not fit, "
                              "and the next call gets the next datagram")


def test_server_answers_an_empty_datagram(lab):
    """An empty datagram is a message of 0 bytes, answered like any other, not an end."""
    with lab.start_server() as server, UdpPeer() as peer:
        lab.story.step("send a datagram of 0 bytes")
        reply = reply_to(lab, peer, server, b"", "an empty datagram",
                         hint="recvfrom() returning 0 is an empty datagram, not the end of "
                              "anything: UDP has no connection to close. Answer it.")
        expect_equal(reply, b"", "the reply to an empty datagram should be empty")
        sender = re.escape(str(peer.address))
        lab.expect_stdout(server.proc, rf"^datagram of 0 bytes from {sender}$",
                          f"'datagram of 0 bytes from {peer.address}'")
        lab.story.step("send 'still there?' afterwards")
        lab.expect_running(server.proc, "after an empty datagram")
        expect_reply(lab, peer, server, b"still there?",
                     hint="recvfrom() returning 0 is an empty datagram, not the end of "
                          "anything: UDP has no connection to close")


def test_server_prints_no_error_after_answering(lab):
    """Datagrams answered, an empty one among them, are no error: the server writes nothing
    on stderr."""
    with lab.start_server() as server, UdpPeer() as peer:
        lab.story.step("send 'hello' and an empty datagram, read both replies")
        expect_reply(lab, peer, server, b"hello")
        expect_equal(reply_to(lab, peer, server, b"", "an empty datagram"), b"",
                     "the reply to an empty datagram should be empty")
        sender = re.escape(str(peer.address))
        lab.expect_stdout(server.proc, rf"^datagram of 0 bytes from {sender}$",
                          f"'datagram of 0 bytes from {peer.address}'")
        lab.stop_and_expect_no_errors(
            server, "two datagrams, each answered",
            hint="reply (step 3): sendto() returns how many bytes it sent: 0 for an empty "
                 "datagram, which is a success. Only -1 is a failure (warn_errno); perror() "
                 "after a success prints 'Success'")


def test_server_replies_to_each_sender(lab):
    """Every reply goes to the sender of its request, whoever that is."""
    with lab.start_server() as server, UdpPeer() as a, UdpPeer() as b, UdpPeer() as c:
        peers = {"A": a, "B": b, "C": c}
        for name in ["A", "B", "C", "A"]:
            peer, data = peers[name], f"from {name.lower()}".encode()
            lab.story.step(f"peer {name} at {peer.address} sends 'from {name.lower()}'")
            try:
                expect_reply(lab, peer, server, data,
                             hint="answer each datagram to the address its recvfrom() gave, "
                                  "and keep the socket open to everyone (no connect() on the "
                                  "server)")
            except CheckFailure as failure:
                hint = where_the_reply_went(server, peers, name, upper(data))
                if hint is None:
                    raise
                raise CheckFailure(failure.what, expected=failure.expected,
                                   actual=failure.actual, hint=hint) from None


def where_the_reply_went(server, peers: dict[str, UdpPeer], name: str, reply: bytes) -> str | None:
    """When peer `name` got no reply, the hint that fits what became of its datagram, or None:
    the reply went to another peer (an address kept from an earlier datagram), or the server
    never logged the datagram (a socket connect()ed to its first client drops the others)."""
    for other, peer in peers.items():
        if other == name:
            continue
        peer.sock.setblocking(False)  # the reply, had it gone there, is waiting already
        try:
            got = peer.sock.recv(MAX_DATAGRAM)
        except BlockingIOError:
            got = None
        finally:
            peer.sock.setblocking(True)
        if got == reply:
            return (f"reply (step 3): the answer to peer {name} went to peer {other}, an "
                    "earlier sender: sendto() each reply to the address that recvfrom() gave "
                    "for this datagram, never one kept from before")
    senders = {f"{m.group(2)}:{m.group(3)}"
               for m in re.finditer(LOG_RE, server.proc.stdout.text, re.MULTILINE)}
    sender = str(peers[name].address)
    if server.proc.running and senders and sender not in senders:  # it logs, but not this one
        return (f"the server never received peer {name}'s datagram (no 'datagram of N bytes "
                f"from {sender}' line): a UDP socket that connect()s to its first client "
                "receives from that client only, and the kernel drops the rest. Never "
                "connect() the server's socket")
    return None


def test_server_survives_garbage_and_vanished_senders(lab):
    """Odd bytes, and senders gone before their reply, never stop the server."""
    garbage = [b"%s%s%s%n%n", b"\x00" * 100, b"\xff\xfe" * 700, b"\r\n.\r\n",
               some_bytes(LARGEST, 7)]
    with lab.start_server() as server:
        lab.story.step("three peers send a datagram each and close at once, before the reply")
        for i in range(3):
            with UdpPeer() as gone:
                gone.send_to(server.address, f"gone {i}".encode())
        with UdpPeer() as peer:
            for data in garbage:
                lab.story.step(f"send garbage: {show(data, 60)}")
                expect_reply(lab, peer, server, data, f"garbage {show(data, 60)}")
            lab.story.step("send 'a good request' afterwards")
            expect_reply(lab, peer, server, b"a good request")
        lab.expect_running(server.proc, "after garbage and vanished senders")


def test_server_port_in_use_is_a_clear_error(lab):
    """Another program already has the UDP port: exit 1 with the reason."""
    with UdpPeer() as taken:
        lab.story.step(f"start the server on {taken.address}, where a Python UDP socket is bound")
        result = lab.run("server", "-p", str(taken.address.port))
    result.expect_status(1, "a runtime failure")
    expect("Address already in use" in result.stderr,
           "the server should say why it cannot bind", expected="'Address already in use' "
           "on stderr", actual=show(result.stderr), hint="use strerror(errno) after bind()")


def test_server_ends_cleanly_on_sigterm(lab):
    """SIGTERM ends the server with status 0, and 'stopped' is its last line."""
    server = lab.start_server()
    with server, UdpPeer() as peer:
        lab.story.step("send one datagram and read the reply")
        expect_reply(lab, peer, server, b"bye")
        lab.story.step("send SIGTERM while the server waits for the next datagram")
        code = lab.stop_server(server)
        expect_equal(code, 0, "the server should exit with status 0 soon after SIGTERM",
                     hint="wait for datagrams through wait_readable(), which returns "
                          "WAIT_STOPPED when SIGTERM arrives")
        lines = server.proc.stdout.lines()
        expect_equal(lines[-1] if lines else "", "stopped",
                     "the server's last line should be 'stopped'")


def test_server_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments print the usage and exit 2."""
    lab.story.step("start the server on IPv6 loopback")
    with lab.start_server(host="::1") as server, UdpPeer("::1") as peer:
        expect_equal(server.host, "::1", "the server should bind ::1 with -H ::1")
        lab.story.step(f"send 'ipv6' from {peer.address}")
        expect_reply(lab, peer, server, b"ipv6")
        sender = re.escape(str(peer.address))
        lab.expect_stdout(server.proc, rf"^datagram of 4 bytes from {sender}$",
                          f"'datagram of 4 bytes from {peer.address}' (brackets for IPv6)")
    lab.expect_usage("server", [["--help"], ["-p", "abc"], ["-p", PAST_THE_LAST_PORT], ["-x"], ["-p"]])


# -- the client ----------------------------------------------------------------------------

def answering(reply=None, host: str = "127.0.0.1") -> UdpPeerServer:
    """A Python UDP server that answers every request with reply, or with its uppercase copy."""
    return UdpPeerServer(lambda data, sender, srv: upper(data) if reply is None else reply, host)


def printed_reply(result, server: Address) -> bytes:
    """The reply the client printed: its line is 'reply of N bytes from SERVER: ' and then the
    bytes exactly as they came, and a newline."""
    out = result.stdout_bytes
    match = re.search(rb"^reply of (\d+) bytes from (\S+): ", out, re.MULTILINE)
    if match is None:
        raise CheckFailure("the client should print the reply",
                           expected="a line 'reply of N bytes from HOST:PORT: REPLY'",
                           actual=f"its stdout was {show(result.stdout)}")
    expect_equal(match.group(2).decode(), str(server), "the client should name the server as "
                 "the reply's sender")
    data = out[match.end():]
    expect(data.endswith(b"\n"), "the reply's line should end with a newline",
           actual=show(data))
    data = data[:-1]
    expect_equal(int(match.group(1)), len(data), "the size printed should be the reply's size")
    return data


def sent_line(result) -> re.Match:
    return result.expect_stdout_line(rf"^sent (\d+) bytes from {ADDR} to {ADDR}$",
                                     "'sent N bytes from LOCAL to SERVER'")


def the_one_request(peer: UdpPeerServer) -> tuple[bytes, Address]:
    peer.check()
    expect(len(peer.requests) == 1, "the client should send exactly one datagram",
           expected="1 datagram", actual=f"{len(peer.requests)}: "
           f"{[show(d, 40) for d, _ in peer.requests]}")
    return peer.requests[0]


def test_client_sends_one_datagram_and_prints_its_address(lab):
    """Step 4-5: the message goes out as one datagram; the client prints its own port."""
    with answering(b"OK") as peer:
        lab.story.step(f"run: client -m hello, against a Python UDP server at {peer.address}")
        result = lab.run("client", "-p", str(peer.address.port), "-m", "hello")
        result.expect_status(0)
        data, sender = the_one_request(peer)
    expect_equal(data, b"hello", "the datagram should be the -m message, nothing more")
    match = sent_line(result)
    expect_equal(match.group(1), "5", "the client should print how many bytes it sent")
    expect_equal(int(match.group(3)), sender.port, "the port the client prints as its own should "
                 "be the one its datagram came from", hint="call getsockname() after sendto(): "
                 "the OS gives the socket its ephemeral port at the first send")
    expect_equal(f"{match.group(4)}:{match.group(5)}", str(peer.address),
                 "the client should print the server's address last")


def test_client_prints_the_reply(lab):
    """Step 6: the reply is printed after 'reply of N bytes from SERVER: '."""
    with answering(b"A reply, in 1 datagram.") as peer:
        lab.story.step("run the client against a Python server that answers "
                       "'A reply, in 1 datagram.'")
        result = lab.run("client", "-p", str(peer.address.port), "-m", "hi")
        peer.check()
    result.expect_status(0)
    expect_equal(printed_reply(result, peer.address), b"A reply, in 1 datagram.",
                 "the client should print the reply's bytes")


def test_client_sends_stdin_as_one_datagram(lab):
    """Without -m, all of stdin is the message, binary bytes included, in one datagram."""
    data = bytes(range(256)) * 4
    with answering() as peer:
        lab.story.step("run the client with 1024 bytes of every value on stdin")
        result = lab.run("client", "-p", str(peer.address.port), input=data)
        result.expect_status(0)
        got, _ = the_one_request(peer)
    expect_equal(got, data, "the datagram should be stdin's bytes, exactly",
                 hint="read stdin to its end (fread), and send the length you read: a NUL byte "
                      "is data too")
    expect_equal(printed_reply(result, peer.address), upper(data),
                 "the client should print the reply's bytes exactly", hint="fwrite() the reply "
                 "with its length from recvfrom(); printf(\"%s\") stops at the first NUL")


def test_client_largest_datagram(lab):
    """A 65507-byte message goes out as one datagram, and a 65507-byte reply comes back whole."""
    data = some_bytes(LARGEST)
    with answering() as peer:
        lab.story.step(f"run the client with {LARGEST} bytes on stdin")
        result = lab.run("client", "-p", str(peer.address.port), input=data)
        result.expect_status(0)
        got, _ = the_one_request(peer)
    expect_equal(len(got), LARGEST, "the datagram should carry the whole message")
    reply = printed_reply(result, peer.address)
    expect_equal(len(reply), LARGEST, "the client should receive the whole reply",
                 hint="recvfrom() into a buffer smaller than the datagram throws the rest away: "
                      "make the buffer 65535 bytes")
    expect_equal(reply, upper(data), "the client should print the reply's bytes exactly")


def test_client_empty_message(lab):
    """Empty stdin sends an empty datagram; an empty reply is printed as one."""
    with answering(b"") as peer:
        lab.story.step("run the client with nothing on stdin")
        result = lab.run("client", "-p", str(peer.address.port), input=b"")
        result.expect_status(0)
        got, _ = the_one_request(peer)
    expect_equal(got, b"", "the datagram should be empty")
    expect_equal(printed_reply(result, peer.address), b"", "the reply printed should be empty",
                 hint="recvfrom() returning 0 is an empty datagram: print it, it is the reply")


def test_client_prints_no_error_after_an_empty_reply(lab):
    """Step 6: an empty reply that comes in time is a reply like any other: the client prints
    it, exits 0, and writes nothing on stderr."""
    with answering(b"") as peer:
        lab.story.step("run the client with nothing on stdin, against a Python server that "
                       "answers with an empty datagram")
        result = lab.run("client", "-p", str(peer.address.port), input=b"")
        peer.check()
    result.expect_status(0)
    expect_equal(printed_reply(result, peer.address), b"", "the reply printed should be empty")
    lab.expect_no_errors(
        result.proc, "the server's empty reply came in time",
        hint="receive_reply (step 6): recvfrom() returning 0 is an empty datagram, the reply, "
             "not a closed connection (UDP has none): return it and say nothing on stderr")


def expect_gives_up(lab, args: list[str], at_least: float, timeout: float) -> None:
    with silent_port() as nobody:
        lab.story.step(f"run: client -p {nobody.port} {' '.join(args)}  (a port where a socket "
                       "is bound but nobody answers)")
        started = time.monotonic()
        result = lab.run("client", "-p", str(nobody.port), *args, timeout=timeout,
                         hint="receive_reply (step 6): wait with wait_readable(), never longer "
                              "than the time left (deadline_in, ms_until): when it runs out, say "
                              "so and return -1; a lost datagram must never hang the client")
        took = time.monotonic() - started
    result.expect_status(1, "no reply is a runtime failure")
    expect(re.search(r"no reply from \S+ within", result.stderr) is not None,
           "the client should say that no reply came", expected="'client: no reply from "
           "HOST:PORT within T s' on stderr", actual=show(result.stderr))
    expect(took >= at_least, "the client should wait for the reply as long as its timeout",
           expected=f"at least {at_least:g} s", actual=f"it gave up after {took:.2f} s")


def test_client_gives_up_when_no_server_answers(lab):
    """With -t 0.5 and nobody answering, the client exits 1 after about half a second."""
    expect_gives_up(lab, ["-m", "anyone?", "-t", "0.5"], at_least=0.45, timeout=5)


def test_client_has_a_default_timeout(lab):
    """Without -t, the client still gives up (after 3 s): a lost datagram never hangs it."""
    expect_gives_up(lab, ["-m", "anyone?"], at_least=2.5, timeout=10)


def test_client_ignores_datagrams_from_elsewhere(lab):
    """A datagram from another address is not the reply: the client waits for the server's."""
    with UdpPeer() as stranger:
        def handler(data, sender, srv):
            stranger.send_to(sender, b"EVIL")  # arrives first, from another port
            return b"GOOD"

        with UdpPeerServer(handler) as peer:
            lab.story.step(f"run the client against a Python server; before the real reply, "
                           f"another socket ({stranger.address}) sends it 'EVIL'")
            result = lab.run("client", "-p", str(peer.address.port), "-m", "hi")
            peer.check()
    result.expect_status(0)
    expect_equal(printed_reply(result, peer.address), b"GOOD",
                 "the client should take only the datagram from the server's address",
                 hint="receive_reply (step 6): keep the datagram only if same_address() says "
                      "recvfrom()'s sender is the server (its IP address and its port); print "
                      "'ignored ...' for anything else and wait again")


def test_client_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments exit 2 with the usage."""
    with answering(host="::1") as peer:
        lab.story.step("run the client against a Python server on ::1")
        result = lab.run("client", "-H", "::1", "-p", str(peer.address.port), "-m", "v6")
        peer.check()
    result.expect_status(0)
    result.expect_stdout_line(rf"^sent 2 bytes from \[[0-9a-f:]+\]:\d+ to "
                              rf"{re.escape(str(peer.address))}$", "IPv6 addresses in brackets")
    expect_equal(printed_reply(result, peer.address), b"V6", "the reply over IPv6")
    lab.expect_usage("client", [["--help"], ["-p", "0"], ["-p", "abc"], ["-t", "0"], ["-t", "soon"],
                 ["-t", "-1"], ["-m"], ["--bogus"]])


# -- together ------------------------------------------------------------------------------

def test_client_and_server_agree_on_the_clients_port(lab):
    """The port the client prints as its own is the one the server logs."""
    with lab.start_server() as server:
        lab.story.step("run: client -m 'hello, server'")
        result = lab.run("client", "-p", server.port, "-m", "hello, server")
        result.expect_status(0)
        mine = sent_line(result)
        logged = lab.expect_stdout(server.proc, LOG_RE, "'datagram of N bytes from HOST:PORT'")
        expect_equal(logged.group(3), mine.group(3), "the port the client prints as its own "
                     "should be the one the server logs for it")
        expect_equal(printed_reply(result, server.address), b"HELLO, SERVER",
                     "the client should print the server's uppercase reply")


@pytest.mark.memory
def test_client_and_server_largest_and_empty_messages(lab):
    """65507 bytes and 0 bytes both make the round trip through the two programs."""
    data = some_bytes(LARGEST, 8)
    with lab.start_server() as server:
        for what, message in [(f"{LARGEST} bytes", data), ("nothing", b"")]:
            lab.story.step(f"run the client with {what} on stdin")
            result = lab.run("client", "-p", server.port, input=message)
            result.expect_status(0)
            expect_equal(printed_reply(result, server.address), upper(message),
                         f"the reply to {what} should be its uppercase copy",
                         hint="the server (step 2) and the client (step 6) recvfrom() into "
                              "65535 bytes: a smaller buffer cuts the datagram")


def test_server_ends_cleanly_on_ctrl_c(lab):
    """Ctrl-C (SIGINT) ends the server like SIGTERM does."""
    server = lab.start_server()
    with server:
        lab.story.step("send SIGINT, as Ctrl-C in a terminal does")
        server.proc.signal(signal.SIGINT)
        code = server.proc.wait(lab.deadline())
        server.proc.exit_seen = True
        expect_equal(code, 0, "the server should exit with status 0 on SIGINT")
