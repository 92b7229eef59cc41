"""The labs of the course, as labs.txt lists them (one line per lab; CMake reads it too).

    from harness import registry
    registry.labs()                 # every lab, in order
    registry.lab("03-tcp-echo")     # one; UnknownLab names the ones there are
    registry.find("labs/03-tcp-echo/")  # the name of the lab a command-line argument means
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "labs.txt"
KINDS = ("tcp", "udp")
MODES = ("plain", "valgrind", "short-io")


class UnknownLab(ValueError):
    """A lab name labs.txt does not list."""


@dataclass(frozen=True)
class Lab:
    name: str  # NN-name: the folder in labs/ and solutions/
    kind: str  # tcp or udp
    programs: tuple[str, ...]  # each built from PROGRAM.c
    sources: tuple[str, ...]  # more .c files linked into each program
    libraries: tuple[str, ...]  # threads, cjson, libcrypto (cmake/libraries.cmake)
    modes: tuple[str, ...]  # how CTest runs its tests: plain, valgrind, short-io

    @property
    def number(self) -> str:
        return self.name[:2]

    @property
    def test_module(self) -> Path:
        return ROOT / "tests" / f"test_{self.name.replace('-', '_')}.py"


def parse(text: str, where: str = "labs.txt") -> list[Lab]:
    """The labs of a registry's text; ValueError names the line that is wrong."""
    labs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 6:
            raise ValueError(f"{where}:{number}: 6 columns expected (lab kind programs sources "
                             f"libraries modes; - for none), found {len(fields)}")
        name, kind, *lists = fields
        programs, sources, libraries, modes = (
            () if value == "-" else tuple(value.split(",")) for value in lists)
        if kind not in KINDS:
            raise ValueError(f"{where}:{number}: kind {kind!r} is not one of {', '.join(KINDS)}")
        unknown = set(modes) - set(MODES)
        if unknown:
            raise ValueError(f"{where}:{number}: unknown mode(s) {', '.join(sorted(unknown))}")
        labs.append(Lab(name, kind, programs, sources, libraries, modes))
    return labs


@functools.cache
def labs() -> tuple[Lab, ...]:
    return tuple(parse(REGISTRY.read_text()))


def names() -> list[str]:
    return [lab.name for lab in labs()]


def lab(name: str) -> Lab:
    for entry in labs():
        if entry.name == name:
            return entry
    raise UnknownLab(f"no lab {name!r}: the labs are {', '.join(names())}")


def find(arg: str) -> str:
    """The lab a command-line argument names: 03-tcp-echo, labs/03-tcp-echo/, or just 03 or 3.
    UnknownLab says what was wrong, in a line."""
    known = names()
    path = Path(arg)
    if path.is_file():
        example = path.parent.name if path.parent.name in known else known[0]
        raise UnknownLab(f"{arg} is a file; give a lab, such as {example}")
    name = path.name if arg.strip("/") else ""
    if name in known:
        return name
    if name.isdigit():
        for candidate in known:
            if candidate[:2] == name.zfill(2):
                return candidate
    raise UnknownLab(f"no lab {arg!r}; the labs are {known[0]} ... {known[-1]} "
                     f"({' '.join(lab[:2] for lab in known)})")
