"""The command line answers a person as they type: options and positionals in any order, for
every command, and a wrong folder, file or lab answered in one line with exit status 2, never
a traceback. Nothing is built or graded: every case here is refused before that."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader.__main__ import bad_paths, make_parser, parse_intermixed

from .support import ROOT

LAB = "01-tcp-basic"


@pytest.mark.parametrize("argv", [
    ["batch", "FOLDER", "--out", "DIR", "--jobs", "1", LAB],   # the order --help shows
    ["batch", "--out", "DIR", "FOLDER", LAB, "--jobs", "1"],
    ["batch", "FOLDER", LAB, "--jobs", "1", "--out", "DIR"],
])
def test_batch_takes_its_options_anywhere(argv):
    args = parse_intermixed(make_parser(), argv)
    assert (args.command, str(args.folder), args.labs, str(args.out), args.jobs) == \
        ("batch", "FOLDER", [LAB], "DIR", 1)


@pytest.mark.parametrize("argv", [
    ["grade", "--impl", "solutions", LAB, "--html"],
    ["grade", LAB, "--impl", "solutions", "--html"],
    ["grade", "--html", LAB, "--impl", "solutions"],
])
def test_grade_takes_its_options_anywhere(argv):
    args = parse_intermixed(make_parser(), argv)
    assert (args.labs, args.impl, args.html) == ([LAB], "solutions", True)


def test_platform_and_package_commands_take_their_options_anywhere():
    parser = make_parser()
    a = parse_intermixed(parser, ["gradescope", "--tests-dir", "T", "SUB", "RES.json"])
    b = parse_intermixed(parser, ["gradescope", "SUB", "--tests-dir", "T", "RES.json"])
    assert (a.submission, a.results, a.tests_dir) == (b.submission, b.results, b.tests_dir)
    c = parse_intermixed(parser, ["package", "--hidden", "H", "gradescope"])
    assert (c.kind, c.hidden) == ("gradescope", [Path("H")])


def test_a_wrong_folder_or_file_is_named(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    parser = make_parser()
    for argv, said in [
        (["batch", str(tmp_path / "missing"), "--out", "o"], "no such folder"),
        (["batch", str(afile), "--out", "o"], "not a folder"),
        (["batch", str(tmp_path), "--out", str(afile)], "not a folder"),
        (["grade", "--impl", str(afile)], "not a folder"),
        (["grade", "--tests-dir", str(tmp_path / "missing")], "no such folder"),
        (["package", "student", "--out", str(tmp_path)], "a folder"),
    ]:
        problem = bad_paths(parse_intermixed(parser, argv))
        assert problem and said in problem, (argv, problem)


@pytest.mark.parametrize("argv", [
    ["batch", "MISSING", LAB, "--out", "OUT"],
    ["batch", "TMP", "--out", "OUT", "99-no-such-lab"],
    ["batch", "AFILE", "--out", "OUT"],
    ["grade", LAB, "--impl", "MISSING"],
    ["grade", "--bogus"],
    ["package", "nope"],
    ["check", "--valgrind", "99-no-such-lab"],
    ["check", LAB, "--impl", "AFILE"],
    ["check", LAB, "--impl", "TMP"],  # a folder without the lab: not labs/'s skeleton instead
    ["watch", "--impl", "solutions"],
    ["nope"],
])
def test_a_wrong_argument_gets_one_line_and_status_2(argv, tmp_path):
    (tmp_path / "afile").write_text("")
    names = {"MISSING": tmp_path / "missing", "AFILE": tmp_path / "afile", "TMP": tmp_path,
             "OUT": tmp_path / "out"}
    argv = [str(names.get(a, a)) for a in argv]
    done = subprocess.run([sys.executable, "-m", "grader", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr


def test_check_takes_a_tree_as_grade_does(tmp_path):
    """A student's folder with labs/ inside is checked at its labs/, as grade takes it."""
    from grader.loop import parse
    (tmp_path / "labs" / LAB).mkdir(parents=True)
    request = parse("check", ["--impl", str(tmp_path), LAB])
    assert request.impl == str(tmp_path / "labs")
    assert request.passed_on == ["--impl", str(tmp_path / "labs")]
