"""The docs say what the code does: every option and every module is documented where a reader
looks for it, and nothing documented is gone. No program is started; nothing is generated.

- the pytest plugin's options: harness/pytest_plugin.py's docstring and docs/harness.md's table;
- the grader's commands and options: docs/instructors.md, "Every command and its options";
- ./socklab's header: the commands its code runs, each in the README or the docs;
- the modules of harness/ and grader/: their docstrings and docs/harness.md, "The pieces";
- the Python that runs the harness: harness/programs.py's PYTHON, the one place it is said;
- the compiler flags of cmake/flags.cmake: each explained in the README's "Compiler flags".
"""
from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from grader import loop
from grader.__main__ import make_parser
from harness import programs, pytest_plugin, registry, weights

from .support import ROOT

HARNESS_DOC = ROOT / "docs" / "harness.md"
INSTRUCTORS_DOC = ROOT / "docs" / "instructors.md"
SOCKLAB = ROOT / "socklab"
COMMANDS_SECTION = "## 8. Every command and its options"
PLUGIN_TABLE = "The pytest plugin's options"
INTERNAL_COMMANDS = {"room"}  # the grader's part inside the sandbox: no one types it


# -- reading the docs -------------------------------------------------------------------------

def section(path: Path, heading: str) -> str:
    """The text under heading, up to the next heading of its level or higher (or the end)."""
    text = path.read_text()
    assert heading in text, f"{path.relative_to(ROOT)} has no {heading!r}"
    body = text[text.index(heading) + len(heading):]
    level = len(heading) - len(heading.lstrip("#"))
    end = re.search(r"^#{1,%d} " % level, body, re.MULTILINE)
    return body[:end.start()] if end else body


def table_rows(text: str) -> list[list[str]]:
    """The cells of every row of the first Markdown table in text (| a | b |), header and
    ruler left out; an escaped pipe (\\|) stays inside its cell."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append(cells)
    return rows[2:]  # after the header and the |---| ruler


def options_in(cell: str) -> set[str]:
    """The options a cell names: each `...` that starts with a dash, up to its first space."""
    return {code.split()[0] for code in re.findall(r"`([^`]+)`", cell) if code.startswith("-")}


def words_in(cell: str) -> set[str]:
    return {code.strip() for code in re.findall(r"`([^`]+)`", cell)}


# -- the pytest plugin ------------------------------------------------------------------------

def plugin_options() -> set[str]:
    names: set[str] = set()

    class Group:
        def addoption(self, *opts, **kwargs):
            names.update(o for o in opts if o.startswith("--"))

    class Parser:
        def getgroup(self, name, *args, **kwargs):
            return Group()

    pytest_plugin.pytest_addoption(Parser())
    return names


def test_the_plugins_options_are_the_documented_ones():
    """docs/harness.md's table and the plugin's docstring name exactly the plugin's options."""
    code = plugin_options()
    assert code, "pytest_addoption added no option"
    text = HARNESS_DOC.read_text()
    assert PLUGIN_TABLE in text, f"docs/harness.md has no table of {PLUGIN_TABLE!r}"
    documented = set().union(*(options_in(row[0]) for row in
                               table_rows(text[text.index(PLUGIN_TABLE):])))
    assert documented == code, (f"docs/harness.md misses {sorted(code - documented)}, and "
                                f"documents options that are gone: {sorted(documented - code)}")
    docstring = set(re.findall(r"^  (--[\w-]+)", pytest_plugin.__doc__, re.MULTILINE))
    assert docstring == code, (f"harness/pytest_plugin.py's docstring misses "
                               f"{sorted(code - docstring)}, and names options that are gone: "
                               f"{sorted(docstring - code)}")


# -- the weights of the lessons ---------------------------------------------------------------

WEIGHTS_SECTION = "### Points by lesson"


def weights_text(table: dict[str, float]) -> str:
    """How docs/instructors.md writes a lab's weights: `every lesson 1`, or the lessons that
    weigh otherwise (`test_x` 2, `test_y` 0.5) then `the others 1`."""
    others = [f"`{lesson}` {weight:g}" for lesson, weight in table.items() if weight != 1]
    return ", ".join(others + ["the others 1"]) if others else "every lesson 1"


def test_the_weights_table_is_the_lessons_tables():
    """docs/instructors.md's weights table says what each docs/lessons/LAB.md weighs, for
    every lab of labs.txt."""
    rows = table_rows(section(INSTRUCTORS_DOC, WEIGHTS_SECTION))
    documented = {re.sub(r"^\[([^\]]+)\].*$", r"\1", lab): (lessons, text)
                  for lab, lessons, text in rows}
    code = {lab: (str(len(weights.table(lab))), weights_text(weights.table(lab)))
            for lab in registry.names()}
    assert documented == code, (f"docs/instructors.md's {WEIGHTS_SECTION!r} says {documented}, "
                                f"docs/lessons says {code}")


# -- the grader's command line ----------------------------------------------------------------

def grader_pairs() -> set[tuple[str, str]]:
    """(command, option) for every option of every command the grader's parser takes."""
    parser = make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {(name, option) for name, p in sub.choices.items() if name not in INTERNAL_COMMANDS
            for action in p._actions for option in action.option_strings
            if option.startswith("--") and action.dest != "help"}


def documented_pairs() -> set[tuple[str, str]]:
    rows = table_rows(section(INSTRUCTORS_DOC, COMMANDS_SECTION))
    assert rows, f"docs/instructors.md's {COMMANDS_SECTION!r} has no table"
    return {(command, option) for commands, options, *_ in rows
            for command in words_in(commands) for option in options_in(options)}


def test_every_grader_command_and_option_is_documented():
    """docs/instructors.md's table names every command of the grader with every option it
    takes, and no option that is gone."""
    code, documented = grader_pairs(), documented_pairs()
    loop_commands = {"check", "watch"}
    graded = {pair for pair in documented if pair[0] not in loop_commands}
    assert graded == code, (f"docs/instructors.md misses {sorted(code - graded)}, and documents "
                            f"options that are gone: {sorted(graded - code)}")


SAMPLE_VALUES = {"--impl": "solutions", "--short-io": "7", "-k": "greeting"}


@pytest.mark.parametrize("command", ["check", "watch"])
def test_the_documented_check_and_watch_options_are_taken(command):
    """Each option the table gives check or watch is one they take; the options their usage
    line offers, and ./socklab's header, are in the table."""
    lab = loop.known_labs()[0]
    documented = {option for c, option in documented_pairs() if c == command}
    assert documented, f"the table gives {command} no option"
    for option in documented:
        value = [SAMPLE_VALUES[option]] if option in SAMPLE_VALUES else []
        try:
            loop.parse(command, [lab, option, *value])
        except loop.BadArguments as e:
            pytest.fail(f"docs/instructors.md gives `{command} {option}`, but: {e}")
    offered = {o.split()[0] for o in loop.OPTIONS_HELP.split(", ")}
    offered |= socklab_header().get(command, set())
    if command == "watch":
        offered.discard("--impl")  # refused by watch, which says so
        offered.discard("--html")
    assert offered <= documented, f"{command}: {sorted(offered - documented)} not in the table"


# -- ./socklab --------------------------------------------------------------------------------

def socklab_header() -> dict[str, set[str]]:
    """The commands the header of ./socklab lists, each with the options it shows."""
    commands: dict[str, set[str]] = {}
    for line in SOCKLAB.read_text().splitlines():
        if not line.startswith("#"):
            if commands:
                break
            continue
        m = re.match(r"#\s+\./socklab (\S+)(.*)$", line)
        if m:
            for name in m.group(1).split("|"):
                commands[name] = set(re.findall(r"\[(-[\w-]+)", m.group(2)))
    return commands


def socklab_cases() -> set[str]:
    """The commands the script's `case $command in` runs."""
    text = SOCKLAB.read_text()
    body = text[text.index("case $command in"):]
    return {name for pattern in re.findall(r"^  ([\w|-]+)\)", body, re.MULTILINE)
            for name in pattern.split("|") if not name.startswith("-")}


def test_socklabs_header_names_the_commands_it_runs():
    header = socklab_header()
    assert set(header) == socklab_cases(), (f"./socklab's header lists {sorted(header)}, its "
                                            f"code runs {sorted(socklab_cases())}")


def test_every_socklab_command_is_documented():
    docs = "".join(p.read_text() for p in (ROOT / "README.md", HARNESS_DOC, INSTRUCTORS_DOC,
                                           ROOT / "docs" / "performance.md"))
    missing = [c for c in socklab_header() if f"./socklab {c}" not in docs]
    assert not missing, f"./socklab {missing}: not in the README or docs/"


def test_socklabs_header_shows_only_options_there_are():
    pairs = grader_pairs()
    for command, options in socklab_header().items():
        if command in ("grade", "batch", "package"):
            gone = {o for o in options if (command, o) not in pairs}
            assert not gone, f"./socklab's header shows {command} {sorted(gone)}: gone"


def test_benchs_header_options_are_there(capsys):
    """The options ./socklab's header and bench's docstring show are options bench takes."""
    import bench.__main__ as bench_main
    with pytest.raises(SystemExit):
        bench_main.main(["--help"])
    taken = capsys.readouterr().out
    shown = socklab_header()["bench"] | set(re.findall(r"\[(--[\w-]+)", bench_main.__doc__))
    gone = {o for o in shown if not re.search(rf"{o}\b", taken)}
    assert not gone, f"bench's usage shows {sorted(gone)}, which it no longer takes"


# -- the modules ------------------------------------------------------------------------------

def modules(package: str) -> set[str]:
    """Its modules, and its packages (folders with an __init__.py)."""
    return ({p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__"} |
            {p.parent.name for p in (ROOT / package).glob("*/__init__.py")})


def docstring_modules(package: str) -> set[str]:
    """The names of a package docstring's list: lines `  name   what it does`."""
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
    return set(re.findall(r"^  (\w+)\s{2,}\S", doc, re.MULTILINE))


@pytest.mark.parametrize("package", ["harness", "grader", "grader/render"])
def test_the_package_docstring_lists_every_module(package):
    code, listed = modules(package), docstring_modules(package)
    assert listed == code, (f"{package}/__init__.py's docstring misses {sorted(code - listed)}, "
                            f"and lists modules that are gone: {sorted(listed - code)}")


def test_docs_harness_names_every_module():
    """docs/harness.md's tables of the pieces name every file of harness/ and grader/."""
    rows = []
    text = section(HARNESS_DOC, "## The pieces")
    while "| file | job |" in text:
        text = text[text.index("| file | job |"):]
        rows += table_rows(text)
        text = text[len("| file | job |"):]
    named = set().union(*(words_in(row[0]) for row in rows))
    files = {p.relative_to(ROOT).as_posix() for package in ("harness", "grader", "grader/render")
             for p in (ROOT / package).glob("*.py")}
    files |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "harness" / "shim").glob("*.c")}
    assert named == files, (f"docs/harness.md misses {sorted(files - named)}, and names files "
                            f"that are gone: {sorted(named - files)}")


# -- the Python -------------------------------------------------------------------------------

def test_the_python_is_said_in_one_place():
    """harness/programs.py's PYTHON; ./socklab and the CMake files say the same, and no other
    Python file says it again."""
    python = programs.PYTHON
    assignments = re.findall(r"^python=(\S+)", SOCKLAB.read_text(), re.MULTILINE)
    assert assignments == [python], f"./socklab sets python={assignments}, not {python}"
    for path in sorted((ROOT / "cmake").glob("*.cmake")) + [ROOT / "CMakeLists.txt"]:
        for named in re.findall(r"/usr/bin/python[\w.]*", path.read_text()):
            assert named == python, f"{path.relative_to(ROOT)} names {named}, not {python}"
    again = [p.relative_to(ROOT).as_posix()
             for folder in ("harness", "grader", "bench", "tests")
             for p in sorted((ROOT / folder).rglob("*.py"))
             if p != ROOT / "harness" / "programs.py" and p != Path(__file__).resolve()
             and python in p.read_text()]
    assert not again, f"{again} write {python} again: use harness.PYTHON"


# -- the compiler flags: cmake/flags.cmake sets them, the README says why each -----------------

def cmake_flags() -> set[str]:
    """The -W, -f and -D flags every lab program gets (warnings, skeletons' extras, hardening)."""
    text = (ROOT / "cmake" / "flags.cmake").read_text()
    flags = set()
    for name in ("SOCKLAB_WARNINGS", "SOCKLAB_SKELETON_WARNINGS", "SOCKLAB_HARDENING"):
        value = re.search(rf"^set\({name}\b(.*?)\)$", text, re.MULTILINE | re.DOTALL)
        assert value, f"cmake/flags.cmake no longer sets {name}"
        flags |= set(re.findall(r"(?<![\w$])-[WfD][\w=,+-]*", value.group(1)))
    return flags


def test_the_readme_explains_every_compiler_flag():
    text = section(ROOT / "README.md", "## Compiler flags")
    explained = set(re.findall(r"(?<![\w$])-[WfD][\w=,+-]*", text))
    assert cmake_flags() - explained == set(), "README.md's 'Compiler flags' does not explain " \
        f"{sorted(cmake_flags() - explained)}, which cmake/flags.cmake sets"
    stale = {flag for flag in explained - cmake_flags() if flag.startswith("-W")
             and flag != "-Wcast-qual"}  # the one the README says is left out, and why
    assert not stale, f"README.md explains {sorted(stale)}, which cmake/flags.cmake no " \
                      "longer sets"
