"""socklab's harness: runs any implementation of a lab from the outside, over real sockets,
and tells a student what went wrong in words they can act on.

Modules, one job each:
  timing     deadlines (every wait has one)
  process    start programs in their own process group, read their output, stop them
  valgrind   run a program under memcheck and judge its report
  checks     the failures a test raises: what was expected, what came back, a hint
  story      the steps a test took, rendered with the programs' last lines on failure
  programs   which binaries implement a lab (labs/, solutions/, a mutant, a submission)
  peers      the other side of the conversation, written in Python
  lab        the `lab` fixture: start servers, run clients, all recorded in the story
  pytest_plugin  options (--impl, --valgrind, ...), fixtures, failure reports, results
  grade      the scoreboard of the main command
"""
