"""Gradescope's autograder results.json.

The specification: https://gradescope-autograders.readthedocs.io/en/latest/specs/

One report becomes one results.json: the top-level `score` (it overrides the
sum of the tests), `execution_time`, an `output` summary, and one test per
check with its points. Every text field is plain text (`output_format`,
`test_output_format` and `test_name_format` are "text"): the top-level output
defaults to "simple_format", which renders HTML, and a server under test may
print anything.

Gradescope grades one submission per run; for `lab grade` (many submissions)
the writer emits {"submissions": [{"submission": ..., "results": {...}}]}.
"""

import json
import re

from ..i18n import _
from ..report import printable

SERVER_LINES = 20            # lines of server output shown with a failed check
SERVER_CHARS = 4000          # ... and at most this much of it
VISIBLE = "visible"

_NOT_XML_OR_UTF8 = re.compile("[\ud800-\udfff\ufffe\uffff]")


def clean(text) -> str:
    """Text that is safe to show anyone, and to store as UTF-8 JSON or XML
    1.0: control characters and escape sequences become visible escapes
    (\\x1b), and so do lone surrogates and the non-characters U+FFFE/U+FFFF
    (newlines and tabs stay)."""
    text = printable("" if text is None else str(text))
    return _NOT_XML_OR_UTF8.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def number(value):
    """3.0 -> 3, 2.5 -> 2.5 (as the JSON report does)."""
    value = float(value or 0)
    return int(value) if value.is_integer() else round(value, 2)


def server_tail(output, lines=SERVER_LINES, chars=SERVER_CHARS):
    """The last lines of what the server printed, and a heading for them."""
    all_lines = clean(output).strip("\n").splitlines()
    if not all_lines:
        return "", ""
    shown = all_lines[-lines:]
    text = "\n".join(shown)
    if len(text) > chars:
        text = text[-chars:]
        text = text[text.find("\n") + 1:] if "\n" in text else text
    heading = (_("the server printed:") if len(shown) == len(all_lines) and
               len(text) == len("\n".join(all_lines)) else
               _("the server printed (the end of it):"))
    return heading, text


def check_details(check, stage_id, tail=True):
    """What a human needs to know about a check that did not pass:
    what was seen, the hint, whether it counts, how to reproduce it by hand,
    and the end of what the server printed."""
    parts = []
    if check.message:
        parts.append(clean(check.message))
    if check.hint:
        parts.append(_("hint: ") + clean(check.hint))
    if not check.required:
        parts.append(_("(not required at %s: this check shows what a later stage fixes)")
                     % stage_id)
    if check.reproduce:
        parts.append(_("try it by hand:") + "\n" + "\n".join(
            "  $ " + line for line in clean(check.reproduce).splitlines()))
    if tail:
        heading, text = server_tail(check.output)
        if text:
            parts.append(heading + "\n" + "\n".join("  | " + l for l in text.splitlines()))
    return "\n\n".join(parts)


def summary(report):
    """The one-paragraph summary of a report, for humans."""
    required = [c for c in report.checks if c.required]
    passed = sum(c.met for c in required)
    lines = ["lab check %s %s" % (clean(report.stage), clean(report.submission))]
    error = report.status == "error"
    if report.checks:
        lines.append(_("%s: %d of %d required checks pass, score %s/%s: %s") % (
            clean(report.stage), passed, len(required), 0 if error else number(report.score),
            number(report.max_score), _(report.status.upper())))
    if error:
        lines.append(_("The grading did not complete, so the score is 0: %s") %
                     clean(report.message or _("no reason given")))
        for c in report.checks:
            if c.required and c.status == "error":
                lines.append("  %s: %s" % (c.id, clean(c.message)))
        lines.append(_("If that is about your submission, fix it and submit again; "
                       "otherwise ask your instructor to re-run the autograder."))
    return "\n".join(lines)


def _test(check, stage_id):
    passed = check.met
    test = {
        "name": "%s: %s" % (check.id, clean(check.description)),
        "name_format": "text",
        "status": "passed" if passed else "failed",
        "score": number(check.points),
        "max_score": number(check.max_points),
        "output": (clean(check.message) if passed else check_details(check, stage_id)),
        "output_format": "text",
        "tags": [check.id, "required" if check.required else "not-required"],
        "visibility": VISIBLE,
        "extra_data": {"check": check.id, "status": check.status,
                       "required": bool(check.required), "seconds": round(check.seconds, 2)},
    }
    if not test["output"]:
        del test["output"]
    return test


def results(report) -> dict:
    """The results.json object of one report."""
    error = report.status == "error"
    tests = [_test(c, report.stage) for c in report.checks]
    if error and not report.checks:
        # Nothing ran: one failed test says why, worth the stage's points.
        tests.append({
            "name": _("grading: the submission could not be graded"),
            "name_format": "text",
            "status": "failed",
            "score": 0,
            "max_score": number(report.max_score),
            "output": clean(report.message or _("no reason given")),
            "output_format": "text",
            "tags": ["error"],
            "visibility": VISIBLE,
        })
    return {
        "score": 0 if error else number(report.score),
        "execution_time": int(round(report.seconds or 0)),
        "output": summary(report),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": VISIBLE,
        "stdout_visibility": VISIBLE,
        "extra_data": {"stage": report.stage, "status": report.status,
                       "max_score": number(report.max_score)},
        "tests": tests,
    }


def write_each(reports, single, results):
    """The JSON of a results(report) format: one submission's, or
    {"submissions": [{"submission", "results"}]} for lab grade's many."""
    if single:
        data = results(reports[0])
    else:
        data = {"submissions": [{"submission": clean(r.submission), "results": results(r)}
                                for r in reports]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_gradescope(reports, single):
    return write_each(reports, single, results)
