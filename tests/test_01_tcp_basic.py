"""Lab 01 - tcp-basic: the life of a TCP server and client.

The server is tested with Python clients and the client with a Python server, so that each
program is judged on its own; the last tests put the two together. The order follows the
handout (labs/01-tcp-basic/README.md).
"""
import re
import signal

import pytest

from harness import (PAST_THE_LAST_PORT, CheckFailure, Deadline, expect, expect_equal, peers,
                     poll_until, show)

LAB = "01-tcp-basic"

ADDR = r"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):(\d+)"


def greet(lab, server, name: bytes = b"Ada"):
    """Connects a Python client, sends a name line, reads the reply line and then waits for
    the end of the connection; returns (the client's address, what it received)."""
    sock = peers.connect(server.address, lab.deadline())
    with sock:
        me = peers.local_address(sock)
        peers.send_all(sock, name + b"\n", lab.deadline())
        reply = peers.recv_until(sock, b"\n", lab.deadline())
        if reply.ended == peers.Ended.MARKER:  # the line is whole: now only the close should follow
            rest = peers.recv_until_closed(sock, lab.deadline(2))
            reply = peers.Received(reply.data + rest.data, rest.ended)
    return me, reply


def explained(lab, server, failure: CheckFailure) -> CheckFailure:
    """failure, with what the server's end says about its cause if it has ended (killed by
    SIGPIPE, or exited after its first client): a refused connection alone says only that
    nobody listens any more."""
    ended = lab.ended(server.proc)
    if ended is None:
        return failure
    how, cause = ended
    return CheckFailure(failure.what, expected=failure.expected,
                        actual=f"{failure.actual + '; ' if failure.actual else ''}{how}",
                        hint=cause or failure.hint)


def expect_greeting(lab, server, name: bytes = b"Ada"):
    try:
        me, reply = greet(lab, server, name)
    except CheckFailure as failure:
        raise explained(lab, server, failure) from None
    expected = b"Hello " + name + b", you are " + str(me).encode() + b"\n"
    own = b"Hello " + name + b", you are " + str(server.address).encode() + b"\n"
    if reply.data != expected:
        try:
            expect_equal(reply.data, expected, f"the server should greet {name.decode()!r} by "
                         "name and address, then close the connection")
        except CheckFailure as failure:
            if (explanation := explained(lab, server, failure)) is not failure:
                raise explanation from None
    expect_equal(reply.data, expected, f"the server should greet {name.decode()!r} by name and "
                 "address, then close the connection",
                 hint="that is the server's own address (getsockname): the client's is the one "
                      "accept() fills in (or getpeername)" if reply.data == own else
                      "TCP delivers bytes: read until the newline, answer with send_all, close")
    expect(reply.ended == peers.Ended.EOF, "the server should close the connection after the greeting",
           expected="end of stream (recv returns 0)", actual=f"the connection ended by {reply.ended}",
           hint="close() the socket accept() returned once the greeting is sent: the client "
                "reads until the end of the stream")
    return me


# -- the server ----------------------------------------------------------------------------

def test_server_prints_listening_address(lab):
    """Step 1-2: the server listens on an OS-chosen port and prints it."""
    with lab.start_server() as server:
        expect(server.host == "127.0.0.1", "the server should listen on the -H address",
               expected="127.0.0.1", actual=server.host)
        expect(0 < int(server.port) < 65536, "the printed port should be a real port",
               actual=server.port, hint="print the port getsockname() returns, not -p's 0")
        lab.story.step(f"connect to the printed address {server.address}")
        peers.connect(server.address, lab.deadline()).close()


@pytest.mark.memory
def test_server_greets_by_name(lab):
    """Step 3-4: a client that sends its name is greeted with its own address."""
    with lab.start_server() as server:
        lab.story.step("connect, send 'Ada\\n', read until the server closes")
        me = expect_greeting(lab, server)
        lab.story.step("check the server's log")
        lab.expect_stdout(server.proc, rf"^connection from {re.escape(str(me))}$",
                          f"'connection from {me}' (the client's address, from accept)")


def test_server_logs_the_clients_port(lab):
    """The peer address the server logs is the client's own, ephemeral port."""
    with lab.start_server() as server:
        lab.story.step("connect a Python client and note its local port")
        me, _ = greet(lab, server, b"Grace")
        match = lab.expect_stdout(server.proc, rf"^connection from {ADDR}$",
                                  "'connection from HOST:PORT'")
        expect_equal(int(match.group(2)), me.port,
                     "the logged port should be the client's port (getpeername, or accept's "
                     "address), not the server's own")


def test_server_name_arriving_in_pieces(lab):
    """TCP has no message boundaries: a name sent one byte at a time is still one name."""
    with lab.start_server() as server:
        lab.story.step("connect and send 'Linus\\n' one byte per write")
        with peers.connect(server.address, lab.deadline()) as sock:
            me = peers.local_address(sock)
            try:
                peers.send_in_pieces(sock, b"Linus\n", 1, 0.02, lab.deadline())
            except CheckFailure as failure:  # the server closed before the newline came
                logged = [line for line in server.proc.stdout.lines()
                          if line.startswith("greeted ")]
                raise CheckFailure("the server should read until the newline, however the "
                                   "name arrives", actual=f"{failure.what}" + (
                                       f"; the server logged {show(logged[-1])}" if logged else ""),
                                   hint="the server answered before the newline came: one "
                                        "recv() is not one message: keep reading until you "
                                        "see '\\n'") from None
            reply = peers.recv_until_closed(sock, lab.deadline())
        expect_equal(reply.data, f"Hello Linus, you are {me}\n".encode(),
                     "the server should read until the newline, however the name arrives",
                     hint="one recv() is not one message: keep reading until you see '\\n'")


def test_server_serves_clients_one_after_another(lab):
    """The connection loop: after one client, the server accepts the next."""
    with lab.start_server() as server:
        for i, name in enumerate([b"Ada", b"Barbara", b"Edsger"], 1):
            lab.story.step(f"client {i}: connect and send {name.decode()!r}")
            expect_greeting(lab, server, name)


def test_server_closes_every_connection(lab):
    """After 20 clients, the server has no more descriptors open than before them."""
    with lab.start_server() as server:
        lab.story.step("greet one client, then count the server's open descriptors")
        expect_greeting(lab, server)
        before = server.proc.open_fds()
        lab.story.step(f"greet 20 more clients (the server had {before} descriptors open)")
        for _ in range(20):
            expect_greeting(lab, server)
        poll_until(lambda: server.proc.open_fds() <= before, lab.deadline(1))
        after = server.proc.open_fds()
        expect(after <= before, "every connection's socket should be closed once the client "
               "has been served", expected=f"at most {before} open descriptors",
               actual=f"{after} (see ls -l /proc/{server.proc.pid}/fd)",
               hint="close() the socket accept() returned when you are done with the client")


def test_server_rejects_a_bad_name_and_goes_on(lab):
    """Bad input gets an error reply, and the server serves the next client."""
    with lab.start_server() as server:
        for bad in [b"", b"x" * 40, b"tab\there"]:
            lab.story.step(f"send the bad name {show(bad)}")
            _, reply = greet(lab, server, bad)
            expect(reply.data.startswith(b"error: "), "a bad name should get an error reply",
                   expected="a reply starting with 'error: '", actual=show(reply.data),
                   hint="names are 1 to 32 printable characters")
        lab.story.step("a good client afterwards")
        expect_greeting(lab, server)


def test_server_survives_vanishing_clients(lab):
    """A client that resets, or closes without a word, never stops the server."""
    with lab.start_server() as server:
        lab.story.step("connect and reset at once (RST, as when a client crashes)")
        peers.reset(peers.connect(server.address, lab.deadline()))
        lab.story.step("connect and close without sending anything")
        peers.connect(server.address, lab.deadline()).close()
        lab.story.step("send a name and reset before the reply comes")
        sock = peers.connect(server.address, lab.deadline())
        peers.send_all(sock, b"Ada\n", lab.deadline())
        peers.reset(sock)
        lab.story.step("a good client afterwards")
        expect_greeting(lab, server)


def test_server_survives_a_client_gone_before_its_greeting(lab):
    """A client sends its name, closes and resets before the server gets to it: the greeting
    goes to a connection that is gone. send() must fail (EPIPE), not raise SIGPIPE, whose
    default action kills the server."""
    with lab.start_server() as server:
        sock = peers.connect(server.address, lab.deadline())
        peers.vanish_while_paused(server.proc, sock, b"Ada\n", lab.deadline(), lab.story.step)
        # The server now reads 'Ada\n', still queued for it, and greets a connection that is
        # gone: send() fails with EPIPE, and raises SIGPIPE unless told not to (MSG_NOSIGNAL).
        lab.story.step("a good client afterwards")
        expect_greeting(lab, server)
        lab.expect_running(server.proc, "after a client that left before its greeting")


def test_server_restarts_on_the_same_port_at_once(lab):
    """SO_REUSEADDR: a restarted server binds its port while old connections are in
    TIME_WAIT."""
    server = lab.start_server()
    with server:
        lab.story.step("connect a client that stays connected")
        sock = peers.connect(server.address, lab.deadline())
        # connect() returns once the kernel has completed the handshake; a connection the
        # server has not accepted yet would be reset, not left in TIME_WAIT, when it stops
        lab.expect_stdout(server.proc, r"^connection from ", "'connection from ...'")
        lab.story.step("stop the server with SIGTERM while the client is connected")
        lab.stop_server(server)
        sock.close()  # the server closed first, so its side of the connection is in TIME_WAIT
    lab.story.step(f"start the server again at once, on the same port {server.port}")
    with lab.start_server(port=server.port, hint="set SO_REUSEADDR on the listening socket "
                          "before bind(): without it, bind() fails while the old connections "
                          "wait in TIME_WAIT") as again:
        expect_equal(again.port, server.port, "the restarted server should use the -p port")
        expect_greeting(lab, again)


def test_server_port_in_use_is_a_clear_error(lab):
    """Another program already listens on the port: exit 1 with the reason."""
    with peers.port_in_use() as taken:
        lab.story.step(f"start the server on {taken}, where a Python socket listens")
        result = lab.run("server", "-p", str(taken.port))
    result.expect_status(1, "a runtime failure")
    expect("Address already in use" in result.stderr,
           "the server should say why it cannot listen", expected="'Address already in use' "
           "on stderr", actual=show(result.stderr), hint="use strerror(errno) after bind()")


def test_server_ends_cleanly_on_sigterm(lab):
    """SIGTERM ends the server with status 0, even while a client is connected."""
    server = lab.start_server()
    with server:
        lab.story.step("connect a client that sends nothing")
        with peers.connect(server.address, lab.deadline()):
            # until the server has accepted it, it still waits for a client, not for a name
            lab.expect_stdout(server.proc, r"^connection from ", "'connection from ...'")
            lab.story.step("send SIGTERM while the server waits for that client's name")
            code = lab.stop_server(server)
        expect_equal(code, 0, "the server should exit with status 0 soon after SIGTERM",
                     hint="the waits in the server go through wait_readable(), which returns "
                          "WAIT_STOPPED when SIGTERM arrives")


def test_server_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments print the usage and exit 2."""
    lab.story.step("start the server on IPv6 loopback")
    with lab.start_server(host="::1") as server:
        expect_equal(server.host, "::1", "the server should listen on ::1 with -H ::1")
        expect_greeting(lab, server)
    lab.expect_usage("server", [["--help"], ["-p", "abc"], ["-p", PAST_THE_LAST_PORT], ["-x"], ["-p"]])


# -- the client ----------------------------------------------------------------------------

def reply_with(text: bytes, pieces: int = 1):
    """A Python server that reads the name line and sends text in `pieces` writes."""
    received = {}

    def handler(conn, peer):
        got = peers.recv_until(conn, b"\n", Deadline(5))
        received["name"] = got.data
        size = max(1, -(-len(text) // pieces))
        peers.send_in_pieces(conn, text, size, 0.1, Deadline(5))

    return handler, received


def test_client_prints_both_addresses(lab):
    """Step 1-2: the client connects and prints its own address and the server's."""
    handler, _ = reply_with(b"Hello\n")
    with peers.PeerServer(handler) as peer:
        lab.story.step(f"run the client against a Python server at {peer.address}")
        result = lab.run("client", "-p", str(peer.address.port))
        peer.check()
        result.expect_status(0)
        match = result.expect_stdout_line(rf"^connected from {ADDR} to {ADDR}$",
                                          "'connected from LOCAL to SERVER'")
        expect(len(peer.peers) == 1, "the client should connect once", actual=len(peer.peers))
        expect_equal(f"{match.group(1)}:{match.group(2)}", str(peer.peers[0]),
                     "the client's printed local address should be the one the server saw",
                     hint="your own address comes from getsockname(), the server's from "
                          "getpeername()")
        expect_equal(f"{match.group(3)}:{match.group(4)}", str(peer.address),
                     "the client should print the server's address second")


def test_client_sends_its_name_and_prints_the_reply(lab):
    """Step 3-4: the name goes out as one line; the whole reply is printed."""
    handler, received = reply_with(b"Hello Ada, you are somewhere\n")
    with peers.PeerServer(handler) as peer:
        lab.story.step("run: client -n Ada, against a Python server")
        result = lab.run("client", "-p", str(peer.address.port), "-n", "Ada")
        peer.check()
    expect_equal(received.get("name"), b"Ada\n", "the client should send its name and a newline")
    result.expect_status(0)
    result.expect_stdout_line(r"^server says: Hello Ada, you are somewhere$",
                              "'server says: ' and the reply")


def test_client_reads_a_reply_arriving_in_pieces(lab):
    """The reply comes in three writes, 0.1 s apart: the client prints all of it."""
    handler, _ = reply_with(b"Hello Ada, this reply comes in three pieces\n", pieces=3)
    with peers.PeerServer(handler) as peer:
        lab.story.step("run the client against a Python server that replies in 3 pieces")
        result = lab.run("client", "-p", str(peer.address.port), "-n", "Ada")
        peer.check()
    result.expect_status(0)
    result.expect_stdout_line(r"^server says: Hello Ada, this reply comes in three pieces$",
                              "the whole reply", hint="one recv() gets what has arrived so far; "
                              "keep reading until recv() returns 0")


def test_client_prints_no_error_after_a_normal_session(lab):
    """Step 7: the server closes the connection after its reply: the normal end of the
    session, so the client exits 0 and writes nothing on stderr."""
    handler, _ = reply_with(b"Hello Ada, you are somewhere\n")
    with peers.PeerServer(handler) as peer:
        lab.story.step("run: client -n Ada, against a Python server that replies and closes")
        result = lab.run("client", "-p", str(peer.address.port), "-n", "Ada")
        peer.check()
    result.expect_status(0)
    lab.expect_no_errors(
        result.proc, "the server closed the connection after its reply",
        hint="recv_until_closed (step 7): recv() returning 0 is the server's close, the "
             "normal end of the reply: leave the loop without a word on stderr (perror() "
             "there prints 'Success'). Only -1 is a failure: die_errno(\"receive\")")


def test_client_connection_refused_is_a_clear_error(lab):
    """Nothing listens on the port: exit 1, and say so."""
    with peers.refusing_port() as closed:
        lab.story.step(f"run the client against {closed}, where nothing listens")
        result = lab.run("client", "-p", str(closed.port))
    result.expect_status(1, "a runtime failure")
    expect("Connection refused" in result.stderr, "the client should say why it failed",
           expected="'Connection refused' on stderr", actual=show(result.stderr))


def test_client_command_line(lab):
    """--help exits 0; bad arguments exit 2 with the usage; a good -H ::1 works."""
    handler, _ = reply_with(b"Hello\n")
    with peers.PeerServer(handler, host="::1") as peer:
        lab.story.step("run the client against a Python server on ::1")
        result = lab.run("client", "-H", "::1", "-p", str(peer.address.port))
        peer.check()
        result.expect_status(0)
        result.expect_stdout_line(r"^connected from \[::1\]:\d+ to \[::1\]:\d+$",
                                  "IPv6 addresses in brackets")
    lab.expect_usage("client", [["-p", "0"], ["-p", "abc"], ["-n", "x" * 40], ["--bogus"]])


# -- together ------------------------------------------------------------------------------

@pytest.mark.memory
def test_client_and_server_agree_on_the_clients_port(lab):
    """The port the client prints as its own is the one the server logs and greets."""
    with lab.start_server() as server:
        lab.story.step("run the client against the server")
        result = lab.run("client", "-p", server.port, "-n", "Ada")
        result.expect_status(0)
        mine = result.expect_stdout_line(rf"^connected from {ADDR} to", "its local address")
        port = mine.group(2)
        logged = lab.expect_stdout(server.proc, rf"^connection from {ADDR}$",
                                   "'connection from HOST:PORT'")
        expect_equal(logged.group(2), port, "the port the client prints as its own should be "
                     "the one the server logs for it")
        result.expect_stdout_line(rf"^server says: Hello Ada, you are 127\.0\.0\.1:{port}$",
                                  "the greeting with its own address")


def test_server_ends_cleanly_on_ctrl_c(lab):
    """Ctrl-C (SIGINT) ends the server like SIGTERM does."""
    server = lab.start_server()
    with server:
        lab.story.step("send SIGINT, as Ctrl-C in a terminal does")
        server.proc.signal(signal.SIGINT)
        code = server.proc.wait(lab.deadline())
        server.proc.exit_seen = True
        expect_equal(code, 0, "the server should exit with status 0 on SIGINT")
