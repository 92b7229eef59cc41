"""Each skeleton in labs/ compiles, and fails every test of its lab quickly, with a message
that names the TODO step where the student's program stopped; and every function a skeleton
provides is the solution's, word for word.

The chosen labs' test modules run against labs/ in one pytest (one start-up for them all),
and each lab's test reads its own checks from the results."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import Grading

from .support import ROOT, Run, lab_module, labs_with_tests

FAST = 5.0  # seconds: the acceptance bound for a skeleton's failure
pytestmark = pytest.mark.timeout(600)  # the first lab's test waits for every lab's run


@pytest.fixture(scope="module")
def skeleton_runs(request, settings, tmp_path_factory) -> dict:
    """Every chosen lab's checks on its skeleton: lab -> its Run (its checks by name)."""
    labs = request.config.getoption("--lab") or labs_with_tests()
    results = tmp_path_factory.mktemp("skeletons") / "results.json"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           *(str(lab_module(lab)) for lab in labs), "--impl", "labs",
           "--build-dir", str(settings.build_dir), "--results", str(results)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=500)
    grading = (Grading.from_json(json.loads(results.read_text())) if results.exists() else
               Grading("none"))
    return {lab: Run(done.returncode, done.stdout + done.stderr,
                     {c.name: c for c in (grading.lab(lab).checks if grading.lab(lab) else [])})
            for lab in labs}


def test_skeleton_fails_every_test_fast_naming_the_step(lab_name, skeleton_runs):
    run = skeleton_runs[lab_name]
    tests = run.tests
    assert tests, f"no results from the lab's tests:\n{run.output[-3000:]}"
    passed = [name for name, t in tests.items() if t.outcome != "failed"]
    assert not passed, f"the untouched skeleton of {lab_name} passes {passed}: a test that " \
                       "passes before the student writes anything checks nothing of theirs"
    slow = {name: round(t.duration, 2) for name, t in tests.items() if t.duration >= FAST}
    assert not slow, f"these tests took {FAST} s or more to fail on the skeleton: {slow}\n" + \
        "\n\n".join(f"{n}: failed at {tests[n].failed_at:.2f} s, step {tests[n].failed_step!r}\n"
                     f"{tests[n].message[:2000]}" for n in slow)  # which wait took the time
    unnamed = [name for name, t in tests.items() if "TODO step" not in t.message]
    assert not unnamed, f"these failures do not name a TODO step: {unnamed}\n" + \
        "\n\n".join(tests[n].message[:1500] for n in unnamed[:2])


# -- what a skeleton provides is the solution's, word for word --------------------------------

FUNCTION_RE = re.compile(r"^(?:/\*(?:[^*]|\*(?!/))*\*/\n)?"  # the comment right above, if any
                         r"(?:static |enum |struct |const |unsigned |[a-z_]+[ *]+)+\**"
                         r"([a-z_][a-z0-9_]*)\([^;{]*\)\n\{\n.*?^\}\n", re.MULTILINE | re.DOTALL)
TODO_LINE_RE = re.compile(r"^    /\* TODO step (\d+): see step \1 in README\.md\. \*/\n"
                          r"    todo\(\1, ", re.MULTILINE)


def functions(path: Path) -> dict[str, str]:
    """Each top-level function definition of a C file (the project's style: the name line,
    then `{` and `}` alone at the start of a line), by name."""
    return {m.group(1): m.group(0) for m in FUNCTION_RE.finditer(path.read_text())}


def contract(text: str) -> str:
    """A function's comment and its first line: what it promises, not how it keeps it."""
    return text[:text.index("\n{\n")]


def check_todo(source: Path, name: str, text: str, solution: str) -> None:
    """A function the student writes says each thing once: its contract (the comment above
    and the signature) is the solution's; its body points to the handout's step, with at most
    a given line or two (a buffer, a constant kept in use) and no recipe of its own."""
    where = f"{source.relative_to(ROOT)}: {name}()"
    assert contract(text) == contract(solution), \
        f"{where}: its comment and signature must be the solution's, word for word"
    body = text[text.index("\n{\n") + 1:]
    assert TODO_LINE_RE.search(body), \
        f"{where}: a TODO is one line, '/* TODO step N: see step N in README.md. */', " \
        f"then todo(N, ...)"
    recipe = [c for c in re.findall(r"/\*.*?\*/", body, re.DOTALL) if "\n" in c]
    assert not recipe, f"{where}: the recipe is the handout's, not a comment in the body:\n" \
                       f"{recipe[0]}"


def test_skeleton_functions_are_the_solutions(lab_name):
    """Every function a skeleton gives the student (one without a TODO step) is the
    solution's, word for word; every function the student writes has the solution's
    comment and signature, and a body that points to the handout. The handout says each
    thing once, and so does the code."""
    lab, reference = ROOT / "labs" / lab_name, ROOT / "solutions" / lab_name
    if not reference.exists():
        pytest.skip("no solutions/ here")
    compared = 0
    for source in sorted(lab.glob("*.c")):
        given = functions(source)
        theirs = functions(reference / source.name) if (reference / source.name).exists() else {}
        for name, text in given.items():
            if name not in theirs:
                continue  # the skeleton's own helper
            compared += 1
            if "TODO step" in text or "todo(" in text:
                check_todo(source, name, text, theirs[name])
                continue
            assert text == theirs[name], (
                f"{source.relative_to(ROOT)}: {name}() differs from the solution's; a "
                f"function the skeleton provides must be the solution's, word for word")
    assert compared > 0, f"no function of {lab_name}'s skeleton was compared: is the parser right?"
