"""The learner's own progress: what every `lab check` of their work found,
and what comes next.

The record is `.lab/progress.json` in the learner's work folder: the
`work/` folder that holds the server checked (~/work in the container, the
clone's work/ natively: the same folder, mounted), or $LAB_PROGRESS_DIR. The
work folder is what survives the container and what the learner keeps, so
the record goes wherever their work goes, and the container and a native
`lab` share it. A check of a file outside a work folder (the reference
servers, an instructor's submissions, the tests) is nobody's progress and
is not recorded.

    {"version": 1, "stages": {"3a": {"status": "pass", "when": "2026-11-27T18:10:02+00:00",
        "submission": "webserver3a.py", "score": 5, "max_score": 5, "failing": [],
        "passed": "2026-11-27T18:10:02+00:00"}}}

`lab check` runs as root through sudo in the container: the record is read
and written by learner_file() alone, which does it with the learner's own
rights (SUDO_UID/SUDO_GID), so the files are theirs and a link they plant
cannot make root write elsewhere.
"""

import datetime
import json
import os
import pwd
from pathlib import Path

from . import i18n, userfiles
from .formats.gradescope import number
from .i18n import N_, _
from .stages import STAGES

RECORD = Path(".lab") / "progress.json"
VERSION = 1
NEXT = N_("Next: ")          # how lab check's last line begins


class ProgressError(Exception):
    pass


# -- where -------------------------------------------------------------------

def _learner_home():
    """The learner's home, also under sudo (where HOME may be root's)."""
    user = os.environ.get("SUDO_USER")
    if user and os.geteuid() == 0:
        try:
            return Path(pwd.getpwnam(user).pw_dir)
        except KeyError:
            pass
    return Path.home()


def record_for(submission):
    """The progress file for a check of `submission`, or None (not the
    learner's work)."""
    if os.environ.get("LAB_PROGRESS_DIR"):
        return Path(os.environ["LAB_PROGRESS_DIR"]) / RECORD.name
    path = Path(os.path.abspath(submission))
    for folder in [path] + list(path.parents):
        if folder.name == "work":
            return folder / RECORD
    return None


def record_to_show():
    """The progress file `lab progress` reads: $LAB_PROGRESS_DIR, else that
    of the work folder here (./work, or this folder if it is one), else
    ~/work's."""
    if os.environ.get("LAB_PROGRESS_DIR"):
        return Path(os.environ["LAB_PROGRESS_DIR"]) / RECORD.name
    here = Path.cwd()
    for folder in (here / "work", here, _learner_home() / "work"):
        if folder.name == "work" and folder.is_dir():
            return folder / RECORD
    return _learner_home() / "work" / RECORD


# -- the learner's file ---------------------------------------------------------

RECORD_LIMIT = 1 << 20          # bytes: a progress record is a few KiB


def learner_file(path, update=None):
    """Read the JSON at `path` ({} when there is none) and, given `update`
    (a function of it), write what it returns there; returns the data. The
    one place progress touches a learner's file: through grader/userfiles.py,
    so under sudo the kernel applies the learner's rights, not root's."""
    try:
        data = json.loads(userfiles.read_bytes(path, RECORD_LIMIT).decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
            data = {}
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as e:
        if update is None:
            raise ProgressError("cannot read %s: %s" % (path, getattr(e, "strerror", e) or e))
        data = {}                      # a broken record: start a new one
    if update is None:
        return data
    data = update(data)
    try:
        userfiles.write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"),
                              atomic=True)
    except OSError as e:
        raise ProgressError("cannot write %s: %s" % (path, e.strerror or e))
    return data


# -- recording and showing ---------------------------------------------------------

def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def failing_checks(report):
    """The required checks that failed (or could not run), in the order they
    ran; and those not run because one they build on did not pass."""
    failing = [c.id for c in report.checks if c.required and c.status in ("fail", "error")]
    not_run = [c.id for c in report.checks if c.required and c.status == "skip"
               and not c.credited]
    return failing, not_run


def record(report, submission):
    """Record a `lab check`; returns the record's path, or None when the
    submission is not in a work folder."""
    path = record_for(submission)
    if path is None or report.stage not in STAGES:
        return None
    entry = {"status": report.status, "when": _now(),
             "submission": os.path.basename(str(submission)),
             "score": number(report.score), "max_score": number(report.max_score),
             "failing": failing_checks(report)[0], "not_run": failing_checks(report)[1]}
    if report.status == "error":
        entry["message"] = report.message

    def update(data):
        stages = data.setdefault("stages", {})
        before = stages.get(report.stage) or {}
        if report.status == "pass":
            entry["passed"] = entry["when"]
        elif before.get("passed"):
            entry["passed"] = before["passed"]
        stages[report.stage] = entry
        data["version"] = VERSION
        return data

    learner_file(path, update)
    return path


def next_step(report):
    """What to do after this check: the next stage, or the check to fix first."""
    ids = list(STAGES)
    if report.status == "pass":
        later = ids[ids.index(report.stage) + 1:] if report.stage in ids else []
        if not later:
            return _(NEXT) + _("every stage is done; `lab progress` shows them all.")
        stage = STAGES[later[0]]
        return _(NEXT) + _("stage %s, %s: lab show %s") % (stage.id, _(stage.title), stage.id)
    failing = [c for c in report.checks if c.required and c.status in ("fail", "error")]
    if failing:
        # the first in the order they ran: the others may build on it
        return _(NEXT) + _("fix `%s` first (what was seen and a hint are above), then lab "
                           "check %s again.") % (failing[0].id, report.stage)
    if report.status == "error":
        return _(NEXT) + _("fix what stopped the grading (above), then check again.")
    return ""


def _when(text):
    try:
        moment = datetime.datetime.fromisoformat(text).astimezone()
    except (TypeError, ValueError):
        return "?"
    return moment.strftime("%Y-%m-%d %H:%M")


def describe(data):
    """The lines of `lab progress`: every stage, and what comes next: the
    first stage not passed, from the first one checked on (a learner who
    starts at Part 3 skipped Parts 1 and 2 on purpose), else from the start."""
    stages = data.get("stages", {})
    lines = []
    for stage in STAGES.values():
        entry = stages.get(stage.id)
        if not isinstance(entry, dict):
            state = _("never checked")
        elif entry.get("status") == "pass":
            state = "%s %s" % (i18n.ljust(_("passed"), 13), _when(entry.get("when")))
        elif entry.get("status") == "fail":
            state = "%s %s: %s" % (i18n.ljust(_("failing"), 13), _when(entry.get("when")),
                                   ", ".join(map(str, entry.get("failing", []))))
            if entry.get("not_run"):
                state += _(" (%d more not run: they build on it)") % len(entry["not_run"])
            if entry.get("passed"):
                state += _(" (passed %s)") % _when(entry["passed"])
        else:
            state = "%s %s: %s" % (i18n.ljust(_("not graded"), 13), _when(entry.get("when")),
                                   str(entry.get("message", ""))[:100])
        lines.append("  %s  %s %s" % (stage.id, i18n.ljust(_(stage.title), 38), state))
    ids = list(STAGES)
    checked = [i for i in ids if isinstance(stages.get(i), dict)]
    passed = lambda i: isinstance(stages.get(i), dict) and stages[i].get("status") == "pass"
    start = ids.index(checked[0]) if checked else 0
    upcoming = next((i for i in ids[start:] + ids[:start] if not passed(i)), None)
    if upcoming is None:
        lines.append("\n" + _("Every stage passes."))
        return lines
    stage, entry = STAGES[upcoming], stages.get(upcoming)
    if isinstance(entry, dict) and entry.get("failing"):
        lines.append("\n" + _("Next: stage %s: make `%s` pass (lab check %s)")
                     % (stage.id, entry["failing"][0], stage.id))
    else:
        lines.append("\n" + _("Next: stage %s, %s: lab show %s, then lab check %s")
                     % (stage.id, _(stage.title), stage.id, stage.id))
    return lines


def cmd_progress(args):
    path = record_to_show()
    try:
        data = learner_file(path)
    except ProgressError as e:
        print("lab: %s" % e)
        return 2
    print(_("Your progress (%s):") % path + "\n")
    for line in describe(data):
        print(line)
    if not data.get("stages"):
        print("\n(Nothing recorded yet: every `lab check` of a server in your work folder "
              "is recorded here.)")
    return 0
