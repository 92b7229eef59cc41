"""What grading writes: Gradescope's results.json, one JUnit XML, a feedback text for the
student, and summary.json (everything, for our own tools).

results.json follows Gradescope's format (docs/instructors.md quotes the schema, and the
self-tests validate our output against it). A lab that does not compile appears as a failed
"compile" entry carrying the compiler's output, and all its checks score 0.
"""
from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from .grade import Check, LabResult, scoreboard


def lab_number(lab: str) -> str:
    return lab.split("-", 1)[0]


def check_title(lab: str, check: Check) -> str:
    return f"{lab}: {check.doc}" if check.doc else f"{lab}: {check.name}"


def code_block(text: str) -> str:
    """Text shown as it is in Markdown (Gradescope's "md" output format): a fenced block that
    nothing in the text can close."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text}\n{fence}"


def gradescope(results: list[LabResult], title: str, elapsed: float,
               hidden_visibility: str = "after_published", about: dict | None = None) -> dict:
    """Gradescope's results.json: Markdown output, each story in a code block."""
    tests = []
    for r in results:
        number = lab_number(r.lab)
        if not r.built:
            tests.append({"name": f"{r.lab}: compile", "score": 0.0, "max_score": 0.0,
                          "status": "failed", "number": f"{number}.0", "tags": [r.lab],
                          "visibility": "visible", "output_format": "md",
                          "output": f"{r.lab} does not compile. The compiler said:\n\n"
                                    + code_block(r.build_output[-8000:])})
        if r.error:
            tests.append({"name": f"{r.lab}: run the tests", "score": 0.0, "max_score": 0.0,
                          "status": "failed", "number": f"{number}.0", "tags": [r.lab],
                          "visibility": "visible", "output_format": "md",
                          "output": code_block(r.error)})
        for i, c in enumerate(r.checks, 1):
            tests.append({"name": check_title(r.lab, c), "score": c.score,
                          "max_score": c.points, "number": f"{number}.{i}",
                          "status": "passed" if c.outcome == "passed" else "failed",
                          "tags": [r.lab], "output_format": "md",
                          "output": code_block(c.message) if c.message else "passed",
                          "visibility": hidden_visibility if c.hidden else "visible"})
    output = code_block(scoreboard(results, title))
    if about and about.get("sandbox_detail"):
        output += f"\n\n{about['sandbox_detail']}"
    return {"score": sum(r.score for r in results), "execution_time": round(elapsed, 1),
            "output": output, "output_format": "md", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def classroom(results: list[LabResult]) -> dict:
    """GitHub Classroom's autograding result (what its grading reporter reads, base64-encoded,
    from a step's `result` output): a test per check, with its points."""
    tests = [{"name": check_title(r.lab, c), "status": "pass" if c.outcome == "passed" else "fail",
              "score": c.score, "max_score": c.points, "line_no": 0, "execution_time": "",
              "message": "" if c.outcome == "passed" else c.message[-2000:]}
             for r in results for c in r.checks]
    everything = all(t["status"] == "pass" for t in tests) and all(r.built for r in results)
    return {"version": 1, "status": "pass" if tests and everything else "fail",
            "max_score": sum(r.max_score for r in results), "tests": tests}


def prairielearn(results: list[LabResult], title: str, about: dict | None = None) -> dict:
    """PrairieLearn's external grader results: a score from 0 to 1, a test per check."""
    total = sum(r.score for r in results)
    maximum = sum(r.max_score for r in results)
    tests = []
    for r in results:
        if not r.built:
            tests.append({"name": f"{r.lab}: compile", "points": 0, "max_points": 0,
                          "message": "does not compile", "output": r.build_output[-8000:]})
        for c in r.checks:
            tests.append({"name": check_title(r.lab, c), "description": c.name,
                          "points": c.score, "max_points": c.points,
                          "message": "" if c.outcome == "passed" else c.message.splitlines()[0]
                          if c.message else c.outcome, "output": c.message})
    output = scoreboard(results, title)
    if about and about.get("sandbox_detail"):
        output += f"\n\n{about['sandbox_detail']}"
    return {"gradable": True, "score": total / maximum if maximum else 0.0,
            "message": f"{total:g} of {maximum:g} points", "output": output, "tests": tests}


# Characters XML 1.0 cannot hold at all; a program may print any of them.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return XML_INVALID.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def junit(results: list[LabResult]) -> ET.ElementTree:
    suites = ET.Element("testsuites", name="socklab")
    for r in results:
        suite = ET.SubElement(suites, "testsuite", name=r.lab,
                              tests=str(len(r.checks)),
                              failures=str(sum(c.outcome == "failed" for c in r.checks)),
                              time=f"{sum(c.duration for c in r.checks):.3f}")
        if not r.built:
            case = ET.SubElement(suite, "testcase", classname=r.lab, name="compile", time="0")
            ET.SubElement(case, "failure", message="does not compile").text = \
                xml_safe(r.build_output)
        for c in r.checks:
            # named by the sentence a student reads, like every other report; the function
            # (what -k takes) is a property
            case = ET.SubElement(suite, "testcase", classname=r.lab, name=c.doc or c.name,
                                 time=f"{c.duration:.3f}")
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="points", value=f"{c.points:g}")
            ET.SubElement(props, "property", name="check", value=c.name)
            if c.outcome == "failed":
                first = c.message.splitlines()[0] if c.message else "failed"
                ET.SubElement(case, "failure", message=xml_safe(first)).text = xml_safe(c.message)
            elif c.outcome == "skipped":
                ET.SubElement(case, "skipped", message=xml_safe(c.message))
    return ET.ElementTree(suites)


def feedback(results: list[LabResult], title: str) -> str:
    """The whole story for the student: the scoreboard, then every failure in full."""
    out = [scoreboard(results, title)]
    for r in results:
        for c in r.checks:
            if c.outcome == "failed" and r.built:
                out += ["", "=" * 78, check_title(r.lab, c), "-" * 78, c.message]
    return "\n".join(out) + "\n"


def summary(results: list[LabResult], impl: str, about: dict | None = None) -> dict:
    return {"impl": impl, "time": time.time(), **(about or {}),
            "score": sum(r.score for r in results), "max_score": sum(r.max_score for r in results),
            "labs": [{"lab": r.lab, "built": r.built, "score": r.score, "max_score": r.max_score,
                      "error": r.error, "build_output": "" if r.built else r.build_output,
                      "checks": [c.__dict__ for c in r.checks]} for r in results]}


def write_all(results: list[LabResult], out: Path, title: str, impl: str, elapsed: float,
              about: dict | None = None, html: bool = True) -> None:
    """Writes results.json, junit.xml, feedback.txt, summary.json and (with html) report.html
    into out. about: how it was graded (the sandbox's mode, the submission's digest)."""
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json",
           json.dumps(gradescope(results, title, elapsed, about=about), indent=1))
    write_atomic(out / "summary.json", json.dumps(summary(results, impl, about), indent=1))
    write_atomic(out / "prairielearn.json",
                 json.dumps(prairielearn(results, title, about), indent=1))
    write_atomic(out / "classroom.json", json.dumps(classroom(results), indent=1))
    write_atomic(out / "feedback.txt", feedback(results, title))
    tree = junit(results)
    ET.indent(tree)
    write_atomic(out / "junit.xml", ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True))
    if html:
        from . import htmlreport  # it imports this module's neighbours: import it late
        htmlreport.write(results, out, title, about)


def write_atomic(path: Path, text: str) -> None:
    """Writes a whole new file and renames it over path: readers never see half a file, even
    if we are killed mid-way, and a link planted at path is replaced, never written through."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
