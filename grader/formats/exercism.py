"""Exercism's test-runner interface, results.json version 3.

The specification: https://exercism.org/docs/building/tooling/test-runners/interface
(source: https://github.com/exercism/docs, building/tooling/test-runners/interface.md)

- `status` is pass (all tests passed), fail (at least one test failed or
  errored) or error (no test ran: the file cannot be graded at all); the
  top-level `message` is given for error only (null otherwise), at most
  65535 characters (bytes, once stored).
- `tests` come in the order the checks run, one per check the stage
  requires: Exercism's overall status must agree with its tests, and the
  checks a stage does not require (the ones that teach the next stage) do
  not decide pass or fail. A check skipped because it does not apply counts
  as passed; one skipped because the server does not even serve is failed.
- Each test has `name`, `status` (pass|fail|error), `test_code` (the
  commands that reproduce the check by hand), `message` only when it did not
  pass, `output` (what the server printed) at most 500 characters, and
  `task_id` when the stage's exercise text links the check to exactly one
  numbered task ("## 2. Reap every child" that mentions `reaps-burst`).

Every text is escaped for humans (control characters, escape sequences).
For `lab grade`: {"submissions": [{"submission": ..., "results": {...}}]}.
"""

import re
from pathlib import Path

from ..i18n import _, ngettext
from .gradescope import check_details, clean, number, write_each

VERSION = 3
MESSAGE_LIMIT = 65535
OUTPUT_LIMIT = 500
TRUNCATED = "Output was truncated. Please limit to 500 chars.\n"

_TASK_HEADING = re.compile(r"^#{1,6}\s*(\d+)\.\s", re.M)
_ANY_HEADING = re.compile(r"^#{1,6}\s", re.M)


def capped_output(output) -> str:
    """The end of what the server printed, at most 500 characters in all."""
    text = clean(output).strip("\n")
    if len(text) <= OUTPUT_LIMIT:
        return text
    return TRUNCATED + text[-(OUTPUT_LIMIT - len(TRUNCATED)):]


def task_ids(readme) -> dict:
    """{check id: task number} for the checks that the exercise text names
    (`check-id`) in exactly one numbered task section."""
    try:
        text = Path(readme).read_text(encoding="utf-8", errors="replace")
    except (OSError, TypeError):
        return {}
    sections = {}
    for match in _TASK_HEADING.finditer(text):
        following = _ANY_HEADING.search(text, match.end())
        body = text[match.start():following.start() if following else len(text)]
        sections.setdefault(int(match.group(1)), []).append(body)
    found = {}
    for task, bodies in sections.items():
        for check_id in set(re.findall(r"`([a-z][a-z-]*)`", "\n".join(bodies))):
            found.setdefault(check_id, set()).add(task)
    return {check_id: tasks.pop() for check_id, tasks in found.items() if len(tasks) == 1}


def _readme(stage_id):
    from ..stages import STAGES
    stage = STAGES.get(stage_id)
    return stage.readme if stage else None


def _solution_paths(text, submission):
    """<solution-dir>/file instead of the full path of the folder (as the
    specification asks)."""
    folder = str(Path(submission).parent) if submission else ""
    if folder.startswith("/") and folder != "/":
        text = text.replace(folder + "/", "<solution-dir>/")
    return text


def _points(check):
    points = number(check.max_points)
    return ngettext("%s point", "%s points", points if isinstance(points, int) else 2) % points


def _test(check, stage_id, tasks, submission):
    passed = check.met
    status = "pass" if passed else ("error" if check.status == "error" else "fail")
    test = {
        "name": "%s (%s): %s" % (check.id, _points(check), clean(check.description)),
        "status": status,
        "test_code": clean(check.reproduce),
    }
    if status != "pass":
        test["message"] = _solution_paths(check_details(check, stage_id, tail=False),
                                          submission)
    output = capped_output(check.output)
    if output:
        test["output"] = output
    if check.id in tasks:
        test["task_id"] = tasks[check.id]
    return test


def results(report) -> dict:
    tasks = task_ids(_readme(report.stage))
    tests = [_test(c, report.stage, tasks, report.submission)
             for c in report.checks if c.required]
    ran = [c for c in report.checks if c.met or c.status == "fail"]
    if report.status == "error" and not ran:
        status = "error"
    elif report.status == "pass" and all(t["status"] == "pass" for t in tests):
        status = "pass"
    else:
        status = "fail"
    data = {"version": VERSION, "status": status, "message": None, "tests": tests}
    if status == "error":
        message = _solution_paths(clean(report.message or _("the grader could not run")),
                                  report.submission)
        # The limit is on the stored bytes: multi-byte characters count more.
        data["message"] = message.encode("utf-8")[:MESSAGE_LIMIT].decode("utf-8", "ignore")
        if not tests:
            del data["tests"]
    return data


def write_exercism(reports, single):
    return write_each(reports, single, results)
