"""Points by lesson: what each check of a lab is worth.

A lesson is a test function with all its instances: its parameters (test_x[7], test_x[1024]),
its partial-I/O version (test_x[short-io]) and its memory version (test_x[memory]). One
mistake usually breaks one lesson, and all of that lesson's instances with it; if every
instance were worth a point, a mistake caught by a check with five parameters and two copies
would cost seven times what a mistake caught by a plain check costs.

So each lesson has a weight (docs/lessons/LAB.md, the "weight" table; a lesson it does not
name weighs its @pytest.mark.points(N), else DEFAULT_WEIGHT), an instructor may override
weights in a file (--weights FILE, read by read_file below), and the lab's points are shared
among its lessons in proportion to their weights, then among each lesson's checks equally.
A lab is worth as many points as it has checks in the run; the weights decide only how those
points are shared. Points are counted in hundredths, and the
hundredths left over by rounding go to the checks that lost the most to it, so that a lab's
points add up to its number of checks exactly.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from . import registry

ROOT = registry.ROOT
LESSONS = ROOT / "docs" / "lessons"
DEFAULT_WEIGHT = 1.0
HUNDREDTHS = 100

# The weights table of docs/lessons/LAB.md: its header, then `| test_x | 2 |` rows.
WEIGHTS_HEADER = ["lesson", "weight"]


class WeightsError(Exception):
    """A weights file that cannot be used, in one line: the file, the line, what is wrong."""


def lesson_of(check: str) -> str:
    """The lesson (test function) of a check's pytest id: test_x[7-short-io] -> test_x."""
    return check.split("[", 1)[0]


def _cells(line: str) -> list[str]:
    return [c.strip().strip("`") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table(lab: str, lessons_dir: Path = LESSONS) -> dict[str, float]:
    """The weights table of docs/lessons/LAB.md: lesson -> weight ({} when it has none)."""
    path = lessons_dir / f"{lab}.md"
    if not path.is_file():
        return {}
    weights, inside = {}, False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.startswith("|"):
            inside = False
            continue
        cells = _cells(line)
        if cells == WEIGHTS_HEADER:
            inside = True
        elif inside and not set("".join(cells)) <= set("-: "):
            if len(cells) != 2:
                raise WeightsError(f"{path}:{number}: a weights row is | lesson | weight |")
            weights[cells[0]] = _weight(cells[1], f"{path}:{number}")
    return weights


def _weight(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise WeightsError(f"{where}: the weight {text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise WeightsError(f"{where}: the weight {text!r} must be a finite number above 0")
    return value


def test_functions(module: Path) -> set[str]:
    return set(re.findall(r"^def (test_\w+)\(", module.read_text(), re.M))


def known_lessons(tests_dirs: list[Path]) -> dict[str, set[str]]:
    """Each lab's lessons: the test functions of its modules (test_NN_name.py and an
    instructor's test_NN_name_*.py) in these folders."""
    known = {}
    for lab in registry.names():
        stem = f"test_{lab.replace('-', '_')}"
        known[lab] = set()
        for folder in tests_dirs:
            for module in (*folder.glob(f"{stem}.py"), *folder.glob(f"{stem}_*.py")):
                known[lab] |= test_functions(module)
    return known


def read_file(path: Path, tests_dirs: list[Path]) -> dict[tuple[str, str], float]:
    """An instructor's weights: one `LAB LESSON WEIGHT` a line (`02-recv-buffer
    test_client_keeps_nul_bytes 2`), `#` to the end of a line a comment, blank lines ignored.
    LAB may be its number (02) or folder name. (lab, lesson) -> weight; WeightsError, in one
    line, for a file that is missing, a folder, or has a line that is not right."""
    shown = f"--weights {path}"
    if not path.exists():
        raise WeightsError(f"{shown}: no such file")
    if path.is_dir():
        raise WeightsError(f"{shown}: a folder, not a file of weights")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: an editor's byte-order mark
    except (OSError, UnicodeDecodeError) as e:
        raise WeightsError(f"{shown}: cannot read it: {e}") from None
    known = known_lessons(tests_dirs)
    weights, first_line = {}, {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{shown}:{number}"
        if len(words) != 3:
            raise WeightsError(f"{where}: a line is LAB LESSON WEIGHT "
                               f"(e.g. 02-recv-buffer test_client_keeps_nul_bytes 2): {line.strip()!r}")
        lab_arg, lesson, weight = words
        try:
            lab = registry.find(lab_arg)
        except registry.UnknownLab:
            raise WeightsError(f"{where}: no lab {lab_arg!r} (labs.txt names them)") from None
        if lesson != lesson_of(lesson):
            raise WeightsError(f"{where}: a lesson is a test function with all its instances: "
                               f"{lesson_of(lesson)}, not {lesson}")
        if lesson not in known.get(lab, set()):
            raise WeightsError(f"{where}: {lab} has no check {lesson!r} "
                               f"(a lesson is a test function of tests/test_{lab.replace('-', '_')}.py)")
        if (lab, lesson) in weights:
            raise WeightsError(f"{where}: {lab} {lesson} is weighed twice (first on line "
                               f"{first_line[(lab, lesson)]})")
        weights[(lab, lesson)] = _weight(weight, where)
        first_line[(lab, lesson)] = number
    return weights


def share(checks: list[str], weight_of) -> list[float]:
    """Each check's points, in the order given (checks: their pytest ids): the lab (as many
    points as checks) shared among its lessons by weight_of(lesson), then among each lesson's
    checks equally, in hundredths that add up to the lab's points exactly."""
    lessons = [lesson_of(c) for c in checks]
    per_lesson = Counter(lessons)
    weights = {lesson: weight_of(lesson) for lesson in per_lesson}
    total = sum(weights.values())
    if total <= 0:  # only lessons marked @pytest.mark.points(0): a lab worth nothing
        return [0.0] * len(checks)
    exact = [len(checks) * HUNDREDTHS * weights[lesson] / total / per_lesson[lesson]
             for lesson in lessons]
    points = [int(x) for x in exact]
    left = len(checks) * HUNDREDTHS - sum(points)
    # the hundredths that rounding down left over, to the checks that lost the most to it
    for i in sorted(range(len(checks)), key=lambda i: exact[i] - points[i], reverse=True)[:left]:
        points[i] += 1
    return [p / HUNDREDTHS for p in points]
