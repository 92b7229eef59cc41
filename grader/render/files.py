"""What every renderer shares: how a file is written, and how a check is named."""
from __future__ import annotations

import os
from pathlib import Path

from harness.results import CheckResult


def write_atomic(path: Path, text: str) -> None:
    """Writes a whole new file and renames it over path: readers never see half a file, even
    if we are killed mid-way, and a link planted at path is replaced, never written through."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def lab_number(lab: str) -> str:
    return lab.split("-", 1)[0]


def check_title(lab: str, check: CheckResult) -> str:
    """A check's name on every platform: its lab and its sentence (unique within the lab)."""
    return f"{lab}: {check.title}"


def cut(text: str, limit: int, why: str) -> str:
    """text, or its first and last limit/2 characters (where a story says what failed, and
    where the programs' last words are), saying how much was cut from the middle and why."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return (f"{text[:half]}\n[... {len(text) - 2 * half} characters cut here: {why} ...]\n"
            f"{text[-half:]}")


def head_lines(text: str, lines: int, width: int = 200) -> str:
    """The first lines of a story (the step, expected, actual), each at most width long."""
    kept = [line if len(line) <= width else line[:width - 1] + "\u2026"
            for line in text.strip().splitlines()[:lines]]
    return "\n".join(kept)
