"""Short-I/O settings: what the shim (harness/shim/shortio.c) cuts, parsed from a SPEC.

    N                       every send and every recv on a stream socket moves at most N bytes
    send=N,recv=M,seed=S    send-type calls at most N, recv-type at most M (either may be left
                            out: that side is not cut); with a seed, each call moves between 1
                            and the cap, drawn from a PRNG started at S, the same every run

The SPEC is passed to the programs unchanged as SOCKLAB_SHORT_IO, so a failure's repro command
shows exactly what the test ran.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Optional

ITEM_RE = re.compile(r"^(send|recv|seed)=(\d+)$")


@dataclass(frozen=True)
class ShortIO:
    send: Optional[int] = None  # most bytes per send/sendto/sendmsg/write/writev (None: uncut)
    recv: Optional[int] = None  # most bytes per recv/recvfrom/recvmsg/read/readv
    seed: Optional[int] = None  # given: each call draws its cap in 1..the cap

    @classmethod
    def parse(cls, spec: str) -> "ShortIO":
        """'7' or 'send=3,recv=4096,seed=12'; raises argparse.ArgumentTypeError when wrong."""
        spec = str(spec).strip()
        if spec.isdigit() and int(spec) > 0:
            return cls(int(spec), int(spec))
        fields = {}
        for item in spec.split(","):
            m = ITEM_RE.match(item.strip())
            if m is None or m.group(1) in fields:
                raise argparse.ArgumentTypeError(
                    f"bad short-I/O spec {spec!r}: give N, or send=N,recv=M,seed=S")
            fields[m.group(1)] = int(m.group(2))
        if not fields.get("send") and not fields.get("recv"):
            raise argparse.ArgumentTypeError(f"short-I/O spec {spec!r} caps nothing")
        return cls(fields.get("send") or None, fields.get("recv") or None, fields.get("seed"))

    def __str__(self) -> str:
        """The SOCKLAB_SHORT_IO value."""
        if self.send == self.recv and self.seed is None:
            return str(self.send)
        parts = [f"send={self.send}" if self.send else "", f"recv={self.recv}" if self.recv else "",
                 f"seed={self.seed}" if self.seed is not None else ""]
        return ",".join(p for p in parts if p)

    @property
    def recv_fixed(self) -> bool:
        """Each recv() is cut to exactly the cap (no seed): what it returns can be predicted."""
        return self.seed is None or not self.recv

    def describe(self) -> str:
        """In words, for a check's title: 'each send() moves 1-3 bytes, each recv() at most
        64 (SOCKLAB_SHORT_IO=send=3,recv=64,seed=1)'."""
        def side(name: str, cap: Optional[int]) -> str:
            if not cap:
                return ""
            amount = f"1-{cap}" if self.seed is not None and cap > 1 else f"at most {cap}"
            return f"each {name}() moves {amount} byte{'s' if cap > 1 else ''}"
        said = [s for s in (side("send", self.send), side("recv", self.recv)) if s]
        return f"{', '.join(said)} (SOCKLAB_SHORT_IO={self})"
