"""Lab 09's frames, as Python writes and reads them: the tests' side of its protocol.

A frame is a payload after its length, 4 bytes unsigned big-endian (network byte order). An
upload is a header frame (JSON: name, size), the body, and a trailer frame (JSON: sha256).
Reader reads what a peer sends with a deadline and keeps what is left over, so that a frame's
reader never loses the bytes of the next frame that came in the same recv(); a frame that is
not there fails the check with what came instead.
"""
from __future__ import annotations

import hashlib
import json
import socket
import struct

from .checks import CheckFailure, expect, show
from .peers import Ended
from .timing import Deadline

MAX_HEADER_LEN = 4096  # lab 09's handout: the largest header, trailer or status frame


def frame(payload: bytes) -> bytes:
    """A frame: the payload's length as 4 bytes, unsigned, big-endian (network byte order)."""
    return struct.pack("!I", len(payload)) + payload


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def header_frame(fields) -> bytes:
    return frame(json.dumps(fields).encode())


def header_for(name: str, body: bytes, **changes) -> bytes:
    """The header frame of an upload of body: {"name": ..., "size": ...}; changes override
    or add fields."""
    return header_frame({"name": name, "size": len(body), **changes})


def trailer_for(body: bytes, digest: str | None = None) -> bytes:
    """The trailer frame after body: {"sha256": its digest} (or the digest given)."""
    return frame(json.dumps({"sha256": sha256(body) if digest is None else digest}).encode())


def upload_bytes(name: str, body: bytes, digest: str | None = None, **changes) -> bytes:
    """Header frame, body and trailer frame, as the lab's client sends them; changes
    override header fields, digest the trailer's."""
    return header_for(name, body, **changes) + body + trailer_for(body, digest)


def seed_upload_bytes(name: str, body: bytes, **changes) -> bytes:
    """The tutorials' upload: the digest in the header, the body, and no trailer."""
    return header_for(name, body, sha256=sha256(body), **changes) + body


def content(size: int, seed: int = 9) -> bytes:
    """size bytes that are the same from run to run, and unlike any other test's: a block of
    pseudo-random bytes (SHAKE-128) repeated with a period of 1 MiB + 7 bytes, so that a piece
    of the file in the wrong place never looks right."""
    block = hashlib.shake_128(f"{seed}:{size}".encode()).digest(min(size, (1 << 20) + 7))
    data = bytearray(block) * (size // max(len(block), 1) + 1)
    del data[size:]  # in place: no second copy of a 50 MiB file
    return bytes(data) if size < (1 << 20) else data


def length_hint(announced: int, payload: bytes, otherwise: str) -> str:
    """The hint for a reply whose length prefix announces `announced` bytes where `payload`
    was due, from the evidence: a big-endian prefix equal to the payload's length up to its
    first NUL byte is strlen() at work (the byte order is right); the payload's length read
    in the other byte order is a missing htonl(); anything else gets `otherwise`."""
    nul = payload.find(b"\0")
    if nul >= 0 and announced == nul:
        return (f"the prefix is big-endian, but it announces {announced} bytes: the payload's "
                f"length up to its first NUL byte (at offset {nul}). strlen() stops at a NUL and "
                "a payload is binary: send the length recv_frame() returned, not strlen()")
    if announced != len(payload) and announced == struct.unpack("<I", struct.pack("!I", len(payload)))[0]:
        return (f"the prefix is {len(payload)} in this machine's byte order (little-endian): "
                "htonl() before sending")
    return otherwise


class Reader:
    """Reads what a peer sends, with a deadline, and keeps what is left over: a frame's
    reader must not lose the bytes of the next frame that came in the same recv()."""

    def __init__(self, sock: socket.socket, deadline: Deadline):
        self.sock = sock
        self.deadline = deadline
        self.buf = bytearray()
        self.ended: Ended | None = None  # EOF, RESET or TIMEOUT, once the stream ended

    def _fill(self) -> bool:
        if self.ended:
            return False
        try:
            if self.deadline.expired:
                raise socket.timeout
            self.sock.settimeout(max(self.deadline.remaining(), 0.001))
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            self.ended = Ended.TIMEOUT
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.ended = Ended.RESET
            return False
        if not chunk:
            self.ended = Ended.EOF
            return False
        self.buf += chunk
        return True

    def exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def upto(self, n: int) -> bytes:
        """n bytes, or all that came before the stream ended (for comparing with n bytes)."""
        data = self.exactly(n)
        if data is None:
            data = bytes(self.buf)
            self.buf.clear()
        return data

    def how_it_ended(self) -> str:
        return {Ended.EOF: "the connection was closed", Ended.RESET: "the connection was reset",
                Ended.TIMEOUT: f"nothing more came within {self.deadline.seconds:g} s"}.get(
                    self.ended, "?")

    def frame(self, what: str, limit: int = 64 << 20) -> bytes:
        """One frame's payload; CheckFailure (saying what came instead) if there is none."""
        prefix = self.exactly(4)
        if prefix is None:
            raise CheckFailure(what, expected="a 4-byte length prefix, then the payload",
                               actual=f"{show(bytes(self.buf)) if self.buf else 'no bytes'}, "
                                      f"then {self.how_it_ended()}")
        length = struct.unpack("!I", prefix)[0]
        if length > limit:
            little = struct.unpack("<I", prefix)[0]
            raise CheckFailure(
                what, expected="a length prefix in network byte order (big-endian)",
                actual=f"the prefix {prefix.hex(' ')}, which announces {length} bytes",
                hint=f"read little-endian it would be {little}: convert with htonl()/ntohl()"
                     if little <= limit else None)
        payload = self.exactly(length)
        if payload is None:
            raise CheckFailure(what, expected=f"{length} bytes of payload after the prefix "
                               f"{prefix.hex(' ')}",
                               actual=f"{len(self.buf)} bytes, then {self.how_it_ended()}")
        return payload

    def status(self, what: str = "the server should answer with a framed JSON status") -> dict:
        payload = self.frame(what, limit=MAX_HEADER_LEN)
        try:
            status = json.loads(payload)
        except ValueError:
            status = None
        expect(isinstance(status, dict) and status.get("status") in ("ok", "error"),
               what, expected='{"status": "ok", ...} or {"status": "error", "error": "..."}',
               actual=show(payload))
        return status

    def until_closed(self) -> bytes:
        while self._fill():
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data
