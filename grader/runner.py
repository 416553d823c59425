"""Runs the checks of a stage against one submission, each on a fresh server,
each within its own time bound and all within the submission's."""

import shlex
import socket
import threading
import time
import traceback
from pathlib import Path

from .checks import CHECKS, Fail, Skip
from .report import CheckResult, Report
from .sandbox import GraderError, Sandbox
from .stages import CHECK_IDS, CLIENT3
from .submission import compile_error

STARTUP_SECONDS = 5          # from launch until the server listens
TOTAL_SECONDS = 120          # per submission


class Run:
    """What a check gets: a way to start the server, and its last words."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.server = None

    def start(self, nofile=1024):
        owner = self.sandbox.port_owner()
        if owner:
            raise GraderError(
                "port %d is already in use by %s: stop that server (Ctrl-C in its terminal, "
                "or kill it) and run lab check again" % (self.sandbox.port, owner))
        self.server = self.sandbox.start(nofile=nofile)
        if self.server.wait_listening(STARTUP_SECONDS) is None:
            raise Fail(*self._not_listening())
        return self.server

    def _not_listening(self):
        server, port = self.server, self.sandbox.port
        if not server.alive():
            time.sleep(0.1)     # let the last words drain
            return ("the server %s before it listened on port %d%s"
                    % (server.exit_description(), port, self.last_error()),
                    "Run it by hand (python3 %s) and read the error. A server must call "
                    "listen() and then loop over accept() forever." % self.sandbox.submission.name)
        others = sorted({p for _, p in server.listening()})
        if others:
            return ("the server listens on port %s, not on port %d"
                    % (", ".join(map(str, others)), port),
                    "The article's servers use port 8888: SERVER_ADDRESS = ('', 8888).")
        return ("the server did not listen on port %d within %d s" % (port, STARTUP_SECONDS),
                "Bind to ('', 8888) and call listen() at start-up.")

    def last_error(self):
        """The last line the server printed, if it looks like an error."""
        lines = [l for l in self.server.output.text().splitlines() if l.strip()]
        return ": " + lines[-1].strip() if lines and "Error" in lines[-1] else ""

    def stop(self):
        if self.server is not None:
            self.server.stop()


def run_check(fn, sandbox, bound):
    """Run one check in a thread with a hard bound; stop its server after."""
    outcome = {}
    run = Run(sandbox)

    def body():
        try:
            fn(run)
            outcome["status"] = "pass"
        except Fail as f:
            outcome.update(status="fail", message=f.message, hint=f.hint)
        except Skip as s:
            outcome.update(status="skip", message=s.reason, credited=s.credited)
        except (ConnectionError, socket.timeout) as e:
            # refused, reset or unanswered: the server's doing, not the grader's
            outcome.update(status="fail", message="connecting to the server failed: %s"
                           % (e.strerror or str(e) or "timed out"),
                           hint="The server listened, then stopped taking connections on "
                                "port 8888: did it crash, close its listening socket, or "
                                "leave its listen queue full without calling accept()?")
        except GraderError as e:
            outcome.update(status="error", message=str(e))
        except Exception:
            outcome.update(status="error",
                           message="the grader failed: " + traceback.format_exc(limit=3))

    worker = threading.Thread(target=body, daemon=True, name="check-" + fn.id)
    worker.start()
    worker.join(bound)
    timed_out = worker.is_alive()
    try:
        run.stop()              # also unblocks a check still waiting on the server
    except GraderError as e:
        outcome.setdefault("status", "error")
        outcome["message"] = str(e)
    if timed_out:
        worker.join(5)
        outcome = {"status": "fail", "message": "timed out after %d s" % bound,
                   "hint": "The server kept this check waiting past its bound."}
    output = run.server.output.text() if run.server else ""
    return outcome, output


def _result(stage, check_id, points, submission, port):
    fn = CHECKS[check_id]
    required = check_id in stage.required
    return CheckResult(
        id=check_id, description=fn.description, required=required, status="skip",
        reproduce=fn.reproduce.format(file=shlex.quote(str(submission)),
                                      client3=shlex.quote(str(CLIENT3)), port=port),
        max_points=points.get(check_id, 1) if required else 0)


def _not_compiling(report, stage, ids, points, syntax, submission, port, progress):
    for check_id in ids:
        result = _result(stage, check_id, points, submission, port)
        if progress:
            progress.started(result)
        if check_id == "serves":
            result.status = "fail"
            result.message = "the file does not compile: " + syntax
            result.hint = ("Python stops before the server starts. Run python3 %s to see the "
                           "error, and compare with the article's code." % Path(submission).name)
        else:
            result.message = "skipped: the server does not serve GET /hello (see 'serves')"
        report.checks.append(result)
        if progress:
            progress.finished(result)
    report.status = "graded"
    return report.finish()


def grade(stage, submission, port=8888, total=TOTAL_SECONDS, only=None,
          progress=None, isolate_network=None, rubric=None) -> Report:
    """Grade `submission` for `stage`; never raises for the submission's sake."""
    report = Report(stage=stage.id, submission=str(submission))
    started = time.monotonic()
    ids = [c for c in CHECK_IDS if only is None or c in only]
    points = rubric or {}
    syntax = compile_error(Path(submission))
    if syntax:
        return _not_compiling(report, stage, ids, points, syntax, submission, port, progress)
    try:
        sandbox = Sandbox(Path(submission), port=port, isolate_network=isolate_network)
    except (GraderError, OSError, RuntimeError) as e:
        report.status, report.message = "error", str(e)
        return report
    with sandbox:
        serves_failed = False
        for check_id in ids:
            fn = CHECKS[check_id]
            result = _result(stage, check_id, points, submission, port)
            if progress:
                progress.started(result)
            left = total - (time.monotonic() - started)
            check_started = time.monotonic()
            if serves_failed:
                result.message = "skipped: the server does not serve GET /hello (see 'serves')"
            elif left < 1:
                result.status = "fail"
                result.message = ("not run: the submission's time bound (%d s) ran out" % total)
            else:
                outcome, output = run_check(fn, sandbox, min(fn.bound, left))
                result.status = outcome["status"]
                result.message = outcome.get("message", "")
                result.hint = outcome.get("hint", "")
                result.credited = outcome.get("credited", False)
                if result.status in ("fail", "error"):
                    result.output = output
                if check_id == "serves" and result.status != "pass":
                    serves_failed = True
            result.seconds = time.monotonic() - check_started
            if result.status == "pass":
                result.credited = True
            if result.credited:
                result.points = result.max_points
            report.checks.append(result)
            if progress:
                progress.finished(result)
        report.status = "graded"
    report.seconds = time.monotonic() - started
    return report.finish()
