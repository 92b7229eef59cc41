"""Lab 07 - udp-reliable: timeouts with exponential backoff, request ids, and who may answer.

The server is tested with Python UDP peers and the client with Python UDP servers that lose
requests, answer late or let a stranger answer first, so that each program is judged on its
own; the last tests put the two together. The order follows the handout
(labs/07-udp-reliable/README.md).

Timing: the client's waits are set small with its own options (-w, -l), and every bound on
time is the behaviour itself (it must wait at least as long as it says; it must give up in
bounded time), stated generously. Under --valgrind, the waits are SLOW times longer.
"""
import re
import signal
import socket
import threading
import time

import pytest

from harness import (Address, CheckFailure, UdpPeer, UdpPeerServer, expect, expect_equal, show,
                     silent_port)

LAB = "07-udp-reliable"

ADDR = r"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):(\d+)"
ATTEMPT_RE = rf"^attempt (\d+): sent request (\d+) to {ADDR}, waiting (\d+\.\d+) s$"
REPLY_RE = rf"^reply to request (\d+) from {ADDR}: (.*)$"
IGNORED_RE = rf"^ignored a datagram from {ADDR} \(not the server\)$"
SLOW = 4  # under valgrind the client's waits are this many times longer


# -- helpers -------------------------------------------------------------------------------

def upper(data: bytes) -> bytes:
    return data.translate(bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz",
                                          b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def request_id(data: bytes) -> bytes:
    return data.partition(b" ")[0]


def answer(data: bytes, *_) -> bytes:
    """What the lab's server answers: the request in uppercase ("3 hello" -> "3 HELLO")."""
    return upper(data)


def timing(lab, first: float, limit: float) -> tuple[list[str], list[float]]:
    """The client's -w/-l options for these waits (longer under valgrind), and the waits it
    should then print, one per attempt: first, doubled each time, none past limit."""
    k = SLOW if lab.settings.valgrind else 1
    first, limit = first * k, limit * k
    waits, wait = [], first
    while wait <= limit + 1e-9:
        waits.append(wait)
        wait *= 2
    return ["-w", f"{first:g}", "-l", f"{limit:g}"], waits


def attempts(result) -> list[re.Match]:
    return list(re.finditer(ATTEMPT_RE, result.stdout, re.MULTILINE))


def expect_attempts(result, waits: list[float], what: str,
                    received: int | None = None) -> list[re.Match]:
    """The client printed one 'attempt N' line per expected wait, numbered 1, 2, ..., with
    request ids equal to the attempt numbers and the waits doubling from the first.
    received: how many requests reached the server, when the check knows: far fewer than the
    attempts printed says the request was not sent again."""
    found = attempts(result)
    if not found:
        raise CheckFailure(f"the client should print a line for each attempt ({what})",
                           expected="lines like 'attempt 1: sent request 1 to 127.0.0.1:9007, "
                                    "waiting 0.100 s'", actual=f"its stdout was {show(result.stdout)}")
    printed = [float(m.group(5)) for m in found]
    expect([int(m.group(1)) for m in found] == list(range(1, len(found) + 1)),
           "the attempts should be numbered 1, 2, 3, ...",
           actual=[m.group(0) for m in found])
    expect([m.group(2) for m in found] == [m.group(1) for m in found],
           "each attempt should send a request with its own id: the attempt's number",
           actual=[m.group(0) for m in found],
           hint="the id is what lets the client tell a late reply to an earlier attempt apart")
    doubling = all(abs(p - w) < 0.0015 for p, w in zip(printed, waits))
    # One short of the attempts is allowed: the last request may still be on its way.
    not_resent = received is not None and received < len(printed) - 1
    expect(len(printed) == len(waits) and doubling,
           f"the waits should start at the -w time and double with each attempt ({what})",
           expected=" ".join(f"{w:.3f}" for w in waits), actual=" ".join(f"{p:.3f}" for p in printed),
           hint=BACKOFF_HINT if not doubling or len(printed) < len(waits) else
           f"the client printed {len(printed)} attempts, but the server received "
           f"{received} request{'s' if received != 1 else ''}: ask (step 8) must send the request "
           "again at each attempt, with the new id; waiting longer does not bring back a lost "
           "request" if not_resent else
           "the waits double, but the attempt that should be answered was not: ask (step 8) "
           "sends the request again at each attempt, with the new id, and is_reply_to (step 6) "
           "takes the reply that comes from the server's address with that id (so the server, "
           "step 3, sendto()s it from the socket it bound)")
    return found


BACKOFF_HINT = ("ask (step 8): after an attempt without a reply, double the wait; give up when "
                "the doubled wait would be longer than -l")


class LossyServer(UdpPeerServer):
    """A Python server that answers like the lab's but stays silent for the first `drop`
    requests, and notes when each request arrived."""

    def __init__(self, drop: int = 0, host: str = "127.0.0.1"):
        self.drop = drop
        self.arrivals: list[float] = []
        super().__init__(self._handle, host)

    def _handle(self, data, sender, server):
        self.arrivals.append(time.monotonic())
        return None if len(self.requests) <= self.drop else answer(data)


class StrayFlood:
    """A stranger that sends "1 STRAY" to an address every `interval` seconds, from its own
    socket, until stopped. The pause between datagrams is the behaviour (a steady trickle of
    strays), not a synchronisation."""

    def __init__(self, interval: float):
        self.interval = interval
        self.peer = UdpPeer()
        self.sent = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self, target: Address) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(target,), daemon=True)
            self._thread.start()

    def _run(self, target: Address) -> None:
        while not self._stop.is_set():
            self.peer.send_to(target, b"1 STRAY")
            self.sent += 1
            self._stop.wait(self.interval)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.peer.close()


def closed_udp_port(host: str = "127.0.0.1") -> Address:
    """A UDP port where no socket is bound: the kernel answers datagrams sent there with an
    ICMP "port unreachable". (Taken from the OS and released at once: no fixed port.)"""
    address = Address(host, 0)
    with socket.socket(address.family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return Address(host, sock.getsockname()[1])


def ask_server(lab, peer: UdpPeer, server, data: bytes, what: str = ""):
    """Sends data to the lab's server and returns the first datagram that comes back, which
    must come from the server's own address."""
    peer.send_to(server.address, data)
    got = peer.recv(lab.deadline(3))
    if got is None:
        raise CheckFailure(f"the server should answer {what or show(data)} with one datagram",
                           expected=f"a datagram from {server.address}",
                           actual="nothing within 3 s", hint="recvfrom() says who sent the "
                           "request: sendto() the reply to that address")
    reply, sender = got
    expect_equal(str(sender), str(server.address), "the reply should come from the address "
                 "the server printed", hint="reply from the socket you bound, with sendto(): a "
                 "client that checks who answers ignores anything else")
    return reply


def wait_for_verdict(lab, server, rid: int) -> str:
    """Waits for the server's log line about request rid; returns 'dropped' or 'answered'."""
    match = lab.expect_stdout(server.proc, rf"^request {rid} from {ADDR}: (dropped|answered)$",
                              f"'request {rid} from HOST:PORT: dropped' or '...: answered'")
    return match.group(3)


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
            except OSError:
                taken = True
        expect(taken, f"the server should have bound UDP port {server.port}",
               hint="socket(SOCK_DGRAM), then bind() to the address getaddrinfo() gave")


@pytest.mark.memory
def test_server_answers_with_the_id(lab):
    """Step 2-3: "7 hello" is answered "7 HELLO", to the sender, and logged."""
    with lab.start_server() as server, UdpPeer() as peer:
        lab.story.step(f"send '7 hello' from a Python socket at {peer.address}")
        reply = ask_server(lab, peer, server, b"7 hello")
        expect_equal(reply, b"7 HELLO", "the reply should carry the request's id, then its "
                     "text in uppercase", hint="uppercase the whole datagram: digits and the "
                     "space stay as they are")
        lab.story.step("check the server's log")
        match = lab.expect_stdout(server.proc, rf"^request 7 from {ADDR}: answered$",
                                  "'request 7 from HOST:PORT: answered'")
        expect_equal(int(match.group(2)), peer.address.port, "the logged address should be the "
                     "sender's, from recvfrom()")
        lab.story.step("send an empty text and a long id: '4294967295 ' and '12 a b c'")
        expect_equal(ask_server(lab, peer, server, b"4294967295 "), b"4294967295 ",
                     "an empty text is a valid request")
        expect_equal(ask_server(lab, peer, server, b"12 a b c"), b"12 A B C",
                     "the text may hold spaces")


def test_server_answers_each_client(lab):
    """Step 2: replies go to whoever asked, request by request."""
    with lab.start_server() as server, UdpPeer() as a, UdpPeer() as b:
        for peer, data in [(a, b"1 from a"), (b, b"1 from b"), (a, b"2 again a")]:
            lab.story.step(f"send {show(data)} from {peer.address}")
            expect_equal(ask_server(lab, peer, server, data), upper(data),
                         f"the peer at {peer.address} should get the reply to its own request")


def test_server_ignores_malformed_datagrams(lab):
    """Step 3: a datagram without "ID " in front gets no reply, and the server goes on."""
    bad = [b"hello", b"", b"0 zero", b"x1 hi", b"12345678901 eleven digits", b"4294967296 big",
           b"5"]
    with lab.start_server() as server, UdpPeer() as peer:
        for data in bad:
            lab.story.step(f"send the malformed datagram {show(data)}")
            peer.send_to(server.address, data)
        lab.story.step("then send '9 fine': its reply should be the first datagram back")
        reply = ask_server(lab, peer, server, b"9 fine")
        expect_equal(reply, b"9 FINE", "a malformed datagram should get no reply at all",
                     hint="an id is 1 to 4294967295 in decimal, followed by a space")
        lab.story.step("check the server's log")
        # The reply can arrive before the log lines are read from the server's pipe: wait for
        # the line of request 9; the server handles datagrams in order, so the others are in.
        lab.expect_stdout(server.proc, r"^request 9 from ", "a log line for request 9")
        found = re.findall(rf"^ignored a malformed datagram from {ADDR}$", server.proc.stdout.text,
                           re.MULTILINE)
        expect_equal(len(found), len(bad), "the server should log each malformed datagram as "
                     "'ignored a malformed datagram from HOST:PORT'")


def test_server_drops_the_first_requests(lab):
    """Step 3: with -d 2 the first two requests are logged as dropped and get no reply."""
    with lab.start_server("-d", "2") as server, UdpPeer() as peer:
        for rid in (1, 2):
            lab.story.step(f"send request {rid} and wait for the server's log line about it")
            peer.send_to(server.address, b"%d lost" % rid)
            verdict = wait_for_verdict(lab, server, rid)
            expect_equal(verdict, "dropped", f"with -d 2, request {rid} should be dropped")
        lab.story.step("send request 3: it should be answered, and be the first reply")
        reply = ask_server(lab, peer, server, b"3 kept")
        expect_equal(reply, b"3 KEPT", "a dropped request should get no reply at all",
                     hint="a dropped request is one the network lost: log it, send nothing")
        expect_equal(wait_for_verdict(lab, server, 3), "answered",
                     "request 3 should be logged as answered")


def test_server_random_loss_is_seeded(lab):
    """Step 3: -r 50 drops about half the requests; the same -s seed drops the same ones."""
    patterns = []
    for run in (1, 2):
        with lab.start_server("-r", "50", "-s", "7") as server, UdpPeer() as peer:
            lab.story.step(f"server {run} (-r 50 -s 7): send requests 1 to 20, one at a time")
            pattern = ""
            for rid in range(1, 21):
                peer.send_to(server.address, b"%d x" % rid)
                pattern += "D" if wait_for_verdict(lab, server, rid) == "dropped" else "A"
            patterns.append(pattern)
    lab.story.step(f"compare: {patterns[0]} and {patterns[1]} (D: dropped, A: answered)")
    dropped = patterns[0].count("D")
    expect(3 <= dropped <= 17, "-r 50 should drop about half of 20 requests",
           expected="between 3 and 17 dropped", actual=f"{dropped} dropped: {patterns[0]}")
    expect_equal(patterns[1], patterns[0], "two servers with the same seed should drop the "
                 "same requests", hint="seed the generator with -s once, at the start")


def test_server_ends_cleanly_on_sigterm_and_sigint(lab):
    """SIGTERM and Ctrl-C end the server with status 0, 'stopped' printed last."""
    for signo in (signal.SIGTERM, signal.SIGINT):
        server = lab.start_server()
        with server:
            with UdpPeer() as peer:
                lab.story.step("one request, so the server is in its loop")
                ask_server(lab, peer, server, b"1 hi")
            lab.story.step(f"send {signo.name}")
            server.proc.signal(signo)
            code = server.proc.wait(lab.deadline())
            server.proc.exit_seen = True
            expect_equal(code, 0, f"the server should exit with status 0 on {signo.name}",
                         hint="wait for datagrams through wait_readable(), which returns "
                              "WAIT_STOPPED when SIGTERM or SIGINT arrives")
            lines = server.proc.stdout.lines()
            expect_equal(lines[-1] if lines else "", "stopped",
                         "the server's last line should be 'stopped'")


def test_server_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments print the usage and exit 2."""
    lab.story.step("start the server on IPv6 loopback")
    with lab.start_server(host="::1") as server, UdpPeer("::1") as peer:
        expect_equal(server.host, "::1", "the server should bind ::1 with -H ::1")
        expect_equal(ask_server(lab, peer, server, b"1 six"), b"1 SIX",
                     "the server should answer over IPv6")
    lab.expect_usage("server", [["--help"], ["-p", "abc"], ["-d", "x"], ["-r", "101"], ["-s", "-1"], ["-q"]])


# -- the client ----------------------------------------------------------------------------

@pytest.mark.memory
def test_client_sends_a_numbered_request(lab):
    """Step 4-5: request 1 is "1 TEXT"; the reply's text is printed."""
    args, _ = timing(lab, 1, 1)
    with UdpPeerServer(answer) as peer:
        lab.story.step(f"run: client -m 'hi there', against a Python server at {peer.address}")
        result = lab.run("client", "-p", str(peer.address.port), "-m", "hi there", *args)
        peer.check()
    result.expect_status(0)
    expect(len(peer.requests) >= 1, "the client should send a request", actual="none arrived")
    expect_equal(peer.requests[0][0], b"1 hi there", "the first request should be '1 ' and the "
                 "message", hint="the request id, a space, the text: snprintf(\"%u %s\")")
    match = result.expect_stdout_line(ATTEMPT_RE, "'attempt 1: sent request 1 to HOST:PORT, "
                                      "waiting S s'")
    expect_equal(f"{match.group(3)}:{match.group(4)}", str(peer.address),
                 "the attempt line should name the server's address")
    reply = result.expect_stdout_line(REPLY_RE, "'reply to request 1 from HOST:PORT: TEXT'")
    expect_equal(reply.group(4), "HI THERE", "the client should print the reply's text, "
                 "without its id")


def test_client_retries_with_growing_waits(lab):
    """Step 7-8: the first two requests are lost: attempt 3 succeeds, after 0.2 s and 0.4 s."""
    args, waits = timing(lab, 0.2, 3.2)
    with LossyServer(drop=2) as peer:
        lab.story.step("run the client against a Python server that ignores its first 2 "
                       f"requests: client {' '.join(args)}")
        result = lab.run("client", "-p", str(peer.address.port), *args, timeout=15)
        peer.check()
    found = expect_attempts(result, waits[:3], "here: 3 attempts, the third answered",
                            received=len(peer.requests))
    result.expect_status(0)
    reply = result.expect_stdout_line(REPLY_RE, "the reply to request 3")
    expect_equal(reply.group(1), "3", "the reply taken should be the one to request 3")
    lab.story.step("check the requests the Python server received, and when")
    ids = [request_id(data) for data, _ in peer.requests]
    expect_equal(ids, [b"1", b"2", b"3"], "the server should receive requests 1, 2 and 3, one "
                 "per attempt", hint="ask (step 8): send the request again at each attempt, with "
                 "the new id: waiting longer does not bring back a lost request")
    gaps = [b - a for a, b in zip(peer.arrivals, peer.arrivals[1:])]
    printed = [float(m.group(5)) for m in found]
    # Half the wait, not all of it: the Python server notes each arrival a little late, and
    # more so on a busy machine. A client that only prints its waits sends at once.
    expect(all(g >= w * 0.5 for g, w in zip(gaps, printed)),
           "the client should really wait as long as it says before it sends again",
           expected="gaps of about " + ", ".join(f"{w:.3f}" for w in printed[:2]) + " s",
           actual="gaps of " + ", ".join(f"{g:.3f}" for g in gaps) + " s",
           hint="await_reply (step 7): wait_readable() with the time left in this attempt's "
                "wait, not 0")


def test_client_prints_no_error_when_a_retry_is_answered(lab):
    """Step 8: the first request is lost and the second answered: a retry that works is the
    protocol doing its job, so the client exits 0 and writes nothing on stderr."""
    args, waits = timing(lab, 0.2, 3.2)  # as long as the retry check's: a busy machine too
    with LossyServer(drop=1) as peer:
        lab.story.step("run the client against a Python server that ignores its first "
                       f"request: client {' '.join(args)}")
        result = lab.run("client", "-p", str(peer.address.port), *args, timeout=15)
        peer.check()
    result.expect_status(0)
    expect_attempts(result, waits[:2], "here: 2 attempts, the second answered")
    result.expect_stdout_line(REPLY_RE, "the reply to request 2")
    lab.expect_no_errors(
        result.proc, "the second attempt was answered",
        hint="ask (step 8): an attempt without a reply is no error while another may follow: "
             "its 'attempt N' line on stdout says all there is. Only giving up goes to "
             "stderr ('no reply from SERVER after N attempts; giving up')")


def test_client_gives_up_when_no_server_answers(lab):
    """Step 8: nobody answers: 4 attempts (0.05, 0.1, 0.2, 0.4 s), then exit 1 in bounded time."""
    args, waits = timing(lab, 0.05, 0.4)
    total = sum(waits)
    with silent_port() as silent:
        lab.story.step(f"run: client {' '.join(args)}, against a UDP port where nobody answers")
        started = time.monotonic()
        result = lab.run("client", "-p", str(silent.port), *args, timeout=10,
                         hint=BACKOFF_HINT + ": without that, the attempts never end")
        elapsed = time.monotonic() - started
    expect_attempts(result, waits, "here: 4 attempts, then give up")
    result.expect_status(1, "no reply: giving up is a failure")
    expect("no reply" in result.stderr, "the client should say on stderr that it gave up",
           expected="'client: no reply from HOST:PORT after 4 attempts; giving up'",
           actual=show(result.stderr))
    bound = (3 * total + 2) * lab.settings.time_scale
    expect(total * 0.9 <= elapsed <= bound, "the client should give up once its waits are over",
           expected=f"between {total * 0.9:.2f} and {bound:.1f} s (the waits add up to "
                    f"{total:.2f} s)", actual=f"{elapsed:.2f} s")


def test_client_ignores_a_foreign_sender(lab):
    """Step 6: a stranger answers first, with the right id: reported, ignored."""
    args, _ = timing(lab, 1, 1)
    with UdpPeer() as stranger:
        def handler(data, sender, server):
            stranger.send_to(sender, request_id(data) + b" EVIL")  # first, from elsewhere
            return answer(data)

        with UdpPeerServer(handler) as peer:
            lab.story.step(f"run the client; on each request a stranger at {stranger.address} "
                           "sends it 'ID EVIL' just before the server's real reply")
            result = lab.run("client", "-p", str(peer.address.port), "-m", "hello", *args)
            peer.check()
    result.expect_status(0)
    reply = result.expect_stdout_line(REPLY_RE, "the server's reply")
    expect_equal(reply.group(4), "HELLO", "the client should take the reply from the server's "
                 "address, not the stranger's", hint="is_reply_to (step 6): on an unconnected "
                 "socket, keep a datagram only if same_address() says recvfrom()'s sender is the "
                 "server; ignore the others")
    ignored = result.expect_stdout_line(IGNORED_RE, "'ignored a datagram from HOST:PORT (not "
                                        "the server)' for the stranger's datagram")
    expect_equal(int(ignored.group(2)), stranger.address.port,
                 "the ignored datagram's sender should be the stranger")


CONNECT_HINT = ("open_socket (step 4): with -c, connect() the socket to the server, and "
                "send_request (step 5) then uses send()")


def test_client_connected_never_sees_a_foreign_sender(lab):
    """Step 4: with -c the socket is connected: the kernel drops the stranger's datagram."""
    args, _ = timing(lab, 1, 1)
    with UdpPeer() as stranger:
        def handler(data, sender, server):
            stranger.send_to(sender, request_id(data) + b" EVIL")
            return answer(data)

        with UdpPeerServer(handler) as peer:
            lab.story.step(f"run: client -c; a stranger at {stranger.address} sends 'ID EVIL' "
                           "before each real reply")
            result = lab.run("client", "-c", "-p", str(peer.address.port), "-m", "hello", *args)
            peer.check()
    expect(result.returncode == 0, "the client should exit with status 0",
           expected="exit status 0", actual=result.proc.status(), hint=CONNECT_HINT)
    reply = result.expect_stdout_line(REPLY_RE, "the server's reply")
    expect_equal(reply.group(4), "HELLO", "a connected client should only ever receive the "
                 "server's datagrams", hint=CONNECT_HINT)
    expect(re.search(IGNORED_RE, result.stdout, re.MULTILINE) is None,
           "a connected socket should never even see the stranger's datagram",
           expected="no 'ignored a datagram' line", actual=show(result.stdout),
           hint=CONNECT_HINT + ": then the kernel drops datagrams from anyone but the "
                "server")


def test_client_connected_reports_connection_refused(lab):
    """Step 4, 7: -c to a port where nothing is bound: 'Connection refused' at once, exit 1."""
    args, _ = timing(lab, 2, 2)
    closed = closed_udp_port()
    lab.story.step(f"run: client -c {' '.join(args)}, against {closed}, where no socket is bound")
    result = lab.run("client", "-c", "-p", str(closed.port), *args)
    expect("Connection refused" in result.stderr, "a connected client should learn that the "
           "port is closed (the kernel's ICMP 'port unreachable')", expected="'Connection "
           "refused' on stderr", actual=show(result.stderr), hint="open_socket (step 4): with -c, "
           "connect() the socket; then recvfrom() (or send()) fails with ECONNREFUSED when "
           "nothing is bound to the port: await_reply (step 7) reports it with die_errno")
    result.expect_status(1, "a runtime failure")
    expect(len(attempts(result)) == 1, "the client should stop at the first attempt",
           actual=[m.group(0) for m in attempts(result)])


def test_client_ignores_a_stale_reply(lab):
    """Step 6: the reply to request 1 arrives late, during attempt 2: recognised by its id."""
    args, _ = timing(lab, 0.5, 4)

    def handler(data, sender, server):
        if request_id(data) == b"1":
            return None  # no reply yet: it comes late, just before the reply to request 2
        server.peer.send_to(sender, b"1 LATE")
        return answer(data)

    with UdpPeerServer(handler) as peer:
        lab.story.step("run the client against a Python server that answers request 1 only "
                       "when request 2 comes, with '1 LATE', then '2 HELLO'")
        result = lab.run("client", "-p", str(peer.address.port), "-m", "hello", *args)
        peer.check()
    result.expect_status(0)
    reply = result.expect_stdout_line(REPLY_RE, "the reply to request 2")
    expect_equal((reply.group(1), reply.group(4)), ("2", "HELLO"), "the client should take "
                 "the reply to its latest request, not the late one to request 1",
                 hint="is_reply_to (step 6): compare the reply's id (parse_id) with the id of "
                      "the request just sent, and ignore a stale one")
    result.expect_stdout_line(r"^ignored a stale reply to request 1$",
                              "'ignored a stale reply to request 1'")


TIME_LEFT_HINT = ("wait until a fixed moment (moment_after), and poll for the time *left* until "
                  "it: a stray that restarts the full wait keeps the client waiting forever")


def test_client_strays_do_not_restart_the_wait(lab):
    """Step 7: a stranger sends every 0.02 s: the client still gives up on time."""
    args, waits = timing(lab, 0.1, 0.4)
    total = sum(waits)
    bound = (3 * total + 2) * lab.settings.time_scale
    flood = StrayFlood(0.02)
    try:
        def handler(data, sender, server):
            flood.start(sender)  # learn the client's address, then keep sending it strays
            return None

        with UdpPeerServer(handler) as peer:
            lab.story.step("run the client against a silent Python server, while a stranger "
                           "sends it a datagram every 0.02 s")
            started = time.monotonic()
            result = lab.run("client", "-p", str(peer.address.port), *args,
                             timeout=bound / lab.settings.time_scale + 1, hint=TIME_LEFT_HINT)
            elapsed = time.monotonic() - started
            peer.check()
    finally:
        flood.close()
    expect(re.search(IGNORED_RE, result.stdout, re.MULTILINE) is not None,
           "the client should report the stranger's datagrams", actual=show(result.stdout))
    expect_attempts(result, waits, "strays change nothing: 3 attempts, then give up")
    result.expect_status(1, "no reply: giving up")
    expect(elapsed <= bound, "the client should give up once its waits are over, strays or not",
           expected=f"at most {bound:.1f} s (the waits add up to {total:.2f} s)",
           actual=f"{elapsed:.2f} s", hint=TIME_LEFT_HINT)


def test_client_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments exit 2 with the usage."""
    args, _ = timing(lab, 1, 1)
    with UdpPeerServer(answer, host="::1") as peer:
        lab.story.step("run the client against a Python server on ::1")
        result = lab.run("client", "-H", "::1", "-p", str(peer.address.port), *args)
        peer.check()
    result.expect_status(0)
    result.expect_stdout_line(r"^reply to request 1 from \[::1\]:\d+: HELLO$",
                              "the reply, with the IPv6 address in brackets")
    result = lab.run("client", "--help")
    result.expect_status(0)
    for bad in [["-p", "0"], ["-w", "0"], ["-w", "abc"], ["-l", "-1"], ["-m", "x" * 1025],
                ["--bogus"]]:
        shown = " ".join(a if len(a) < 20 else f"'{a[:3]}...' ({len(a)} bytes)" for a in bad)
        lab.story.step(f"run: client {shown}")
        result = lab.run("client", *bad)
        result.expect_status(2, "bad arguments")
        expect("usage:" in result.stderr, "bad arguments should print the usage on stderr",
               actual=show(result.stderr))


# -- together ------------------------------------------------------------------------------

def test_client_and_server_with_the_first_two_requests_dropped(lab):
    """The server drops 2 requests; the client succeeds at attempt 3; both logs agree."""
    args, waits = timing(lab, 0.2, 3.2)
    with lab.start_server("-d", "2") as server:
        lab.story.step(f"run: client {' '.join(args)} against: server -d 2")
        result = lab.run("client", "-p", server.port, "-m", "third time lucky", *args,
                         timeout=15)
        logged = re.findall(rf"^request \d+ from {ADDR}: (?:dropped|answered)$",
                            server.proc.stdout.text, re.MULTILINE)
        expect_attempts(result, waits[:3], "3 attempts, the third answered", received=len(logged))
        result.expect_status(0)
        reply = result.expect_stdout_line(REPLY_RE, "the reply to request 3")
        expect_equal((reply.group(1), reply.group(4)), ("3", "THIRD TIME LUCKY"),
                     "the client should print the server's reply to request 3")
        lab.story.step("check the server's log")
        verdicts = [wait_for_verdict(lab, server, rid) for rid in (1, 2, 3)]
        expect_equal(verdicts, ["dropped", "dropped", "answered"],
                     "the server should log requests 1 and 2 as dropped, 3 as answered")
