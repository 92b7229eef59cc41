"""The conversation of a check: the socket calls of the programs under test (recorded by the
tracer, harness/shim/trace.c) and what the harness's peers did, on one clock.

A failure story ends with the last of them, merged, as a few readable lines:

    the conversation, last 6 of 14 events (seconds since the check began):
      0.012  peer      connect 127.0.0.1:40123
      0.013  server    accept(3) = 4 from 127.0.0.1:51234
      0.013  peer      send 26 bytes "\\x00\\x00\\x00\\x05hello\\x00\\x00\\x00\\x05world..."
      0.014  client    recv(3, 65536) = 9 "\\x00\\x00\\x00\\x05hello"

and the HTML report draws them as a sequence diagram (grader/render/html.py). The peers record
their side through TracedSocket, which peers.py and udp.py make their sockets from.
"""
from __future__ import annotations

import errno as errno_names
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from .checks import CheckFailure, printable, read_program_file

SHOWN = 12  # events in a failure story
KEPT = 60   # events kept with a failed check's results, for the diagram
PREVIEW = 24


@dataclass
class Event:
    t: float        # seconds since the check began
    who: str        # "server", "client", "peer", ...
    call: str       # "send", "recv", "connect", ...
    fd: int
    asked: int      # bytes asked for; -1 where a call asks for no size
    ret: int        # what it returned
    error: str      # "" or the errno's name (ECONNRESET)
    detail: str     # an address, an option, or the first bytes moved

    @property
    def moves_bytes(self) -> bool:
        return self.call in SENDS or self.call in RECVS

    def text(self) -> str:
        """One line a student reads: the call as they wrote it, and what it returned."""
        if self.who.startswith("peer"):
            return self._peer_text()
        args = f"{self.fd}" + (f", {self.asked}" if self.asked >= 0 else "")
        result = f"-1 {self.error}" if self.error else f"{self.ret}"
        extra = f" {self.detail}" if self.detail and self.detail != "-" else ""
        if self.call in ("accept", "accept4") and not self.error:
            extra = f" from {self.detail}"
        elif self.call in ("connect", "bind"):
            args, extra = f"{self.fd}, {self.detail}", ""
        if self.call in RECVS and self.ret == 0 and not self.error:
            extra = " (end of stream)"
        return f"{self.call}({args}) = {result}{extra}"

    def _peer_text(self) -> str:
        if self.call in SENDS:
            if self.error:
                return f"tries to send {plural(self.asked, 'byte')}: {self.error}"
            return f"sends {plural(self.ret, 'byte')} in one write {self.detail}".rstrip()
        if self.call in RECVS:
            if self.error:
                return f"receives: {self.error}"
            return ("receives the end of the stream" if self.ret == 0 else
                    f"receives {plural(self.ret, 'byte')} {self.detail}".rstrip())
        return f"{self.call} {self.detail}".rstrip() if self.detail != "-" else self.call


SENDS = {"send", "sendto", "sendmsg", "write", "writev", "sendall"}
RECVS = {"recv", "recvfrom", "recvmsg", "read", "readv", "recv_into"}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def preview(data: bytes) -> str:
    """The first bytes, as the tracer shows them."""
    if not data:
        return ""
    escapes = {0: "\\0", 9: "\\t", 10: "\\n", 13: "\\r", 34: '\\"', 92: "\\\\"}
    text = "".join(escapes.get(b, chr(b) if 32 < b < 127 else f"\\x{b:02x}")
                   for b in data[:PREVIEW])
    return f'"{text}"' + ("..." if len(data) > PREVIEW else "")


class Conversation:
    """The events of one check: the peers' (noted here) and the programs' (read from their
    trace folders when asked for)."""

    def __init__(self) -> None:
        self.start_ns = time.monotonic_ns()
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._traced: list[tuple[str, Path]] = []  # (program name, its trace folder)

    def note(self, who: str, call: str, *, fd: int = -1, asked: int = -1, ret: int = 0,
             error: str = "", detail: str = "", at: float | None = None) -> None:
        """at: when the call began (now by default)."""
        t = self.now() if at is None else at
        with self._lock:
            self._events.append(Event(t, who, call, fd, asked, ret, error, detail or "-"))

    def now(self) -> float:
        return (time.monotonic_ns() - self.start_ns) / 1e9

    def trace_folder(self, name: str, workdir: Path) -> Path:
        """A new folder for one program's trace files (one per process it becomes)."""
        with self._lock:
            folder = workdir / f"trace-{len(self._traced) + 1}-{name}"
            self._traced.append((name, folder))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def events(self) -> list[Event]:
        found = list(self._events)
        names = [name for name, _ in self._traced]
        for name, folder in self._traced:
            label = name if names.count(name) == 1 else f"{name} {folder.name.split('-')[1]}"
            found += read_folder(folder, label, self.start_ns)
        return sorted(found, key=lambda e: e.t)

    def render(self, shown: int = SHOWN) -> list[str]:
        events = self.events()
        if not events:
            return []
        last = events[-shown:]
        head = (f"the conversation, last {len(last)} of {len(events)} events"
                if len(events) > len(last) else "the conversation")
        width = max(len(e.who) for e in last)
        return ["", f"{head} (seconds since the check began):",
                *[printable(f"  {e.t:6.3f}  {e.who:<{width}}  {e.text()}") for e in last]]

    def kept(self) -> list[dict]:
        """The last events, as plain data for the results (and the HTML diagram)."""
        return [asdict(e) for e in self.events()[-KEPT:]]


def read_folder(folder: Path, who: str, start_ns: int) -> list[Event]:
    """The events of a program's trace files (written by a program we do not trust: every
    line is parsed defensively, and a bad line is skipped)."""
    events = []
    pids = sorted(folder.glob("*.trace"))[:16] if folder.is_dir() else []  # a fork bomb's: 16
    for path in pids:
        label = who if len(pids) == 1 else f"{who} ({path.stem})"
        try:  # the program owns the folder: never follow a link it planted
            data = read_program_file(path, limit=1 << 20)  # the tracer stops at 256 KiB
        except CheckFailure:
            data = None
        if data is None:
            continue
        text = data.decode(errors="replace")
        for line in text.splitlines():
            parts = line.split(" ", 6)
            if len(parts) != 7:
                continue
            try:
                t_ns, fd, asked, ret, err = (int(parts[0]), int(parts[2]), int(parts[3]),
                                             int(parts[4]), int(parts[5]))
            except ValueError:
                continue
            name = errno_names.errorcode.get(err, str(err)) if err else ""
            events.append(Event((t_ns - start_ns) / 1e9, label, parts[1][:20], fd, asked, ret,
                                name, parts[6][:200]))
    return events


# -- the peers' side ---------------------------------------------------------------------------

_current: Optional[Conversation] = None


def begin() -> Conversation:
    """A new conversation for the check that starts now; peers note into it."""
    global _current
    _current = Conversation()
    return _current


def note(who: str, call: str, **fields) -> None:
    if _current is not None:
        _current.note(who, call, **fields)


class TracedSocket(socket.socket):
    """A socket of the harness's peers that notes what it does in the check's conversation.
    (The bytes a peer sends are the check's: noting them is safe.)"""

    who = "peer"

    def _note(self, call: str, **fields) -> None:
        try:
            fd = self.fileno()
        except OSError:
            fd = -1
        note(self.who, call, fd=fd, **fields)

    def connect(self, address) -> None:
        try:
            super().connect(address)
        except OSError as e:
            self._note("connect", error=errno_names.errorcode.get(e.errno or 0, ""),
                       detail=_address(address))
            raise
        self._note("connect", detail=_address(address))

    def accept(self):
        fd, address = self._accept()
        sock = TracedSocket(self.family, self.type, self.proto, fileno=fd)
        if socket.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        sock._note("accept", detail=_address(address))
        return sock, address

    # A send is noted at the time it began: its bytes may reach the program, and the
    # program's recv() return, before the call returns here.
    def _sending(self, call: str, send, data) -> int | None:
        began = _current.now() if _current is not None else None
        try:
            sent = send()
        except OSError as e:
            self._note(call, asked=len(data), ret=-1, at=began,
                       error=errno_names.errorcode.get(e.errno or 0, str(e.errno)))
            raise
        shown = bytes(data if sent is None else data[:sent])
        self._note(call, asked=len(data), ret=len(data) if sent is None else sent,
                   detail=preview(shown), at=began)
        return sent

    def send(self, data, flags: int = 0) -> int:
        return self._sending("send", lambda: super(TracedSocket, self).send(data, flags), data)

    def sendall(self, data, flags: int = 0) -> None:
        self._sending("send", lambda: super(TracedSocket, self).sendall(data, flags), data)

    def sendto(self, data, *args) -> int:
        return self._sending("sendto", lambda: super(TracedSocket, self).sendto(data, *args),
                             data)

    def recv(self, size: int, flags: int = 0) -> bytes:
        try:
            data = super().recv(size, flags)
        except OSError as e:
            if e.errno:
                self._note("recv", asked=size, ret=-1,
                           error=errno_names.errorcode.get(e.errno, str(e.errno)))
            raise
        self._note("recv", asked=size, ret=len(data), detail=preview(data))
        return data

    def recvfrom(self, size: int, flags: int = 0):
        data, address = super().recvfrom(size, flags)
        self._note("recvfrom", asked=size, ret=len(data), detail=preview(data))
        return data, address

    def shutdown(self, how: int) -> None:
        super().shutdown(how)
        self._note("shutdown", detail={socket.SHUT_WR: "write", socket.SHUT_RD: "read"}
                   .get(how, "both"))

    def close(self) -> None:
        if self.fileno() != -1:
            self._note("close")
        super().close()


def _address(address) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)
