"""The self-study journey (README.md, "The labs"), from a fresh clone: `./socklab build`,
then the first walkthrough's commands (docs/01-tcp-basic.md), run and compared with its
transcripts by the doc checker, as CTest's docs tests run it. Then the same with one mistake
in the programs the walkthrough runs (a mutant `./socklab build` made): its transcripts no
longer hold."""
import re

import pytest

from .journey import PYTHON, doc_command

LAB = "01-tcp-basic"
WALKTHROUGH = f"docs/{LAB}.md"
MUTANT = "server-logs-its-own-address"  # the server logs a port the client never printed


def doc_checker(course, build: str = "build") -> str:
    """The doc checker's command as cmake/tests.cmake gives it, for the first walkthrough,
    with the build of `./socklab build` (./build) or another."""
    cmake = (course / "cmake" / "tests.cmake").read_text()
    found = re.search(r"COMMAND \$\{SOCKLAB_PYTHON\} (-m harness\.doccheck[^\n]*?)\$\{doc\}",
                      cmake)
    assert found, "cmake/tests.cmake no longer runs the doc checker as -m harness.doccheck"
    args = found.group(1).replace("${CMAKE_BINARY_DIR}", build)
    return f"{PYTHON} {args}{WALKTHROUGH}"


@pytest.mark.timeout(900)
def test_selfstudy(journey):
    course = journey.clone()
    build = doc_command(course / "README.md", r"^\./socklab build$")
    journey.run(build, course, timeout=600)
    check = doc_checker(course)
    journey.run(check, course, timeout=180)  # every transcript of the walkthrough holds

    # A build whose lab 01 solution is the mutant the build made (build/mutant/LAB/NAME/):
    # links to everything else, so nothing is built again.
    mistaken = journey.path("mistaken-build")
    for entry in (course / "build").iterdir():
        if entry.name != "solutions":
            (mistaken / entry.name).symlink_to(entry)
    journey.path("mistaken-build", "solutions")
    for entry in (course / "build" / "solutions").iterdir():
        target = course / "build" / "mutant" / LAB / MUTANT if entry.name == LAB else entry
        (mistaken / "solutions" / entry.name).symlink_to(target)
    out = journey.run(doc_checker(course, str(mistaken)), course, timeout=180, expect=(1,))
    journey.expect(WALKTHROUGH in out, f"the doc checker should name the line of "
                   f"{WALKTHROUGH} that no longer holds", out)
