"""Every lesson is a check and a mutant: docs/lessons/NN-name.md maps each sentence of a lab's
handout or walkthrough that promises what breaks to the test that shows it and to the mutant
that commits that mistake. This self-test reads those tables and starts no program.

A table row is `| promise | check | mutant |`: check is a test function of the lab's module
(`test_NAME`, optionally with a parameter id such as `[short-io]`), mutant the stem of
tests/mutants/LAB/MUTANT.patch, whose "Caught by:" header must list the check.
"""
import re
from pathlib import Path

import pytest

from .support import ROOT, lab_module

LESSONS = ROOT / "docs" / "lessons"
MUTANTS = ROOT / "tests" / "mutants"
LABS = sorted(p.name for p in (ROOT / "labs").iterdir() if re.match(r"^\d\d-", p.name))

# Mutants being written on other branches for issue 11: their rows may point at a patch (and
# a check) that does not exist yet. Remove a name once its patch has landed.
def rows(lab: str) -> list[tuple[int, str, str, str]]:
    """(line number, promise, check, mutant) of each row of the lab's table."""
    found = []
    lines = (LESSONS / f"{lab}.md").read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.startswith("|"):
            continue
        # a `|` inside a promise is written `\|`
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells == ["promise", "check", "mutant"] or set("".join(cells)) <= set("-: "):
            continue
        assert len(cells) == 3, f"{lab}.md:{number}: a row has three cells: {line}"
        found.append((number, *(c.strip("`") if i else c for i, c in enumerate(cells))))
    return found


def defined_tests(lab: str) -> set[str]:
    return set(re.findall(r"^def (test_\w+)\(", lab_module(lab).read_text(), re.M))


def caught_by(patch: Path) -> set[str]:
    for line in patch.read_text().splitlines():
        if line.startswith("--- "):
            break
        if m := re.match(r"^Caught by: *(.*)$", line):
            return {name.strip() for name in m.group(1).split(",") if name.strip()}
    return set()


ALL_ROWS = [(lab, *row) for lab in LABS if (LESSONS / f"{lab}.md").exists() for row in rows(lab)]


@pytest.mark.parametrize("lab", LABS)
def test_lab_has_a_lessons_table(lab):
    table = LESSONS / f"{lab}.md"
    assert table.exists(), f"{lab} has no lessons table: write docs/lessons/{lab}.md"
    assert rows(lab), f"docs/lessons/{lab}.md has no rows"


@pytest.mark.parametrize("lab", LABS)
def test_the_table_is_the_whole_truth(lab):
    """Nothing follows the table: no list of promises "not covered yet", no heading or bullet
    after it. A promise is a row with a check and a mutant, or it is reworded in the
    handout or walkthrough so that it no longer promises a failure the course does not show."""
    table = LESSONS / f"{lab}.md"
    if not table.exists():
        pytest.skip("no table (test_lab_has_a_lessons_table fails)")
    lines = table.read_text().splitlines()
    last = max((n for n, line in enumerate(lines) if line.startswith("|")), default=-1)
    after = [(n, line) for n, line in enumerate(lines[last + 1:], last + 2) if line.strip()]
    assert not after, (f"docs/lessons/{lab}.md:{after[0][0]}: text after the table "
                       f"({after[0][1][:60]!r}): move each promise into the table as a row "
                       "with its check and mutant, or reword the sentence in the handout or "
                       "walkthrough")
    for number, line in enumerate(lines, 1):
        assert not re.search(r"without a check|not covered|no mutant yet", line, re.I), \
            f"docs/lessons/{lab}.md:{number}: a promise left uncovered: {line[:80]!r}"


@pytest.mark.parametrize("lab,line,promise,check,mutant", ALL_ROWS,
                         ids=[f"{r[0]}:{r[1]}" for r in ALL_ROWS])
def test_promise_has_a_check_and_a_mutant(lab, line, promise, check, mutant):
    where = f"docs/lessons/{lab}.md:{line} ({promise[:60]}...)"
    assert promise, f"{where}: the promise is empty"
    assert check and check not in ("-", "—"), f"{where}: no check"
    assert mutant and mutant not in ("-", "—"), f"{where}: no mutant"
    patch = MUTANTS / lab / f"{mutant}.patch"
    base = check.split("[")[0]
    functions = defined_tests(lab)
    assert base in functions, f"{where}: {lab_module(lab).name} has no 'def {base}('"
    assert patch.exists(), f"{where}: no mutant tests/mutants/{lab}/{mutant}.patch"
    listed = caught_by(patch)
    assert check in listed or base in listed, \
        f"{where}: {mutant}.patch's 'Caught by:' ({', '.join(sorted(listed))}) lacks {check}"
