"""junit.xml: one <testsuite> per lab, one <testcase> per check, in the structure of Jenkins'
xunit-plugin junit-10.xsd (the contract the suite checks is tests/contracts/junit.xsd, which
also holds what GitLab's unit test reports read).

- A testcase is named by the sentence a student reads (unique in its lab: GitLab keeps only
  the first of two cases with one name), its classname is the lab.
- Every <testsuite> carries tests, failures, errors and skipped; tests counts the "compile"
  case of a lab that does not compile (a <failure>) and the "run the tests" case of a lab
  whose tests could not run (an <error>).
- junit-10.xsd allows no <properties> inside a <testcase>: a check's points and its function
  (what -k takes) are in the case's <system-out>; the lab's points are properties of its
  <testsuite>.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness.results import Grading, Outcome

# Characters XML 1.0 cannot hold at all; a program may print any of them.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return XML_INVALID.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def junit(grading: Grading) -> ET.ElementTree:
    suites = ET.Element("testsuites", name="socklab")
    all_tests = all_failures = all_errors = 0
    for r in grading.labs:
        error = r.outcome is Outcome.ERROR
        failures = sum(c.outcome is Outcome.FAILED for c in r.checks) + (not r.built)
        tests = len(r.checks) + (not r.built) + error
        suite = ET.SubElement(suites, "testsuite", name=r.lab, tests=str(tests),
                              failures=str(failures), errors=str(int(error)),
                              skipped=str(sum(c.outcome is Outcome.SKIPPED for c in r.checks)),
                              time=f"{sum(c.duration for c in r.checks):.3f}")
        all_tests, all_failures, all_errors = (all_tests + tests, all_failures + failures,
                                               all_errors + error)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="points", value=f"{r.score:g}")
        ET.SubElement(props, "property", name="max_points", value=f"{r.max_score:g}")
        if not r.built:
            case = ET.SubElement(suite, "testcase", classname=r.lab, name="compile", time="0")
            ET.SubElement(case, "failure", message="does not compile").text = \
                xml_safe(r.build_output)
        if error:
            case = ET.SubElement(suite, "testcase", classname=r.lab, name="run the tests",
                                 time="0")
            ET.SubElement(case, "error", message="the tests could not run").text = \
                xml_safe(r.error or "no check was collected")
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=r.lab, name=xml_safe(c.title),
                                 time=f"{c.duration:.3f}")
            if c.outcome is Outcome.FAILED:
                first = c.message.splitlines()[0] if c.message else "failed"
                ET.SubElement(case, "failure", message=xml_safe(first)).text = xml_safe(c.message)
            elif c.outcome is Outcome.ERROR:
                ET.SubElement(case, "error", message="the check could not run").text = \
                    xml_safe(c.message)
            elif c.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped", message=xml_safe(c.message))
            ET.SubElement(case, "system-out").text = \
                f"points: {c.score if r.built else 0:g} of {c.points:g}\ncheck: {xml_safe(c.name)}"
    suites.set("tests", str(all_tests))
    suites.set("failures", str(all_failures))
    suites.set("errors", str(all_errors))
    return ET.ElementTree(suites)


def junit_text(grading: Grading) -> str:
    tree = junit(grading)
    ET.indent(tree)
    return ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True)
