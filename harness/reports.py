"""What grading writes: Gradescope's results.json, one JUnit XML, a feedback text for the
student, and summary.json (everything, for our own tools).

results.json follows Gradescope's format (docs/instructors.md quotes the schema, and the
self-tests validate our output against it). A lab that does not compile appears as a failed
"compile" entry carrying the compiler's output, and all its checks score 0.
"""
from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from .grade import Check, LabResult, scoreboard


def lab_number(lab: str) -> str:
    return lab.split("-", 1)[0]


def check_title(lab: str, check: Check) -> str:
    return f"{lab}: {check.doc}" if check.doc else f"{lab}: {check.name}"


def gradescope(results: list[LabResult], title: str, elapsed: float,
               hidden_visibility: str = "after_published") -> dict:
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
    return {"score": sum(r.score for r in results), "execution_time": round(elapsed, 1),
            "output": scoreboard(results, title), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def junit(results: list[LabResult]) -> ET.ElementTree:
    suites = ET.Element("testsuites", name="socklab")
    for r in results:
        suite = ET.SubElement(suites, "testsuite", name=r.lab,
                              tests=str(len(r.checks)),
                              failures=str(sum(c.outcome == "failed" for c in r.checks)),
                              time=f"{sum(c.duration for c in r.checks):.3f}")
        if not r.built:
            case = ET.SubElement(suite, "testcase", classname=r.lab, name="compile", time="0")
            ET.SubElement(case, "failure", message="does not compile").text = r.build_output
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=r.lab, name=c.name,
                                 time=f"{c.duration:.3f}")
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="points", value=f"{c.points:g}")
            if c.outcome == "failed":
                first = c.message.splitlines()[0] if c.message else "failed"
                ET.SubElement(case, "failure", message=first).text = c.message
            elif c.outcome == "skipped":
                ET.SubElement(case, "skipped", message=c.message)
    return ET.ElementTree(suites)


def feedback(results: list[LabResult], title: str) -> str:
    """The whole story for the student: the scoreboard, then every failure in full."""
    out = [scoreboard(results, title)]
    for r in results:
        for c in r.checks:
            if c.outcome == "failed" and r.built:
                out += ["", "=" * 78, check_title(r.lab, c), "-" * 78, c.message]
    return "\n".join(out) + "\n"


def summary(results: list[LabResult], impl: str) -> dict:
    return {"impl": impl, "time": time.time(),
            "score": sum(r.score for r in results), "max_score": sum(r.max_score for r in results),
            "labs": [{"lab": r.lab, "built": r.built, "score": r.score, "max_score": r.max_score,
                      "error": r.error, "build_output": "" if r.built else r.build_output,
                      "checks": [c.__dict__ for c in r.checks]} for r in results]}


def write_all(results: list[LabResult], out: Path, title: str, impl: str, elapsed: float) -> None:
    """Writes results.json, junit.xml, feedback.txt and summary.json into out."""
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "results.json", json.dumps(gradescope(results, title, elapsed), indent=1))
    _write(out / "summary.json", json.dumps(summary(results, impl), indent=1))
    _write(out / "feedback.txt", feedback(results, title))
    tree = junit(results)
    ET.indent(tree)
    tmp = out / "junit.xml.tmp"
    tree.write(tmp, encoding="unicode", xml_declaration=True)
    tmp.replace(out / "junit.xml")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # readers never see half a file, even if we are killed mid-way
