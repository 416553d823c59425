"""`lab prairielearn`: the entry point of PrairieLearn's external grader.

PrairieLearn's external grading (docs/externalGrading.md in
PrairieLearn/PrairieLearn) runs the question's image with the job under
/grade, the student's files in /grade/student, the question's data in
/grade/data/data.json, and reads /grade/results/results.json when the
entry point exits 0 (a non-zero exit discards the results). results.json:
`score` in 0..1, `gradable` (false: "invalid, not gradable", no attempt
lost) with `format_errors`, `message`, `output`, and `tests` (name,
description, points, max_points, message, output) for
<pl-external-grader-results>; at most 1 MB.

PrairieLearn's grader host gives the container no network (loopback is up:
the checks use 127.0.0.1 only), PidsLimit 1024, 2 GiB, 0.9 CPU, Docker's
default capabilities (no SYS_PTRACE, no SYS_ADMIN), and runs the entry point
as PID 1. So:
- `lab check` runs in a child process, bounded (--timeout), and whatever
  happens to it (a crash, a submission that kills it) this process writes
  results.json and exits 0;
- root without CAP_SYS_PTRACE may not read the /proc/PID/fd of another
  uid's processes, which the checks need: there the child runs as the
  servers' uid (labserver), as `lab check` does for any unprivileged user,
  one check at a time; a submission can then signal the grader, never this
  supervisor. With CAP_SYS_PTRACE (natively as root) the child stays root.

The stage: --stage, else "stage" in data.json's params. LAB_GRADE_ROOT (default
/grade) runs it on another folder laid out the same way (the tests do).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import identity, processes, rubric
from .batch import report_from_dict
from .formats.gradescope import check_details, clean, number, server_tail
from .progress import NEXT
from .i18n import _
from .runner import NOT_COMPILING, TOTAL_SECONDS
from .stages import REPO_ROOT, STAGES, find_stage
from .submission import SubmissionError, find_server

RESULTS_LIMIT = 1_000_000          # PrairieLearn refuses results.json over 1 MB
OUTPUT_CHARS = 200_000             # of the `lab check` text shown as the job's output
TEST_CHARS = 20_000                # per test message or output
# Of the question's timeout, `lab check` gets all but this: its own clean-up
# past its bound (up to 5 s), then Ctrl-C and kill (2 s each), start-up and
# writing the results.
MARGIN_SECONDS = 10
QUESTION_TIMEOUT = 30              # PrairieLearn's default timeout
CAP_SYS_PTRACE = 19


def grade_root() -> Path:
    return Path(os.environ.get("LAB_GRADE_ROOT") or "/grade")


def add_arguments(p):
    p.add_argument("--stage", help=_("the stage to grade (default: params.stage in data.json)"))
    p.add_argument("--timeout", type=float, default=QUESTION_TIMEOUT,
                   help=_("the question's timeout in seconds: grading stops %d s before it "
                          "(default %d, PrairieLearn's)") % (MARGIN_SECONDS, QUESTION_TIMEOUT))
    p.add_argument("--rubric", metavar="FILE", help=_("points per check (a TOML file)"))


# -- results.json -------------------------------------------------------------

def not_gradable(*errors) -> dict:
    """The student keeps the attempt and sees why."""
    errors = [clean(e)[:TEST_CHARS] for e in errors]
    return {"gradable": False, "format_errors": errors, "message": "\n".join(errors)}


def _test(check, stage_id):
    passed = check.met
    if passed:
        message, output = clean(check.message), ""
    else:
        message = clean(check.message) + ("\nhint: " + clean(check.hint) if check.hint else "")
        output = check_details(check, stage_id, tail=False)
        heading, tail = server_tail(check.output)
        if tail:
            output += "\n\n" + heading + "\n" + tail
    if not check.required:
        message = "(not required at %s) %s" % (stage_id, message)
    return {"name": check.id, "description": clean(check.description),
            "points": number(check.points), "max_points": number(check.max_points),
            "message": message[:TEST_CHARS], "output": output[:TEST_CHARS]}


def graded(report, text) -> dict:
    """results.json of a grading that ran (pass, fail, or error)."""
    error = report.status == "error"
    score = 0 if error or not report.max_score else report.score / report.max_score
    required = [c for c in report.checks if c.required]
    passed = sum(c.met for c in required)
    message = "%s: %d of %d required checks pass, %s of %s points" % (
        report.stage, passed, len(required), 0 if error else number(report.score),
        number(report.max_score))
    if error:
        message += ". The grading did not complete, so the score is 0: %s" % clean(
            report.message or "no reason given")
    text = clean(text)
    if len(text) > OUTPUT_CHARS:
        text = "[... the beginning is cut]\n" + text[-OUTPUT_CHARS:]
    results = {"gradable": True, "score": round(min(1.0, max(0.0, score)), 4),
               "message": message, "output": text,
               "tests": [_test(c, report.stage) for c in report.checks]}
    while len(json.dumps(results, ensure_ascii=False).encode("utf-8")) > RESULTS_LIMIT:
        results["output"] = results["output"][len(results["output"]) // 2:]
        for test in results["tests"]:
            test["output"] = test["output"][:len(test["output"]) // 2]
    return results


def failed(why, text="") -> dict:
    """The grader itself could not finish: score 0, said plainly."""
    return {"gradable": True, "score": 0,
            "message": "The autograder could not grade this submission: %s" % clean(why),
            "output": clean(text)[-OUTPUT_CHARS:], "tests": []}


def write(results):
    folder = grade_root() / "results"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(folder / "results.json")


# -- grading --------------------------------------------------------------------

def stage_from(args):
    if args.stage:
        return args.stage
    path = grade_root() / "data" / "data.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stage = (data.get("params") or {}).get("stage")
    except (OSError, ValueError, AttributeError):
        stage = None
    return stage


def may_inspect_other_uids() -> bool:
    """Root with CAP_SYS_PTRACE in effect (not in PrairieLearn's containers)."""
    if not identity.is_root():
        return False
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_PTRACE & 1)
    except (OSError, ValueError):
        pass
    return False


def _python_for(uid):
    """An interpreter the uid may run that imports the grader's psutil."""
    for python in dict.fromkeys(p for p in (os.environ.get("LAB_PYTHON"), sys.executable,
                                            "/usr/bin/python3") if p):
        try:
            probe = subprocess.run([python, "-c", "import psutil"], user=uid, group=uid,
                                   extra_groups=[], cwd="/", stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return python
    return sys.executable


def run_check(stage, server, rubric, seconds):
    """`lab check` in a child process; (report dict or None, its text, why not)."""
    uid = claim = None
    if identity.is_root() and not may_inspect_other_uids():
        # claimed (an flock) as every grader claims its servers' uid: no other
        # grader on this host kills or cleans up after this one meanwhile
        claim = identity.claim_server_uid()
        uid = claim.uid
    work = Path(tempfile.mkdtemp(prefix="lab-prairielearn-"))
    try:
        submission = work / server.name
        shutil.copyfile(server, submission)
        out, err = work / "report.json", work / "check.txt"
        if uid is not None:
            for path in (work, submission):
                os.chown(path, uid, uid)
        os.chmod(work, 0o755)
        argv = [_python_for(uid) if uid is not None else sys.executable, "-m", "grader",
                "check", stage.id, str(submission), "--format", "json", "--output", str(out),
                "--timeout", str(seconds)]
        if rubric:
            shutil.copyfile(rubric, work / "rubric.toml")
            argv += ["--rubric", str(work / "rubric.toml")]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONDONTWRITEBYTECODE="1",
                   HOME=str(work))
        with open(err, "w") as stderr:
            extra = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
            child = subprocess.Popen(argv, cwd=str(work), env=env, stdin=subprocess.DEVNULL,
                                     stdout=stderr, stderr=subprocess.STDOUT,
                                     start_new_session=True, **extra)
            why = _wait(child, seconds)
        if uid is not None:
            processes.kill_uid(uid)   # the grader and whatever the submission left
        # the student knows their file by its name, not by this folder; and
        # resubmits rather than runs `lab check` again
        text = "".join(line for line in err.read_text(encoding="utf-8", errors="replace")
                       .replace(str(work) + "/", "").splitlines(keepends=True)
                       if not line.startswith((NEXT, _(NEXT))))
        try:
            report = json.loads(out.read_text(encoding="utf-8").replace(str(work) + "/", ""))
        except (OSError, ValueError):
            report = None
        return report, text, why
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if claim:
            claim.release()


def _wait(child, seconds):
    """Wait for `lab check` (bounded by its own --timeout), then Ctrl-C, then
    kill; why it did not end by itself, or None."""
    deadline = time.monotonic() + seconds + 5
    for sig, grace in ((None, 0), (signal.SIGINT, 2), (signal.SIGKILL, 2)):
        if sig is not None:
            try:
                os.killpg(child.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + grace
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            continue
        if sig is None:
            if child.returncode < 0:
                return "the grader was killed by signal %d (did the submission kill it?)" \
                    % -child.returncode
            return None
        return "the grader ran past %d s" % seconds
    return "the grader could not be stopped"


def grade(args) -> dict:
    name = stage_from(args)
    if not name:
        return not_gradable("the question names no stage: give `lab prairielearn --stage 3g`, "
                            "or set params.stage in its server.py")
    stage = find_stage(str(name))
    if stage is None:
        return not_gradable("unknown stage %r: choose one of %s" % (name, ", ".join(STAGES)))
    try:
        server = find_server(grade_root() / "student", stage)
    except SubmissionError as e:
        return not_gradable(str(e).replace(str(grade_root() / "student"), "your submission")
                            + " (upload one server file, %s)" % stage.server.name)
    try:
        rubric.load(args.rubric)
    except rubric.RubricError as e:
        return not_gradable("the question's rubric: %s (tell your instructor)" % e)
    seconds = min(TOTAL_SECONDS, max(3.0, args.timeout - MARGIN_SECONDS))
    data, text, why = run_check(stage, server, args.rubric, seconds)
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        return failed(why or "it left no report", text)
    report = report_from_dict(data)
    syntax = next((c for c in report.checks if c.status == "fail"
                   and c.message.startswith((NOT_COMPILING, _(NOT_COMPILING)))), None)
    if syntax:
        return not_gradable(syntax.message + ("\n" + syntax.hint if syntax.hint else ""))
    if why and report.status == "error" and not report.message:
        report.message = why
    return graded(report, text)


def cmd_prairielearn(args):
    """Always exit 0 with results.json written: PrairieLearn discards the
    results of a non-zero exit."""
    try:
        results = grade(args)
    except Exception as e:          # a bug here must still give the student an answer
        import traceback
        results = failed("%s: %s" % (type(e).__name__, e), traceback.format_exc(limit=5))
    try:
        write(results)
    except OSError as e:
        print("lab prairielearn: cannot write %s/results/results.json: %s"
              % (grade_root(), e.strerror or e), file=sys.stderr)
        return 2
    print("lab prairielearn: %s" % results.get("message", ""))
    return 0
