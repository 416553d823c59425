"""What a grading produces, the JSON form of it (the contract), and what
every output shares: when a check counts as met, and text made printable."""

import re
from dataclasses import dataclass, field, asdict

from .i18n import _

# C0 and C1 controls (ESC, BEL, CR, CSI...), and the invisible marks that
# reorder text on screen (bidi overrides and isolates: "Trojan Source").
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Escape control characters and escape sequences (keep newlines, tabs)."""
    return _CONTROL.sub(lambda m: ("\\x%02x" if ord(m.group()) < 0x100 else "\\u%04x")
                        % ord(m.group()), text)


@dataclass
class CheckResult:
    id: str
    description: str
    required: bool
    status: str                 # pass | fail | error | skip
    message: str = ""
    hint: str = ""
    reproduce: str = ""
    seconds: float = 0.0
    output: str = ""            # the server's output, kept for failures
    credited: bool = False      # counts toward the score (pass, or skip as n/a)
    model: str = ""             # how the server was seen handling a connection
    points: float = 0.0
    max_points: float = 0.0

    @property
    def met(self) -> bool:
        """Counts as met: passed, or skipped as not applicable (credited)."""
        return self.status == "pass" or (self.status == "skip" and self.credited)


@dataclass
class Report:
    stage: str
    submission: str
    status: str = "error"       # pass | fail | error
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""           # why status is error
    model: str = ""             # how the server handles connections, as the checks saw it
    seconds: float = 0.0
    checks: list = field(default_factory=list)

    def finish(self):
        """Score and status from the checks (status error stays error)."""
        if self.checks:
            self.score = round(sum(c.points for c in self.checks), 2)
            self.max_score = round(sum(c.max_points for c in self.checks), 2)
        if self.status != "error":
            required = [c for c in self.checks if c.required]
            errors = [c.id for c in required if c.status == "error"]
            if errors:
                self.status = "error"
                self.message = self.message or _("could not run: ") + ", ".join(errors)
            else:
                ok = all(c.met for c in required)
                self.status = "pass" if ok else "fail"
        return self

    def to_dict(self):
        data = asdict(self)
        data["score"] = _number(self.score)
        data["max_score"] = _number(self.max_score)
        data["seconds"] = round(self.seconds, 2)
        for check in data["checks"]:
            check["seconds"] = round(check["seconds"], 2)
            check["points"] = _number(check["points"])
            check["max_points"] = _number(check["max_points"])
        return data


def error_report(stage, submission, message, rubric=None) -> Report:
    """A report for a submission that could not be graded: score 0 of the
    stage's maximum, and why."""
    points = rubric or {}
    report = Report(stage=stage.id, submission=str(submission), message=message)
    report.max_score = sum(points.get(c, 1) for c in stage.required)
    return report


def _number(value):
    return int(value) if float(value).is_integer() else value
