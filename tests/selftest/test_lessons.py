"""Every lesson is a check and a mutant: docs/lessons/NN-name.md maps each sentence of a lab's
handout or walkthrough that promises what breaks to the test that shows it and to the mutant
that commits that mistake. This self-test reads those tables and starts no program.

A table row is `| promise | check | mutant |`: check is a test function of the lab's module
(`test_NAME`, optionally with a parameter id such as `[short-io]`), mutant the stem of
tests/mutants/LAB/MUTANT.patch, whose "Caught by:" header must list the check.

A promise quotes its doc: `handout, SECTION: "QUOTE"` (labs/LAB/README.md) or
`walkthrough, SECTION: "QUOTE"` (docs/LAB.md), optionally followed by ` (note)`. SECTION is a
`##` or `###` heading of that doc (the start of it is enough; `intro` is the text before the
first heading; `The steps 3` is step 3 of "The steps"). QUOTE is the doc's own words, `...`
where words are left out, ` — ` between the cells of a Markdown table's row; each piece must
still be in the doc (whitespace aside: handouts wrap their lines anywhere), so a reworded
sentence fails here instead of leaving the table promising what the doc no longer says.

Before it, the lab's weights table (`| lesson | weight |`, read by harness/weights.py for
grading) names every test function of the lab's module once, with a weight above 0.
"""
import re
from pathlib import Path

import pytest

from harness import weights

from .support import ROOT, lab_module

LESSONS = ROOT / "docs" / "lessons"
MUTANTS = ROOT / "tests" / "mutants"
LABS = sorted(p.name for p in (ROOT / "labs").iterdir() if re.match(r"^\d\d-", p.name))


def rows(lab: str) -> list[tuple[int, str, str, str]]:
    """(line number, promise, check, mutant) of each row of the lab's promise table (the
    table whose header is `| promise | check | mutant |`; the weights table comes before)."""
    found = []
    lines = (LESSONS / f"{lab}.md").read_text().splitlines()
    inside = False
    for number, line in enumerate(lines, 1):
        if not line.startswith("|"):
            inside = False
            continue
        # a `|` inside a promise is written `\|`
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells == ["promise", "check", "mutant"]:
            inside = True
            continue
        if not inside or set("".join(cells)) <= set("-: "):
            continue
        assert len(cells) == 3, f"{lab}.md:{number}: a row has three cells: {line}"
        found.append((number, *(c.strip("`") if i else c for i, c in enumerate(cells))))
    return found


PROMISE = re.compile(r'^(?P<doc>handout|walkthrough), (?P<section>.+?): "(?P<quote>.*)"'
                     r'(?: \((?P<note>.*)\))?$')


def doc_path(lab: str, doc: str) -> Path:
    return ROOT / "labs" / lab / "README.md" if doc == "handout" else ROOT / "docs" / f"{lab}.md"


def flat(text: str) -> str:
    """Whitespace collapsed: a handout wraps its sentences anywhere."""
    return " ".join(text.split())


def doc_words(path: Path) -> str:
    """The doc's text as a quote sees it: whitespace collapsed, and a table row read across
    its cells, one cell ` — ` the next (`| a | b |` reads `a — b`; `\\|` inside a cell is `|`)."""
    lines = []
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            line = " — ".join(cell.strip().replace("\\|", "|") for cell in cells)
        lines.append(line)
    return flat("\n".join(lines))


def section_found(path: Path, section: str) -> bool:
    """The section names a heading of the doc, or its intro, or step N of its "The steps"."""
    if section == "intro":
        return True
    text = path.read_text()
    headings = [h.strip().lower() for h in re.findall(r"^#{2,3} +(.*)$", text, re.M)]
    if any(h.startswith(section.lower()) for h in headings):
        return True
    step = re.fullmatch(r"The steps (\d+)", section)
    return bool(step and "the steps" in headings
                and re.search(rf"^{step[1]}\. ", text, re.M))


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
def test_every_lesson_has_a_weight(lab):
    """The weights table names each test function of the lab's module once: a lesson added to
    the module gets its weight written down, and a weight never outlives its lesson."""
    text = (LESSONS / f"{lab}.md").read_text()
    named = [line.split("|")[1].strip().strip("`") for line in text.splitlines()
             if line.startswith("| test_") and line.count("|") == 3]
    table = weights.table(lab)  # a weight that is not a number above 0 fails here
    assert table, f"docs/lessons/{lab}.md has no weights table (| lesson | weight |)"
    twice = sorted({n for n in named if named.count(n) > 1})
    assert not twice, f"docs/lessons/{lab}.md weighs {twice} more than once"
    functions = defined_tests(lab)
    assert set(table) == functions, (
        f"docs/lessons/{lab}.md's weights table misses {sorted(functions - set(table))}, and "
        f"weighs lessons that are gone: {sorted(set(table) - functions)}")


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


@pytest.mark.parametrize("lab,line,promise,check,mutant", ALL_ROWS,
                         ids=[f"{r[0]}:{r[1]}" for r in ALL_ROWS])
def test_promise_quotes_its_doc(lab, line, promise, check, mutant):
    where = f"docs/lessons/{lab}.md:{line}"
    m = PROMISE.match(promise)
    assert m, (f"{where}: a promise reads 'handout, SECTION: \"QUOTE\"' or 'walkthrough, "
               f'SECTION: "QUOTE"\', then an optional \' (note)\': {promise[:80]!r}')
    path = doc_path(lab, m["doc"])
    shown = path.relative_to(ROOT)
    assert section_found(path, m["section"]), \
        f"{where}: {shown} has no heading (## or ###) starting {m['section']!r}"
    words = doc_words(path)
    fragments = [f.strip() for f in re.split(r"\.\.\.|…", m["quote"]) if f.strip()]
    assert fragments, f"{where}: the quote is empty"
    for fragment in fragments:
        assert flat(fragment) in words, \
            f"{where}: {shown} no longer says {fragment!r}: quote its current words"
