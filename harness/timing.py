"""Deadlines: every wait in the harness has one."""
from __future__ import annotations

import time


class Deadline:
    """A point in time, `seconds` from now."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end

    def __repr__(self) -> str:
        return f"Deadline({self.seconds:g} s, {self.remaining():.2f} s left)"


def poll_until(predicate, deadline: Deadline, interval: float = 0.01):
    """Calls predicate() until it returns something truthy (returned) or the deadline passes
    (returns the last falsy value). For conditions with no event to wait on, such as a
    process's open file descriptors in /proc."""
    while True:
        value = predicate()
        if value or deadline.expired:
            return value
        time.sleep(min(interval, deadline.remaining()))
