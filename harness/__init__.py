"""socklab's harness: runs any implementation of a lab from the outside, over real sockets,
and tells a student what went wrong in words they can act on.

A test module imports what it uses from here (`from harness import Deadline, expect, peers`):
the names in __all__ are the test API. The instructors' tools (grading, batch, packages,
reports, the student's check/watch loop, the docs' checker) are a package apart, grader/,
which imports this one; nothing here imports it (but the two entry points below).

Modules, one job each:
  timing         deadlines (every wait has one)
  process        start programs in their own process group, read their output, stop them
  sandbox        the walls around everything an untrusted submission controls
  limits         rlimits on every program (CPU, memory, file size, processes)
  valgrind       run a program under memcheck and judge its report
  checks         the failures a test raises: what was expected, what came back, a hint
  story          the steps a test took, rendered with the programs' last lines on failure
  trace          a check's conversation: the programs' socket calls and the peers' events
  registry       the labs of the course, as labs.txt lists them (one line per lab)
  programs       which binaries implement a lab (labs/, solutions/, a mutant, a submission)
  peers          the other side of a TCP conversation, written in Python
  udp            the other side of a UDP conversation
  frames         lab 09's frames and uploads, as Python writes and reads them
  shortio        the short-I/O settings (--short-io SPEC) of the shim in shim/shortio.c
  lab            the `lab` fixture: start servers, run clients, all recorded in the story
  pytest_plugin  options (--impl, --valgrind, ...), fixtures, failure reports, results
  results        the typed results (Outcome, CheckResult, LabResult, Grading) and their JSON
  weights        points by lesson: a check's points are its lesson's share of its lab
  __main__       `python3 -m harness ...`: hands over to grader/__main__.py
  doccheck       `python3 -m harness.doccheck`: hands over to grader/doccheck.py
  compat         the oldest Python and pytest it runs on (3.10, 6.2.5): refuses older ones
The C shims the harness preloads into programs are in shim/ (shortio.c, trace.c).
"""
from . import compat  # first: an interpreter older than the course's minimum is told so
from . import peers, programs
from .checks import CheckFailure, expect, expect_equal, read_program_file, show
from .frames import (MAX_HEADER_LEN, Reader, content, frame, header_for, header_frame,
                     length_hint, seed_upload_bytes, sha256, trailer_for, upload_bytes)
from .lab import PAST_THE_LAST_PORT, Result, listening_address
from .peers import Address, Ended
from .process import Proc, describe_status
from .results import CheckResult, Grading, LabResult, Outcome
from .programs import PYTHON
from .timing import Deadline, poll_until
from .udp import UdpPeer, UdpPeerServer, silent_port

__all__ = [
    # time
    "Deadline", "poll_until",
    # what a failed check says
    "CheckFailure", "expect", "expect_equal", "show", "read_program_file",
    # programs
    "Proc", "describe_status", "Result", "PAST_THE_LAST_PORT", "listening_address",
    "programs", "PYTHON",
    # peers
    "peers", "Address", "Ended", "UdpPeer", "UdpPeerServer", "silent_port",
    # lab 09's frames
    "frame", "header_frame", "header_for", "trailer_for", "upload_bytes", "seed_upload_bytes",
    "sha256", "content", "Reader", "MAX_HEADER_LEN", "length_hint",
    # results, as the plugin writes them (--results) and the grader reads them
    "Outcome", "CheckResult", "LabResult", "Grading",
]
