"""Lab 09: placeholder until the lab's client and server are in (see run())."""
from __future__ import annotations


def run(ctx) -> dict:
    raise NotImplementedError
