"""The results of a grading, typed: what the pytest plugin writes (--results FILE) and what
every reader (the grader, the student's loop, the batch, each report) reads, through
to_json() and from_json() alone; nothing else builds or parses the JSON.

  Outcome      passed, failed, skipped, or error (the check, or the lab's tests, could not run)
  CheckResult  one check: its pytest id, the sentence a student reads, points, outcome, story
  LabResult    one lab: did it compile, its checks, or why its tests could not run
  Grading      one grading: the labs, and the totals, computed here and nowhere else

Modelled on pytest's TestReport._to_json/_from_json (a plain dict of plain values, read back
into the same class) and check50's CheckResult (the check's name, its description, passed or
not, and why). The harness owns this module and never imports the grader.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

FORMAT = 1  # the version of the JSON below; from_json refuses another
POINTS_DECIMALS = 2  # a check's points are hundredths (harness/weights.py): so are the sums


def total(points) -> float:
    """A sum of points, without the float noise of adding hundredths (0.1 + 0.2)."""
    return round(sum(points), POINTS_DECIMALS)


class Outcome(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"  # it could not be run at all: never a pass, never a student's 0/0

    def __str__(self) -> str:
        return self.value


PARAMETER = re.compile(r"\[(.+)\]$")


def title_for(name: str, doc: str) -> str:
    """The sentence a student reads for a check: its docstring's first line, with the
    parameter id of a parametrized check appended ("... [short-io]", "... [4096]"), since
    the copies of one test share their sentence and every platform needs unique names."""
    match = PARAMETER.search(name)
    title = doc or name.split("[")[0]
    return f"{title} [{match.group(1)}]" if match else title


@dataclass
class CheckResult:
    name: str  # the pytest id: test_x, test_x[4096], test_x[short-io] (what -k takes)
    title: str  # the sentence a student reads, unique within its lab
    points: float = 1.0
    outcome: Outcome = Outcome.PASSED
    message: str = ""  # the failure's story, or why it was skipped
    duration: float = 0.0
    hidden: bool = False  # from an instructor's extra test folder
    events: list[dict] = field(default_factory=list)  # a failed check's conversation (trace.py)
    failed_at: float = 0.0  # when it failed, on the conversation's clock
    failed_step: str = ""

    def __post_init__(self):
        self.outcome = Outcome(self.outcome)
        self.points = float(self.points)

    @property
    def score(self) -> float:
        return self.points if self.outcome is Outcome.PASSED else 0.0

    def to_json(self) -> dict[str, Any]:
        data = {"name": self.name, "title": self.title, "points": self.points,
                "outcome": self.outcome.value, "message": self.message,
                "duration": round(self.duration, 3), "hidden": self.hidden}
        if self.events or self.failed_at or self.failed_step:
            data.update(events=self.events, failed_at=self.failed_at,
                        failed_step=self.failed_step)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CheckResult":
        return cls(name=data["name"], title=data["title"], points=data["points"],
                   outcome=Outcome(data["outcome"]), message=data.get("message", ""),
                   duration=data.get("duration", 0.0), hidden=data.get("hidden", False),
                   events=data.get("events", []), failed_at=data.get("failed_at", 0.0),
                   failed_step=data.get("failed_step", ""))


@dataclass
class LabResult:
    lab: str
    built: bool = True
    build_output: str = ""  # the compiler's output, when it did not compile
    checks: list[CheckResult] = field(default_factory=list)
    error: str = ""  # why the tests could not run (none collected, pytest crashed, timed out)

    @property
    def outcome(self) -> Outcome:
        """ERROR when the tests could not run (whatever else happened), FAILED when it does
        not compile or a check failed, else PASSED."""
        if self.error or (self.built and not self.checks):
            return Outcome.ERROR
        if not self.built or any(c.outcome is not Outcome.PASSED for c in self.checks
                                 if c.outcome is not Outcome.SKIPPED):
            return Outcome.FAILED
        return Outcome.PASSED

    @property
    def problem(self) -> str:
        """What kept the lab from being graded, in a scoreboard's words, or ""."""
        if self.outcome is Outcome.ERROR:
            return "tests could not run"
        return "" if self.built else "does not compile"

    @property
    def score(self) -> float:
        return total(c.score for c in self.checks) if self.built else 0.0

    @property
    def max_score(self) -> float:
        return total(c.points for c in self.checks)

    @property
    def passed(self) -> int:
        return sum(c.outcome is Outcome.PASSED for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"lab": self.lab, "built": self.built, "build_output": self.build_output,
                "error": self.error, "outcome": self.outcome.value, "score": self.score,
                "max_score": self.max_score, "checks": [c.to_json() for c in self.checks]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LabResult":
        """outcome, score and max_score are derived: written for other readers, never read."""
        return cls(lab=data["lab"], built=data.get("built", True),
                   build_output=data.get("build_output", ""), error=data.get("error", ""),
                   checks=[CheckResult.from_json(c) for c in data.get("checks", [])])


@dataclass
class Totals:
    """What a grading adds up to, counted once (Grading.totals)."""
    score: float
    max_score: float
    checks: int
    passed: int
    visible_score: float  # without the hidden checks: what a student may see before publication
    visible_max_score: float
    hidden_checks: int


@dataclass
class Grading:
    title: str  # "socklab: labs/", "socklab: /path/to/submission"
    impl: str = "labs"
    labs: list[LabResult] = field(default_factory=list)
    elapsed: float = 0.0  # seconds
    about: dict[str, Any] = field(default_factory=dict)  # the sandbox's mode, the digest, ...

    @property
    def totals(self) -> Totals:
        checks = [c for r in self.labs for c in r.checks]
        shown = [(r, c) for r in self.labs for c in r.checks if not c.hidden]
        return Totals(score=total(r.score for r in self.labs),
                      max_score=total(r.max_score for r in self.labs),
                      checks=len(checks), passed=sum(r.passed for r in self.labs),
                      visible_score=total(c.score for r, c in shown if r.built),
                      visible_max_score=total(c.points for _, c in shown),
                      hidden_checks=sum(c.hidden for c in checks))

    @property
    def score(self) -> float:
        return self.totals.score

    @property
    def max_score(self) -> float:
        return self.totals.max_score

    @property
    def outcome(self) -> Outcome:
        outcomes = [r.outcome for r in self.labs]
        if not outcomes or Outcome.ERROR in outcomes:
            return Outcome.ERROR
        return Outcome.FAILED if Outcome.FAILED in outcomes else Outcome.PASSED

    def lab(self, name: str) -> LabResult | None:
        return next((r for r in self.labs if r.lab == name), None)

    def to_json(self) -> dict[str, Any]:
        totals = self.totals
        return {"format": FORMAT, "title": self.title, "impl": self.impl,
                "elapsed": round(self.elapsed, 3), "about": self.about,
                "outcome": self.outcome.value, "score": totals.score,
                "max_score": totals.max_score, "labs": [r.to_json() for r in self.labs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Grading":
        if data.get("format") != FORMAT:
            raise ValueError(f"not a socklab grading of format {FORMAT}: {data.get('format')!r}")
        return cls(title=data["title"], impl=data.get("impl", "labs"),
                   labs=[LabResult.from_json(r) for r in data.get("labs", [])],
                   elapsed=data.get("elapsed", 0.0), about=data.get("about", {}))
