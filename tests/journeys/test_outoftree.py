"""The out-of-tree journey, from a fresh clone: a build folder anywhere (outside the clone),
configured, built and tested with CMake's own commands, nothing assuming ./build."""
import pytest

LAB = "01-tcp-basic"
# The whole selftest label (every lab's mutants, the variants, the hostile corpus) takes
# far longer than the journeys' budget; these are the self-tests that read the build folder
# CTest hands them: lab 01's mutants (each mistake loses points), the harness, the reports
# (a grading in the sandbox), and the two that check files only.
SUBSET = "^(lab01-mutants|harness|reports|labs-complete|docs-agree)$"


@pytest.mark.timeout(900)
def test_outoftree(journey):
    course = journey.clone()
    anywhere = journey.path("elsewhere", "build")
    journey.run(f"cmake -S . -B {anywhere}", course, timeout=120)
    # -j 2 as ./socklab build and ./socklab test do: a serial build alone would eat the budget.
    journey.run(f"cmake --build {anywhere} -j 2", course, timeout=600)
    journey.run(f"ctest --test-dir {anywhere} -L selftest -R '{SUBSET}' -j 2 "
                "--output-on-failure", course, timeout=600)
    # The reference gets full marks: lab 01's checks, run by CTest against solutions/.
    journey.run(f"ctest --test-dir {anywhere} -R '^lab01$' --output-on-failure", course,
                timeout=300)
    assert not (course / "build").exists(), "something made ./build in an out-of-tree build"
