"""GitHub Classroom: the result that its autograding reporter reads.

classroom-resources/autograding-grading-reporter reads, for every runner
(a step id) it is given, the environment variable <ID>_RESULTS: the base64
of a JSON object in the form its command grader writes
(classroom-resources/autograding-command-grader, src/main.js):

    {"version": 1, "status": "pass|fail|error", "max_score": N,
     "tests": [{"name", "status", "score", "message", "line_no", "filename",
                "test_code", "duration"}]}

What the reporter does with it (src/notify-classroom.js,
src/console-results.js, src/helpers/test-helpers.js):
- the points GitHub Classroom records are the sum of every test's `score`
  out of the sum of `max_score` (a runner with no max_score counts nothing);
- its summary table shows per runner (tests passed / tests) * max_score,
  which equals those points when every check is worth the same;
- per test it prints the name (with " - line N" unless line_no is 0), then
  `test_code`; `message` only for a test with status error. So a failed
  check's message and hint are in `message` and also lead `test_code`
  (before the commands that reproduce it): the student sees them either way.
- a runner whose status is fail or error fails the workflow.

Tests: the checks the stage requires, in the order they run, each worth its
rubric points (`score` is those points when it passed, 0 otherwise; a
grading that did not complete scores 0). A submission that could not be
graded at all gets one test "grading" with status error and the reason.
`duration` is in milliseconds, as the command grader's.

The reporter gets the JSON through an environment variable, and Linux caps
one at 128 KiB: every text here is capped so the base64 stays far below.

For `lab grade`: {"submissions": [{"submission": ..., "results": {...}}]}.

`lab check --github-output` appends `result=<base64>` to $GITHUB_OUTPUT
(what the command grader's core.setOutput('result', ...) does), so that
`steps.<id>.outputs.result` feeds the reporter.
"""

import base64
import json
import os

from .gradescope import check_details, clean, number, write_each

VERSION = 1
TEXT_LIMIT = 3000           # characters per message or test_code: 9 tests stay < 100 KB of base64


class GitHubOutputError(Exception):
    pass


def _capped(text):
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 15] + "\n[... cut here]"


def _points(check):
    points = number(check.max_points)
    return "%s point%s" % (points, "" if points == 1 else "s")


def _test(check, report):
    passed = check.met
    status = "pass" if passed else ("error" if check.status == "error" else "fail")
    reproduce = clean(check.reproduce)
    if passed:
        message, test_code = clean(check.message), reproduce
    else:
        message = clean(check.message) + ("\nhint: " + clean(check.hint) if check.hint else "")
        test_code = check_details(check, report.stage, tail=False)
    return {
        "name": "%s (%s): %s" % (check.id, _points(check), clean(check.description)),
        "status": status,
        "score": number(check.points) if passed and report.status != "error" else 0,
        "message": _capped(message),
        "line_no": 0,
        "filename": _capped(clean(report.submission)),
        "test_code": _capped(test_code),
        "duration": int(round((check.seconds or 0) * 1000)),
    }


def results(report) -> dict:
    """The reporter's result object of one report."""
    tests = [_test(c, report) for c in report.checks if c.required]
    if not tests:
        tests = [{
            "name": "grading: the submission could not be graded",
            "status": "error",
            "score": 0,
            "message": _capped(clean(report.message or "the grader could not run")),
            "line_no": 0,
            "filename": _capped(clean(report.submission)),
            "test_code": "lab check %s %s" % (clean(report.stage), clean(report.submission)),
            "duration": int(round((report.seconds or 0) * 1000)),
        }]
    status = report.status if report.status in ("pass", "fail") else "error"
    return {"version": VERSION, "status": status, "max_score": number(report.max_score),
            "tests": tests}


def write_classroom(reports, single):
    return write_each(reports, single, results)


def encoded(report) -> str:
    """The base64 the reporter decodes (of compact UTF-8 JSON)."""
    text = json.dumps(results(report), ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def append_github_output(report, path=None):
    """Append `result=<base64>` to $GITHUB_OUTPUT (or `path`)."""
    path = path or os.environ.get("GITHUB_OUTPUT")
    if not path:
        raise GitHubOutputError("--github-output: GITHUB_OUTPUT is not set (it is, in a "
                                "GitHub Actions step)")
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write("result=%s\n" % encoded(report))
    except OSError as e:
        raise GitHubOutputError("cannot append to GITHUB_OUTPUT (%s): %s"
                                % (path, e.strerror or e))
