"""Lab 05 - tcp-threaded: a thread per connection.

The server is tested with Python clients (many at once), the client with a Python server,
then the two together. The order follows the handout (labs/05-tcp-threaded/README.md).

The checks that matter most for threads are statistical nets or measurements from outside:
50 clients talking at once, each checking only its own replies (a buffer shared between
threads mixes them up); a silent client beside busy ones (a server without threads serves
one at a time); and the server's threads, memory (VmSize) and descriptors after 500
connections (a thread neither detached nor joined keeps its 8 MiB stack: the thread count
does not show it, VmSize does).
"""
from __future__ import annotations

import random
import re
import select
import signal
import socket
from pathlib import Path

import pytest

from harness import (PAST_THE_LAST_PORT, CheckFailure, Deadline, expect, expect_equal, peers,
                     poll_until, show)

LAB = "05-tcp-threaded"

ADDR = r"(?:\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):\d+"
WELCOME = "Welcome! You are {}. Send a name per line, exit to leave.\n"
BAD_NAME = b"error: a name is 1 to 32 printable characters\n"
SHARED_STATE_HINT = ("each thread needs a context of its own: malloc one per connection and "
                     "pass that to pthread_create (never &connfd of the accept loop), and keep "
                     "buffers on the thread's stack or in its context (never static)")
ONE_THREAD_HINT = ("start_client_thread (step 1): one thread per connection, so that the main "
                   "thread only accepts and goes back to accept at once: a server that talks "
                   "to one client at a time keeps every other waiting")
ADDRESS_COPY_HINT = ("the welcome names another client's address: the thread read it from a "
                     "buffer of the accept loop, which the next accept() overwrites; copy the "
                     "address into the thread's own context (malloc one per connection) before "
                     "pthread_create")
FD_SHARED_HINT = ("two threads served one connection, so another had none: give each thread "
                  "its own copy of the descriptor in a context of its own (malloc one per "
                  "connection), never &fd of the accept loop, which the next accept() "
                  "overwrites")
SURVIVE_HINT = ("a client that resets or vanishes must never stop the server: a failed send or "
                "recv ends only its own conversation (converse, step 2, returns; never die(), "
                "whose exit() ends every thread), and send() needs MSG_NOSIGNAL")


# -- a Python client of the server ---------------------------------------------------------

class Client:
    """One connection to the server, read line by line."""

    def __init__(self, lab, server, label: str = "the client",
                 sock: socket.socket | None = None):
        self.lab = lab
        self.server = server
        self.label = label
        self.sock = sock or peers.connect(server.address, lab.deadline())
        self.me = peers.local_address(self.sock)
        self.pending = b""

    def send(self, data: bytes) -> None:
        peers.send_all(self.sock, data, self.lab.deadline())

    def read_line(self, what: str, deadline: Deadline | None = None,
                  hint: str | None = None) -> bytes:
        """The next line from the server, newline included; CheckFailure if none comes (with
        hint, or SURVIVE_HINT if the server has ended)."""
        deadline = deadline or self.lab.deadline()
        while b"\n" not in self.pending:
            got = peers.recv_until(self.sock, b"\n", deadline)
            self.pending += got.data
            if got.ended != peers.Ended.MARKER:
                ending = {peers.Ended.TIMEOUT: f"nothing more came within {deadline.seconds:g} s",
                          peers.Ended.EOF: "the server closed the connection",
                          peers.Ended.RESET: "the server reset the connection"}.get(got.ended, got.ended)
                running = self.lab.settle(self.server.proc)
                if running and "Bad file descriptor" in self.server.proc.stderr.text:
                    # a descriptor closed twice: the evidence of one shared by two threads
                    hint = "the server's stderr says 'Bad file descriptor': " + FD_SHARED_HINT
                raise CheckFailure(f"{self.label} should get {what}",
                                   actual=f"it received {show(self.pending)}, then {ending}",
                                   hint=hint if running else SURVIVE_HINT)
        line, _, self.pending = self.pending.partition(b"\n")
        return line + b"\n"

    def expect_line(self, expected: bytes, what: str, hint: str | None = None,
                    deadline: Deadline | None = None) -> None:
        line = self.read_line(what, deadline, hint)
        expect_equal(line, expected, f"{self.label} should get {what}", hint=hint)

    def expect_welcome(self, deadline: Deadline | None = None, hint: str | None = None) -> None:
        """hint: what a server whose welcome does not come most likely got wrong."""
        hint = hint or "converse (step 2) sends the welcome first, as soon as the " \
                       "connection's thread starts"
        line = self.read_line("the welcome line with its own address", deadline, hint)
        pattern = re.escape(WELCOME).replace(re.escape("{}"), f"({ADDR})")
        other = re.fullmatch(pattern, line.decode(errors="replace"))
        if other and other.group(1) != str(self.me):
            hint = ADDRESS_COPY_HINT  # the welcome came, with another address in it
        expect_equal(line, WELCOME.format(self.me).encode(),
                     f"{self.label} should get the welcome line with its own address", hint=hint)

    def expect_closed(self, why: str) -> None:
        rest = peers.recv_until_closed(self.sock, self.lab.deadline())
        expect(rest.ended == peers.Ended.EOF and not (self.pending + rest.data),
               f"the server should close the connection {why}",
               expected="the end of the stream (recv returns 0) and nothing more",
               actual=f"{show(self.pending + rest.data)}, then the connection ended by "
                      f"{rest.ended}", hint="finish_client (step 3): close() the "
                                            "connection's socket once the conversation is over")

    def close(self) -> None:
        self.sock.close()


def welcomed_twice(clients: list[Client]) -> CheckFailure | None:
    """When a client got no welcome: did another get two? Each client's received bytes are
    looked at without taking them (MSG_PEEK). Two welcomes on one connection mean two threads
    serve it. Returns the failure that says so, or None."""
    for i, client in enumerate(clients):
        waiting = b""
        try:  # only a socket with bytes waiting: a recv() would wait for the socket's timeout
            if select.select([client.sock], [], [], 0)[0]:
                waiting = client.sock.recv(1 << 16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:
            pass
        count = (client.pending + waiting).count(b"Welcome! You are ")
        if count >= 2:
            return CheckFailure("each client should get one welcome, and every client one",
                                actual=f"client {i} received {count} welcome lines on its "
                                       "connection", hint=FD_SHARED_HINT)
    return None


def expect_welcomes(clients: list[Client], hint: str | None = None) -> None:
    """Each client's welcome, in order; a missing one explained by a doubled one if any."""
    for client in clients:
        try:
            client.expect_welcome(hint=hint)
        except CheckFailure as failure:
            doubled = welcomed_twice(clients) if not client.pending else None
            if doubled is None:
                raise
            raise CheckFailure(failure.what, expected=failure.expected,
                               actual=f"{failure.actual}; {doubled.actual}",
                               hint=doubled.hint) from None


def hello(name: str) -> bytes:
    return f"Hello, {name}!\n".encode()


def talk_in_rounds(lab, server, count: int, rounds: int, tag: str,
                   per_write: int = 1) -> list[tuple[Client, str]]:
    """Connects `count` clients at once; then all say exit. In each round between, every
    client (in a shuffled order) sends `per_write` names of its own in one write, the last
    of them cut in the middle; once all have the replies to their whole names, every client
    sends the rest of its last name. So all the conversations run at the same time, and
    every client thread holds half a line while the others receive theirs (a buffer shared
    between threads mixes them up). Each client checks only its own replies.
    Returns (client, name) for every name sent."""
    lab.story.step(f"connect {count} clients at once and read each one's welcome")
    clients = [Client(lab, server, f"client {i}") for i in range(count)]
    for client in clients:  # each write leaves at once, as its own segment
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent: list[tuple[Client, str]] = []
    owner: dict[str, int] = {}

    def expect_replies(i: int, names: list[str]) -> None:
        for name in names:
            line = clients[i].read_line(f"the reply to its own name {name!r}")
            if line == hello(name):
                continue
            other = re.fullmatch(rb"Hello, (.*)!\n", line)
            whose = owner.get(other.group(1).decode(errors="replace")) if other else None
            raise CheckFailure(
                f"client {i} should get the reply to its own name, and only that",
                expected=show(hello(name)), actual=show(line) + (
                    f": a name client {whose} sent" if whose is not None else ""),
                hint=SHARED_STATE_HINT)

    try:
        expect_welcomes(clients, hint=ONE_THREAD_HINT)
        for r in range(rounds):
            lab.story.step(f"round {r + 1} of {rounds}: each of the {count} clients sends "
                           f"{per_write} name(s) of its own in one write, the last one only "
                           "up to its middle, and reads the replies to the whole ones")
            names: dict[int, list[str]] = {}
            rests: dict[int, bytes] = {}
            order = list(range(count))
            random.shuffle(order)
            for i in order:
                names[i] = [f"{tag}{i}-{r}.{k}-{random.randrange(10**6):06d}"
                            for k in range(per_write)]
                owner.update((name, i) for name in names[i])
                sent += [(clients[i], name) for name in names[i]]
                data = b"".join(name.encode() + b"\n" for name in names[i])
                cut = len(data) - len(names[i][-1]) // 2 - 1
                clients[i].send(data[:cut])
                rests[i] = data[cut:]
            random.shuffle(order)
            for i in order:
                expect_replies(i, names[i][:-1])
            lab.story.step(f"round {r + 1} of {rounds}: each client sends the rest of its last "
                           "name and reads the reply")
            random.shuffle(order)
            for i in order:
                clients[i].send(rests[i])
            random.shuffle(order)
            for i in order:
                expect_replies(i, names[i][-1:])
        lab.story.step(f"each of the {count} clients sends 'exit'")
        for client in clients:
            client.send(b"exit\n")
        for client in clients:
            client.expect_line(b"Bye!\n", "'Bye!' after 'exit'")
            client.expect_closed("after 'Bye!'")
    finally:
        for client in clients:
            client.close()
    return sent


def process_limits(proc) -> dict[str, int | None]:
    """The soft limits the program runs under, from /proc/PID/limits: "processes" and
    "address space" (bytes); None where unlimited or unreadable."""
    try:
        text = Path(f"/proc/{proc.pid}/limits").read_text()
    except OSError:
        return {}
    found = {}
    for name in ("processes", "address space"):
        match = re.search(rf"^Max {name}\s+(\S+)", text, re.MULTILINE)
        found[name] = int(match.group(1)) if match and match.group(1).isdigit() else None
    return found


THREAD_STACK_KB = 8 * 1024  # glibc's default thread stack (RLIMIT_STACK, 8 MiB)
DETACH_HINT = ("threads never detached or joined: start_client_thread (step 1): "
               "pthread_detach() each client thread, or no one frees its stack (8 MiB) when it "
               "ends")


def stacks_kept(lab, proc, failure: CheckFailure, vm0: int, threads0: int,
                measured: tuple[int, int] | None, limits: dict) -> CheckFailure | None:
    """A client got no conversation: is it because the server's address space is full of the
    stacks of threads that ended, so that pthread_create() failed? Only if the evidence says
    so: the server's stderr reports EAGAIN ("Resource temporarily unavailable"), and its
    VmSize (now, or after the last batch if it has ended) holds far more stacks than it has
    threads. Returns the failure that says so, or None."""
    refused = [line for line in proc.stderr.lines()
               if "Resource temporarily unavailable" in line or "EAGAIN" in line]
    vm, threads = status_field(proc, "VmSize"), status_field(proc, "Threads")
    if vm is None or threads is None:
        vm, threads = measured or (None, None)
    if not refused or vm is None or threads is None:
        return None
    kept = (vm - vm0) // THREAD_STACK_KB - max(threads - threads0, 0)
    if kept < 8:  # a few stacks' worth is glibc's cache, not a leak
        return None
    nproc, space = limits.get("processes"), limits.get("address space")
    who = "grading allows" if lab.settings.limits else "this system allows"
    allowed = " and ".join(part for part in (
        f"{nproc} processes (threads count)" if nproc else "",
        f"{space >> 20} MiB of address space" if space else "") if part)
    return CheckFailure(
        failure.what, expected=failure.expected,
        actual=f"{failure.actual}; the server's stderr says {show(refused[-1])} "
               f"({len(refused)} time(s)); its VmSize is {vm} kB, {vm - vm0} kB above the "
               f"warm-up's with {threads} thread(s) running: the stacks of about {kept} "
               "threads that have ended",
        hint=f"threads never detached or joined: {who} {allowed or 'only so much'}, and "
             "every ended thread that no one detached or joined keeps its stack (8 MiB), so "
             "pthread_create() fails with EAGAIN once they fill it: start_client_thread "
             "(step 1): pthread_detach() each client thread")


def status_field(proc, field: str) -> int | None:
    """A number from /proc/PID/status (Threads, or VmSize in kB); None if the process is gone."""
    try:
        text = Path(f"/proc/{proc.pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


# -- the server ----------------------------------------------------------------------------

def test_server_welcomes_and_greets_every_line(lab):
    """Step 1-2: a welcome, then 'Hello, NAME!' for every line, then 'exit' closes."""
    with lab.start_server() as server:
        lab.story.step("connect and read the welcome line")
        client = Client(lab, server)
        with client.sock:
            client.expect_welcome()
            lab.expect_stdout(server.proc, rf"^connection from {re.escape(str(client.me))}$",
                              f"'connection from {client.me}'")
            lab.story.step("send 'Ada\\n'")
            client.send(b"Ada\n")
            client.expect_line(hello("Ada"), "'Hello, Ada!'")
            lab.story.step("send 'Grace\\nEdsger\\n' in one write")
            client.send(b"Grace\nEdsger\n")
            client.expect_line(hello("Grace"), "'Hello, Grace!' for the first line")
            client.expect_line(hello("Edsger"), "'Hello, Edsger!' for the second line",
                               hint="one recv() may bring several lines: keep what follows "
                                    "the first newline for the next line")
            lab.story.step("send 'Linus\\n' one byte per write")
            peers.send_in_pieces(client.sock, b"Linus\n", 1, 0.01, lab.deadline())
            client.expect_line(hello("Linus"), "'Hello, Linus!'",
                               hint="a line may arrive in pieces: read until the newline")
            lab.story.step("send 'exit\\n'")
            client.send(b"exit\n")
            client.expect_line(b"Bye!\n", "'Bye!'")
            client.expect_closed("after 'exit'")
        lab.story.step("check the server's log")
        lab.expect_stdout(server.proc, rf"^greeted Ada at {re.escape(str(client.me))}$",
                          f"'greeted Ada at {client.me}'")
        lab.expect_stdout(server.proc, rf"^connection from {re.escape(str(client.me))} closed$",
                          f"'connection from {client.me} closed' once the client has left")


def test_server_prints_no_error_after_clients_that_leave_normally(lab):
    """A client that says 'exit' and one that closes its side after a name both leave
    normally: the server writes nothing on stderr, where only errors go."""
    with lab.start_server() as server:
        for label, leave in (("the first client", "says 'exit'"),
                             ("the second client", "closes (an orderly close: FIN)")):
            lab.story.step(f"{label} sends 'Ada', reads its reply, then {leave}")
            client = Client(lab, server, label)
            with client.sock:
                client.expect_welcome()
                client.send(b"Ada\n")
                client.expect_line(hello("Ada"), "'Hello, Ada!'")
                if "exit" in leave:
                    client.send(b"exit\n")
                    client.expect_line(b"Bye!\n", "'Bye!'")
                    client.expect_closed("after 'exit'")
            lab.expect_stdout(server.proc, rf"^connection from {re.escape(str(client.me))} "
                              "closed$", f"'connection from {client.me} closed' once "
                              f"{label} has left")
        lab.stop_and_expect_no_errors(
            server, "one client said 'exit', the other closed its side",
            hint="converse (step 2): recv_line returning -1 with errno 0 means the client "
                 "left (recv() returned 0): a normal end, so return without a word on stderr. "
                 "warn_errno() only when errno is not 0 (perror() with errno 0 prints "
                 "'Success')")


def test_server_rejects_bad_names_and_goes_on(lab):
    """Step 2: a bad name, or a line too long, gets an error line; the conversation goes on."""
    with lab.start_server() as server:
        lab.story.step("connect and read the welcome line")
        client = Client(lab, server)
        with client.sock:
            client.expect_welcome()
            for bad in [b"", b"x" * 33, b"tab\there"]:
                lab.story.step(f"send the bad name {show(bad)}")
                client.send(bad + b"\n")
                client.expect_line(BAD_NAME, "an error line", hint="names are 1 to 32 "
                                   "printable characters (valid_name())")
            lab.story.step("send 'Ada\\r\\n' (as telnet does)")
            client.send(b"Ada\r\n")
            client.expect_line(hello("Ada"), "'Hello, Ada!' (without the '\\r')")
            lab.story.step("send a line of 1000 bytes, longer than the server's line buffer, "
                           "then 'Grace'")
            client.send(b"y" * 1000 + b"\nGrace\n")
            client.expect_line(BAD_NAME, "one error line for the line too long",
                               hint="the given recv_line() reads such a line to its end and "
                                    "fails with EMSGSIZE")
            client.expect_line(hello("Grace"), "'Hello, Grace!' for the line after it")


LONGEST_LINE = 255  # the handout's longest line, in bytes before the newline


def test_server_reads_lines_split_around_the_limit(lab):
    """Lines of 255, 256 and 257 bytes (the last of them 'Z', a good name on its own), each cut
    into writes at its last positions and before its newline, each piece read by the server
    before the next is sent: every one gets exactly one error line, however it is split."""
    with lab.start_server() as server:
        lab.story.step("connect and read the welcome line")
        client = Client(lab, server)
        with client.sock:
            client.expect_welcome()
            for size in (LONGEST_LINE, LONGEST_LINE + 1, LONGEST_LINE + 2):
                data = b"y" * (size - 1) + b"Z\n"
                for cuts in ([size], [size - 1], [size - 2], [size - 1, size]):
                    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
                    how = " + ".join(f"{len(p)} byte{'s' * (len(p) != 1)}" for p in pieces)
                    arrived = (f"the {size}-byte line (its newline included: {size + 1} "
                               f"bytes) arrived in {len(pieces)} segments: {how}")
                    lab.story.step(f"send a {size}-byte line ending in 'Z' in {len(pieces)} "
                                   f"writes, each read by the server before the next: {how}")
                    if not peers.send_split(client.sock, pieces, lab.deadline()):
                        raise CheckFailure("the server should read each piece of a line as "
                                           f"it comes ({arrived})", actual="the first pieces "
                                           "were not read in time", hint=SURVIVE_HINT
                                           if not lab.settle(server.proc) else None)
                    client.expect_line(BAD_NAME, f"one error line for it ({arrived})",
                                       hint="recv_line (given): a line longer than the buffer "
                                            "is dropped to its very end: once the buffer is "
                                            "full without a newline, skip every byte up to "
                                            "the newline, wherever the segments end; the "
                                            "bytes after the first bufferful ('Z') are not a "
                                            "name of their own")
            lab.story.step("send 'Ada'")
            client.send(b"Ada\n")
            client.expect_line(hello("Ada"), "'Hello, Ada!': one answer per line, nothing more",
                               hint="each line, however long and however split, gets one "
                                    "answer: the error line for a long line, and no other")


def test_server_an_idle_client_blocks_nobody(lab):
    """Step 1: while one client stays silent, others are served at once."""
    with lab.start_server() as server:
        lab.story.step("connect a client that says nothing, and wait until the server logs it")
        idle = Client(lab, server, "the silent client")
        with idle.sock:
            lab.expect_stdout(server.proc, rf"^connection from {re.escape(str(idle.me))}$",
                              f"'connection from {idle.me}'")
            for i in range(1, 4):
                lab.story.step(f"while it stays connected, client {i} talks to the server")
                other = Client(lab, server, f"client {i}")
                with other.sock:
                    other.expect_welcome(hint=ONE_THREAD_HINT)
                    other.send(b"Ada\nexit\n")
                    other.expect_line(hello("Ada"), "'Hello, Ada!' while another client is "
                                      "connected", hint=ONE_THREAD_HINT)
                    other.expect_line(b"Bye!\n", "'Bye!'")
            lab.story.step("the silent client speaks at last")
            idle.expect_welcome()
            idle.send(b"Grace\n")
            idle.expect_line(hello("Grace"), "'Hello, Grace!'")


def test_server_50_clients_at_once_get_only_their_own_replies(lab):
    """Steps 1-2: 50 clients interleave their lines; each gets only its own replies."""
    count = 20 if lab.settings.valgrind else 50
    with lab.start_server() as server:
        talk_in_rounds(lab, server, count, rounds=2 if lab.settings.valgrind else 3, tag="c",
                       per_write=5)


def connect_at_once(lab, server, count: int) -> list[socket.socket]:
    """count connections started in the same instant: every connect() is on its way before
    the first one completes, so the server's accept loop takes them back to back, faster
    than it can start their threads."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(server.address.family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setblocking(False)
            sock.connect_ex((server.address.host, server.address.port))
        deadline = lab.deadline()
        waiting = list(socks)
        while waiting and not deadline.expired:
            _, done, _ = select.select([], waiting, [], deadline.remaining())
            waiting = [sock for sock in waiting if sock not in done]
        failed = [sock for sock in socks
                  if sock in waiting or sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)]
        expect(not failed, f"the server should accept {count} connections that arrive at once",
               actual=f"{len(failed)} of them did not connect")
        for sock in socks:
            sock.setblocking(True)
        return socks
    except BaseException:
        for sock in socks:
            sock.close()
        raise


def test_server_clients_arriving_at_once_keep_their_own_addresses(lab):
    """Steps 1-2: clients that connect in the same instant and send their names at once are
    each welcomed with their own address, and each name is logged with the address of the
    client that sent it: a thread reads nothing that the accept loop reuses."""
    count = 20 if lab.settings.valgrind else 40
    with lab.start_server() as server:
        lab.story.step(f"start {count} connections in the same instant")
        clients = [Client(lab, server, f"client {i}", sock=sock)
                   for i, sock in enumerate(connect_at_once(lab, server, count))]
        try:
            lab.story.step(f"each of the {count} clients sends a name of its own at once, "
                           "before reading anything")
            names = [f"at-once{i}-{random.randrange(10**6):06d}" for i in range(count)]
            for client, name in zip(clients, names):
                client.send(name.encode() + b"\n")
            lab.story.step("each client reads its welcome and the reply to its name")
            expect_welcomes(clients)
            for client, name in zip(clients, names):
                client.expect_line(hello(name), f"the reply to its own name {name!r}",
                                   hint=SHARED_STATE_HINT)
            lab.story.step(f"wait for the server to log all {count} names")
            greeted = re.compile(rf"^greeted at-once\d+-\d+ at {ADDR}$", re.MULTILINE)
            server.proc.stdout.wait_for(
                lambda data: len(greeted.findall(data.decode(errors="replace"))) >= count or None,
                lab.deadline())
            logged = set(server.proc.stdout.lines())
            for client, name in zip(clients, names):
                mine = f"greeted {name} at {client.me}"
                if mine not in logged:
                    other = [line for line in logged if line.startswith(f"greeted {name} at ")]
                    raise CheckFailure(
                        "the server should log each name with the address of the client that "
                        "sent it", expected=f"'{mine}'",
                        actual=show(other[0]) if other else "no line for that name",
                        hint=SHARED_STATE_HINT + "; copy the address into the thread's context")
        finally:
            for client in clients:
                client.sock.close()


def test_server_log_lines_stay_whole(lab):
    """Lines that threads print at the same time never mix within a line."""
    count = 10 if lab.settings.valgrind else 20
    with lab.start_server() as server:
        sent = talk_in_rounds(lab, server, count, rounds=2, tag="log", per_write=5)
        lab.story.step(f"wait for the server to log the end of all {count} connections")
        closed = re.compile(rf"^connection from {ADDR} closed$", re.MULTILINE)
        server.proc.stdout.wait_for(lambda data: len(closed.findall(data.decode(errors="replace")))
                                    >= count or None, lab.deadline())
        lab.story.step("check every line of the server's log")
        forms = [rf"listening on {ADDR}", rf"connection from {ADDR}", r"greeted .+ at " + ADDR,
                 rf"rejected a bad name from {ADDR}", rf"connection from {ADDR} closed"]
        lines = server.proc.stdout.lines()
        for line in lines:
            expect(any(re.fullmatch(form, line) for form in forms),
                   "every line the server prints should be one of the handout's lines, whole",
                   actual=show(line), hint="print each line with one printf (stdout is locked "
                   "for the whole call), never a line in several pieces")
        logged = set(lines)
        for client, name in sent:
            expect(f"greeted {name} at {client.me}" in logged,
                   "the server should log each name with the address of the client that sent it",
                   expected=f"'greeted {name} at {client.me}'", actual="no such line",
                   hint=SHARED_STATE_HINT)


def one_conversation(lab, server) -> None:
    client = Client(lab, server, "a single client")
    with client.sock:
        client.expect_welcome()
        client.send(b"Ada\nexit\n")
        client.expect_line(hello("Ada"), "'Hello, Ada!'")
        client.expect_line(b"Bye!\n", "'Bye!'")
        client.expect_closed("after 'exit'")


def test_server_threads_memory_and_fds_return_to_baseline(lab):
    """After 500 connections: threads, VmSize and descriptors back where they started."""
    total, batch = (40, 10) if lab.settings.valgrind else (500, 25)
    # VmSize counts address space. Two things in glibc grow it for correct servers too, and
    # are kept out of the measure: a thread's first malloc/free may give it an arena of its
    # own (64 MiB of address space; MALLOC_ARENA_MAX=1 keeps one arena for all), and the
    # stacks of ended threads are kept for reuse (up to 40 MiB, trimmed when a thread ends:
    # hence one lone conversation before each measure). What is left is what this test is
    # about: the stack (8 MiB) of every thread that was neither detached nor joined.
    with lab.start_server(env={"MALLOC_ARENA_MAX": "1"}) as server:
        proc = server.proc
        limits = process_limits(proc)
        threads0, fds0 = status_field(proc, "Threads"), proc.open_fds()

        def settled():
            return (status_field(proc, "Threads") or 0) <= threads0 and proc.open_fds() <= fds0

        lab.story.step(f"warm up: {batch} clients at once (the server has {threads0} thread(s) "
                       f"and {fds0} descriptors)")
        talk_in_rounds(lab, server, batch, rounds=1, tag="w")
        poll_until(settled, lab.deadline())
        lab.story.step("one more client alone")
        one_conversation(lab, server)
        poll_until(settled, lab.deadline())
        vm0 = status_field(proc, "VmSize")

        lab.story.step(f"{total} connections, {batch} at a time (VmSize {vm0} kB after the "
                       "warm-up)")
        measured = None  # (VmSize, Threads) after the last batch: evidence if a later one fails
        try:
            for _ in range(total // batch):
                talk_in_rounds(lab, server, batch, rounds=1, tag="b")
                vm, threads = status_field(proc, "VmSize"), status_field(proc, "Threads")
                measured = (vm, threads) if vm is not None and threads is not None else measured
            poll_until(settled, lab.deadline())
            lab.story.step("one more client alone")
            one_conversation(lab, server)
        except CheckFailure as failure:
            raise stacks_kept(lab, proc, failure, vm0, threads0, measured, limits) or failure

        lab.story.step("wait for the server's threads to end, then compare")
        slack_kb = 4 * 1024  # a single thread's stack is 8 MiB: one kept is already too many

        def back():
            vm = status_field(proc, "VmSize")
            return settled() and vm is not None and vm <= vm0 + slack_kb
        poll_until(back, lab.deadline())
        threads, fds = status_field(proc, "Threads"), proc.open_fds()
        vm = status_field(proc, "VmSize")
        lab.expect_running(proc, f"after {total} connections")
        expect(threads is not None and threads <= threads0,
               "every connection's thread should end once its client has left",
               expected=f"at most {threads0} thread(s)", actual=f"{threads} (Threads: in "
               f"/proc/{proc.pid}/status)", hint="the thread returns when its conversation "
               "is over")
        expect(fds <= fds0, "every connection's socket should be closed once its client has "
               "left", expected=f"at most {fds0} open descriptors",
               actual=f"{fds} (see ls -l /proc/{proc.pid}/fd)",
               hint="finish_client (step 3): close() the connection's socket before the thread "
                    "ends")
        expect(vm is not None and vm <= vm0 + slack_kb,
               "the server's memory should not grow with the number of connections served",
               expected=f"VmSize at most {vm0 + slack_kb} kB ({vm0} kB after the warm-up, "
                        f"plus {slack_kb} kB)",
               actual=f"{vm} kB after {total + 1} more connections",
               hint=DETACH_HINT)


def vanish_mid_conversation(lab, server) -> None:
    """Reads the welcome, then sends 50 names and closes at once, in one corked burst: the
    server gets the lines and the end of the stream together, and its replies meet a socket
    that is gone (the second one fails with EPIPE, which raises SIGPIPE without
    MSG_NOSIGNAL)."""
    client = Client(lab, server, "the vanishing client")
    client.expect_welcome()
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    client.sock.sendall(b"Ada\n" * 50)
    client.close()


def test_server_survives_vanishing_clients(lab):
    """Clients that reset, close without a word, or vanish mid-conversation never stop the
    server."""
    with lab.start_server() as server:
        try:
            lab.story.step("connect and reset at once (RST, as when a client crashes)")
            peers.reset(peers.connect(server.address, lab.deadline()))
            lab.story.step("connect and close without reading or sending anything")
            peers.connect(server.address, lab.deadline()).close()
            lab.story.step("read the welcome, send a name and reset before the reply comes")
            client = Client(lab, server)
            client.expect_welcome()
            client.send(b"Ada\n")
            peers.reset(client.sock)
            for attempt in range(1, 4):
                lab.story.step(f"read the welcome, send 50 names and close at once, without "
                               f"reading the replies (try {attempt} of 3)")
                vanish_mid_conversation(lab, server)
                lab.story.step("a good client afterwards")
                good = Client(lab, server, "a later client")
                with good.sock:
                    good.expect_welcome(deadline=lab.deadline())
                    good.send(b"Grace\n")
                    good.expect_line(hello("Grace"), "'Hello, Grace!'")
                lab.expect_running(server.proc, "after clients that vanished")
        except CheckFailure:  # a connection that failed: a server that ended says why
            lab.expect_running(server.proc, "after clients that vanished")
            raise


def test_server_ends_cleanly_on_sigterm_with_clients_connected(lab):
    """Step 4: SIGTERM ends the server with status 0 and 'stopped', clients connected."""
    server = lab.start_server()
    with server:
        lab.story.step("connect three clients: one silent, one that said 'Ada', one in the "
                       "middle of a line")
        silent = Client(lab, server, "the silent client")
        # its thread has sent the welcome and waits for a line: what SIGTERM interrupts is
        # then the same every time, not a welcome still on its way (a send after the stop's
        # shutdown fails with EPIPE)
        silent.expect_welcome()
        talking = Client(lab, server, "the talking client")
        talking.expect_welcome()
        talking.send(b"Ada\n")
        talking.expect_line(hello("Ada"), "'Hello, Ada!'")
        halfway = Client(lab, server, "the client in the middle of a line")
        halfway.expect_welcome()
        halfway.send(b"Gra")
        for client in (silent, halfway):
            lab.expect_stdout(server.proc, rf"^connection from {re.escape(str(client.me))}$",
                              f"'connection from {client.me}'")
        lab.story.step("send SIGTERM while the three are connected")
        code = lab.stop_server(server)
        expect(code is not None, "the server should exit soon after SIGTERM, even with clients "
               "connected", actual="it was still running after the deadline (then killed)",
               hint="stop_clients (step 4): shutdown(SHUT_RDWR) every open connection so that "
                    "its thread's recv() returns 0, then wait (pthread_cond_wait) until the last "
                    "thread has finished; waiting alone waits as long as any client stays")
        expect_equal(code, 0, "the server should exit with status 0 after SIGTERM")
        lines = server.proc.stdout.lines()
        expect_equal(lines[-1] if lines else "", "stopped", "the server should print 'stopped' "
                     "last, once every client thread has finished")
        lab.story.step("each client should see its connection end")
        for client in (silent, talking, halfway):
            with client.sock:
                rest = peers.recv_until_closed(client.sock, lab.deadline())
                expect(rest.ended in (peers.Ended.EOF, peers.Ended.RESET), f"{client.label}'s connection should be "
                       "closed by the server", actual=f"it ended by {rest.ended}")


def test_server_ends_cleanly_on_ctrl_c(lab):
    """Step 4: Ctrl-C (SIGINT) ends the server like SIGTERM does."""
    server = lab.start_server()
    with server:
        lab.story.step("talk to one client, which leaves")
        client = Client(lab, server)
        with client.sock:
            client.expect_welcome()
            client.send(b"exit\n")
            client.expect_line(b"Bye!\n", "'Bye!'")
            client.expect_closed("after 'exit'")
        lab.story.step("send SIGINT, as Ctrl-C in a terminal does")
        server.proc.signal(signal.SIGINT)
        code = server.proc.wait(lab.deadline())
        server.proc.exit_seen = True
        expect_equal(code, 0, "the server should exit with status 0 on SIGINT")
        lines = server.proc.stdout.lines()
        expect_equal(lines[-1] if lines else "", "stopped", "the server should print 'stopped' "
                     "last")


def test_server_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments print the usage and exit 2."""
    lab.story.step("start the server on IPv6 loopback and talk to it")
    with lab.start_server(host="::1") as server:
        expect_equal(server.host, "::1", "the server should listen on ::1 with -H ::1")
        client = Client(lab, server)
        with client.sock:
            client.expect_welcome()
            client.send(b"Ada\n")
            client.expect_line(hello("Ada"), "'Hello, Ada!'")
    lab.expect_usage("server", [["--help"], ["-p", "abc"], ["-p", PAST_THE_LAST_PORT], ["-x"]])


# -- the client ----------------------------------------------------------------------------

PEER_WELCOME = b"Welcome! You are here. Send a name per line, exit to leave.\n"


def greeting_server(piece: int = 0, close_after: int | None = None):
    """A Python server: a welcome, then 'Hello, NAME!' for each line, 'Bye!' for exit. With
    piece, every line goes out `piece` bytes per write; with close_after, it closes after
    answering that many lines. Keeps what it received."""
    received = bytearray()

    def write(conn, data: bytes) -> None:
        if piece:
            peers.send_in_pieces(conn, data, piece, 0.01, Deadline(5))
        else:
            peers.send_all(conn, data, Deadline(5))

    def handler(conn, peer):
        write(conn, PEER_WELCOME)
        pending, answered = b"", 0
        while answered != close_after:
            while b"\n" not in pending:
                got = peers.recv_until(conn, b"\n", Deadline(5))
                received.extend(got.data)
                pending += got.data
                if got.ended != peers.Ended.MARKER:
                    return
            line, _, pending = pending.partition(b"\n")
            if line == b"exit":
                write(conn, b"Bye!\n")
                return
            write(conn, b"Hello, " + line + b"!\n")
            answered += 1
        # Close our side only (FIN), then read until the client closes: closing with its next
        # line unread would send a reset, and the client would rightly report a reset.
        conn.shutdown(socket.SHUT_WR)
        peers.recv_until_closed(conn, Deadline(5))

    return handler, received


def run_client(lab, stdin: bytes, **server_options):
    handler, received = greeting_server(**server_options)
    with peers.PeerServer(handler) as peer:
        lab.story.step(f"run the client against a Python server at {peer.address}, with "
                       f"{show(stdin)} on its standard input")
        result = lab.run("client", "-p", str(peer.address.port), input=stdin)
        peer.join(lab.deadline())
        peer.check()
    return result, bytes(received)


def test_client_prints_the_welcome_and_each_reply(lab):
    """Step 5: each input line is sent; the welcome and every reply are printed."""
    result, received = run_client(lab, b"Ada\nGrace\n")
    result.expect_status(0)
    expect_equal(received, b"Ada\nGrace\n", "the client should send each line of its input",
                 hint="converse (step 5): send each line with its newline, then print "
                      "the reply before the next line")
    expect_equal(result.stdout_bytes, PEER_WELCOME + b"Hello, Ada!\nHello, Grace!\n",
                 "the client should print the welcome and each reply line, in order")


def test_client_stops_after_exit(lab):
    """Step 5: after 'exit' and its reply, the client stops, even with input left."""
    result, received = run_client(lab, b"Ada\nexit\nNever\n")
    result.expect_status(0)
    expect_equal(received, b"Ada\nexit\n", "the client should send nothing after 'exit'")
    expect_equal(result.stdout_bytes, PEER_WELCOME + b"Hello, Ada!\nBye!\n",
                 "the client should print 'Bye!' last")


def test_client_prints_no_error_after_exit(lab):
    """Step 5: after 'exit' and 'Bye!' the server closes: the normal end of the session, so
    the client exits 0 and writes nothing on stderr."""
    result, _ = run_client(lab, b"Ada\nexit\n")
    result.expect_status(0)
    expect_equal(result.stdout, (PEER_WELCOME + hello("Ada") + b"Bye!\n").decode(),
                 "the client should print the welcome, 'Hello, Ada!' and 'Bye!'")
    lab.expect_no_errors(
        result.proc, "'exit' was answered with 'Bye!', then the server closed",
        hint="converse (step 5): 'Bye!' is the last reply: stop once it is printed. The "
             "server's close that follows is the normal end of the session, not a reply cut "
             "short: do not read again and report it")


def test_client_sends_every_line_with_one_newline(lab):
    """Step 5: an empty line is sent as a newline; a last line without one gets one."""
    result, received = run_client(lab, b"Ada\n\nGrace")
    result.expect_status(0)
    expect_equal(received, b"Ada\n\nGrace\n", "the client should send every line, ending each "
                 "with exactly one newline", hint="converse (step 5): an empty line is a line: "
                 "send '\\n' (a 0-byte send sends nothing, and no reply would come)")
    expect_equal(result.stdout_bytes, PEER_WELCOME + b"Hello, Ada!\nHello, !\nHello, Grace!\n",
                 "the client should print one reply per line")


def test_client_reads_replies_arriving_in_pieces(lab):
    """Step 5: every line from the server comes 3 bytes per write; the client prints each
    whole."""
    result, _ = run_client(lab, b"Ada\nexit\n", piece=3)
    result.expect_status(0)
    expect_equal(result.stdout_bytes, PEER_WELCOME + b"Hello, Ada!\nBye!\n",
                 "the client should print each line whole, however it arrives",
                 hint="one recv() gets what has arrived so far: keep reading until the newline "
                      "(the given recv_line() does)")


def test_client_server_closing_early_is_a_clear_error(lab):
    """Step 5: a server that closes before replying: exit 1 with a message."""
    result, _ = run_client(lab, b"Ada\nGrace\n", close_after=1)
    result.expect_status(1, "a runtime failure: the reply never came")
    expect("closed" in result.stderr, "the client should say that the server closed the "
           "connection", expected="a message with 'closed' on stderr", actual=show(result.stderr))
    expect(result.stdout_bytes.startswith(PEER_WELCOME + b"Hello, Ada!\n"),
           "the client should print the replies that did come", actual=show(result.stdout))


def test_client_command_line(lab):
    """-H ::1 works; --help exits 0; bad arguments exit 2; no server is a clear error."""
    handler, _ = greeting_server()
    with peers.PeerServer(handler, host="::1") as peer:
        lab.story.step("run the client against a Python server on ::1")
        result = lab.run("client", "-H", "::1", "-p", str(peer.address.port), input=b"Ada\n")
        peer.check()
    result.expect_status(0)
    expect_equal(result.stdout_bytes, PEER_WELCOME + b"Hello, Ada!\n",
                 "the client should talk to a server on ::1 with -H ::1")
    lab.expect_usage("client", [["-p", "0"], ["-p", "abc"], ["--bogus"]])
    with peers.refusing_port() as closed:
        lab.story.step(f"run the client against {closed}, where nothing listens")
        result = lab.run("client", "-p", str(closed.port))
    result.expect_status(1, "a runtime failure")
    expect("Connection refused" in result.stderr, "the client should say why it failed",
           expected="'Connection refused' on stderr", actual=show(result.stderr))


# -- together ------------------------------------------------------------------------------

@pytest.mark.memory
def test_client_and_server_together(lab):
    """Two real clients: one waits at its prompt while the other talks to the server."""
    with lab.start_server() as server:
        lab.story.step("start a client and leave it waiting for input")
        waiting = lab.start("client", "-p", server.port, name="waiting client")
        lab.expect_stdout(waiting, r"^Welcome! You are .*\.$", "the welcome line")
        lab.story.step("meanwhile, run a second client with 'Ada', 'exit'")
        result = lab.run("client", "-p", server.port, input=b"Ada\nexit\n",
                         hint=ONE_THREAD_HINT)
        result.expect_status(0)
        me = result.expect_stdout_line(rf"^Welcome! You are ({ADDR})\. Send a name per line, "
                                       r"exit to leave\.$", "the welcome line").group(1)
        expect_equal(result.stdout, WELCOME.format(me) + "Hello, Ada!\nBye!\n",
                     "the second client should be served while the first waits")
        lab.story.step("now the first client says 'Grace' and 'exit'")
        waiting.write(b"Grace\nexit\n")
        waiting.close_stdin()
        code = waiting.wait(lab.deadline())
        waiting.exit_seen = True
        expect_equal(code, 0, "the first client should exit with status 0")
        lab.judge_valgrind(waiting)
        expect(waiting.stdout.text.endswith("Hello, Grace!\nBye!\n"),
               "the first client should print its own replies",
               actual=show(waiting.stdout.text))
