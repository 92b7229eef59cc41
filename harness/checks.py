"""What a failed check says: what was expected, what came back, and what to do about it.

Tests raise CheckFailure through these helpers; the pytest plugin renders it with the story
of the test (story.py). Values are shown whole enough to read: long data is cut in the middle,
never to a handful of characters.
"""
from __future__ import annotations

import enum
import os
import stat
from pathlib import Path
from typing import Any, Optional

SHOW_LIMIT = 600


class CheckFailure(AssertionError):
    """A check failed: the student's program did not do what the lab asks."""

    def __init__(self, what: str, *, expected: Any = None, actual: Any = None,
                 hint: Optional[str] = None):
        self.what = what
        self.expected = expected
        self.actual = actual
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        parts = [self.what]
        if self.expected is not None:
            parts.append(f"expected: {self.expected}")
        if self.actual is not None:
            parts.append(f"actual:   {self.actual}")
        if self.hint:
            parts.append(f"hint:     {self.hint}")
        return "\n".join(parts)


def show(data: bytes | str, limit: int = SHOW_LIMIT) -> str:
    """A readable, quoted rendering of data, cut in the middle past limit characters."""
    text = repr(data)[1:] if isinstance(data, bytes) else repr(data)  # b'..' -> '..'
    if len(text) <= limit:
        return text
    size = f"{len(data)} bytes" if isinstance(data, bytes) else f"{len(data)} characters"
    half = limit // 2
    return f"{text[:half]} ... {text[-half:]} ({size} in all)"


def read_program_file(path: Path, limit: int = 64 << 20) -> Optional[bytes]:
    """A file a program under test wrote (in its check's folder), or None if there is none.
    Read without following a link at any step below the folder's parent: a program could
    plant one pointing at what it must not see (a solution, a hidden test), and the check
    would then quote it. Anything but a regular file is refused the same way."""
    path = Path(path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path.parent.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for part in (path.parent.name, path.name):
            last = part == path.name
            next_fd = os.open(part, flags | (os.O_NONBLOCK if last else os.O_DIRECTORY),
                              dir_fd=fd)
            os.close(fd)
            fd = next_fd
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CheckFailure(f"{path.name} should be a regular file",
                           actual="a folder, a pipe or a device")
    with os.fdopen(fd, "rb") as f:
        return f.read(limit)


def printable(line: str) -> str:
    """A line of a program's output, safe to show on a terminal or in a report: control
    characters (escape sequences that could clear a screen or forge a line) are written
    as \\xNN, tabs kept."""
    return "".join(c if c == "\t" or (c.isprintable() and c != "\x7f") else
                   f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" for c in line)


def printable_text(text: str) -> str:
    """printable() for every line of a text, its line breaks kept."""
    return "\n".join(printable(line) for line in text.split("\n"))


def fail(what: str, **details) -> None:
    raise CheckFailure(what, **details)


def expect(condition: bool, what: str, **details) -> None:
    if not condition:
        raise CheckFailure(what, **details)


def expect_equal(actual: Any, expected: Any, what: str, hint: Optional[str] = None) -> None:
    if actual != expected:
        render = _shown if isinstance(expected, (bytes, str, enum.Enum)) else repr
        raise CheckFailure(what, expected=render(expected), actual=render(actual), hint=hint)


def _shown(value: Any) -> str:
    """Data quoted by show(); a named result (peers.Ended.EOF) by the word it stands for."""
    return show(str(value) if isinstance(value, enum.Enum) else value)
