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


def gradescope(results: list[LabResult], title: str, elapsed: float,
               hidden_visibility: str = "after_published", about: dict | None = None) -> dict:
    tests = []
    for r in results:
        number = lab_number(r.lab)
        if not r.built:
            tests.append({"name": f"{r.lab}: compile", "score": 0.0, "max_score": 0.0,
                          "status": "failed", "number": f"{number}.0", "tags": [r.lab],
                          "visibility": "visible",
                          "output": f"{r.lab} does not compile. The compiler said:\n\n"
                                    f"{r.build_output[-8000:]}"})
        if r.error:
            tests.append({"name": f"{r.lab}: run the tests", "score": 0.0, "max_score": 0.0,
                          "status": "failed", "number": f"{number}.0", "tags": [r.lab],
                          "visibility": "visible", "output": r.error})
        for i, c in enumerate(r.checks, 1):
            tests.append({"name": check_title(r.lab, c), "score": c.score,
                          "max_score": c.points, "number": f"{number}.{i}",
                          "status": "passed" if c.outcome == "passed" else "failed",
                          "tags": [r.lab], "output": c.message or "passed",
                          "visibility": hidden_visibility if c.hidden else "visible"})
    output = scoreboard(results, title)
    if about and about.get("sandbox_detail"):
        output += f"\n\n{about['sandbox_detail']}"
    return {"score": sum(r.score for r in results), "execution_time": round(elapsed, 1),
            "output": output, "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


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
            case = ET.SubElement(suite, "testcase", classname=r.lab, name=c.name,
                                 time=f"{c.duration:.3f}")
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="points", value=f"{c.points:g}")
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
              about: dict | None = None) -> None:
    """Writes results.json, junit.xml, feedback.txt and summary.json into out. about: how it
    was graded (the sandbox's mode, the submission's digest), for the reports."""
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json",
           json.dumps(gradescope(results, title, elapsed, about=about), indent=1))
    write_atomic(out / "summary.json", json.dumps(summary(results, impl, about), indent=1))
    write_atomic(out / "feedback.txt", feedback(results, title))
    tree = junit(results)
    ET.indent(tree)
    write_atomic(out / "junit.xml", ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True))


def write_atomic(path: Path, text: str) -> None:
    """Writes a whole new file and renames it over path: readers never see half a file, even
    if we are killed mid-way, and a link planted at path is replaced, never written through."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
