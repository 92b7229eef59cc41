"""The scoreboard: a line per lab, the total, and for each lab that lost points its first
failure, in the few lines a terminal shows (the whole story is feedback.txt's).

The text output of `./socklab grade`, and the top of feedback.txt, results.json's `output`
(without the hidden checks: see visible_only) and prairielearn.json's `output`.
"""
from __future__ import annotations

from harness.results import Grading, LabResult, Outcome


def first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


EXCERPT_HEAD = 12  # lines of a failure's message: the step, expected, actual, hint
EXCERPT_TAIL = 5  # last lines of each stream of each program


def excerpt(message: str) -> list[str]:
    """The part of a failure's story that fits on a terminal: its head (the step, expected,
    actual, hint), and for each program how it ended and the last lines of its stdout and
    stderr, where its own words (the clue, often) are. The steps and the commands to
    reproduce it are left to the full feedback."""
    blocks = message.split("\n\n")
    head = blocks[0].splitlines()
    out = head[:EXCERPT_HEAD] + (["..."] if len(head) > EXCERPT_HEAD else [])
    for block in blocks[1:]:
        lines = block.splitlines()
        if not lines or lines[0] in ("steps:",) or lines[0].startswith("to reproduce"):
            continue
        if not lines[0].startswith(" ") and "):" in lines[0]:  # "server (how it ended): cmd"
            out.append(lines[0])
            stream: list[str] = []
            for line in lines[1:] + ["  end:"]:
                if line.startswith("    | "):
                    stream.append(line)
                    continue
                if len(stream) > EXCERPT_TAIL:
                    out.append(f"    | ... ({len(stream) - EXCERPT_TAIL} lines before)")
                out += stream[-EXCERPT_TAIL:]
                stream = []
                if line != "  end:":
                    out.append(line.split(", last ")[0].rstrip(":") + ":"
                               if line.endswith(":") else line)
        else:
            out += lines[:EXCERPT_HEAD]
    return out


def check_command(lab: str, impl: str = "labs") -> str:
    """The command that reruns one lab's checks on a fresh build."""
    return f"./socklab check {lab}" + ("" if impl == "labs" else f" --impl {impl}")


def visible_only(grading: Grading) -> Grading:
    """The grading without its hidden checks (an instructor's extra tests): what a student
    may see before the grades are published."""
    labs = [LabResult(r.lab, r.built, r.build_output, [c for c in r.checks if not c.hidden],
                      r.error) for r in grading.labs]
    return Grading(grading.title, grading.impl, labs, grading.elapsed, grading.about)


def scoreboard(grading: Grading, impl: str | None = None, hidden: bool = True) -> str:
    """impl: what was graded, for the command that reruns a lab; by default read from the
    title ("socklab: labs/", "socklab: /path/to/tree"), as every grader writes it.
    hidden=False: without the hidden checks, their points and their failures, and a line
    that says how many there are."""
    title = grading.title
    if impl is None:
        impl = title.removeprefix("socklab: ").rstrip("/") or "labs"
    kept_back = grading.totals.hidden_checks if not hidden else 0
    if not hidden:
        grading = visible_only(grading)
    totals = grading.totals
    out = [title, "", f"{'lab':<20} {'checks':>7}  {'points':>11}"]
    for r in grading.labs:
        pct = f"{100 * r.score / r.max_score:3.0f}%" if r.max_score else "  - "
        out.append(f"{r.lab:<20} {r.passed:>3}/{len(r.checks):<3}  "
                   f"{r.score:>5g}/{r.max_score:<5g} {pct:>4}  {r.problem}".rstrip())
    pct = f"{100 * totals.score / totals.max_score:3.0f}%" if totals.max_score else ""
    out.append(f"{'total':<20} {'':>7}  {totals.score:>5g}/{totals.max_score:<5g} {pct:>4}")
    if kept_back:
        out.append(f"(and {kept_back} more check{'' if kept_back == 1 else 's'}, "
                   "whose results are shown when the grades are published)")
    for r in grading.labs:
        if not r.built:
            out += ["", f"{r.lab} does not compile:", *r.build_output.strip().splitlines()[-25:]]
        elif r.outcome is Outcome.ERROR:
            out += ["", f"{r.lab}: the tests could not run:",
                    r.error or "no check was collected"]
        else:
            failed = [c for c in r.checks if c.outcome is Outcome.FAILED]
            if failed:
                c = failed[0]
                said = f"{c.title} ({c.name})"  # the sentence, then -k's name
                out += ["", f"{r.lab}: 1 check failed: {said}" if len(failed) == 1 else
                        f"{r.lab}: {len(failed)} checks failed; the first: {said}"]
                out += [f"  {line}".rstrip() for line in excerpt(c.message)]
                out.append(f"  all of them: {check_command(r.lab, impl)}")
    return "\n".join(out)
