"""Runs the checks of a stage against one submission, each on a fresh server,
each within its own time bound and all within the submission's."""

import shlex
import socket
import threading
import time
import traceback
import types
from pathlib import Path

from . import i18n, identity, netns, observe
from .checks import CHECKS, Fail, Skip
from .i18n import N_, _
from .report import CheckResult, Report
from .sandbox import GraderError, Sandbox
from .stages import CLIENT3
from .submission import compile_error
from .trace.record import HookLog

STARTUP_SECONDS = 5          # from launch until the server listens
TOTAL_SECONDS = 120          # per submission
NOT_COMPILING = N_("the file does not compile: ")   # how `serves` begins for a syntax error


class Run:
    """What a check gets: a way to start the server, its last words, and a
    place to leave what it saw of the server (its model, notes)."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.server = None
        self.model = None
        self.notes = []
        self.hook = None

    def saw(self, holder, thread_count):
        self.model = observe.model_name(holder, thread_count)

    def note(self, text):
        self.notes.append(text)

    def start(self, nofile=1024, recorded=False, args=None):
        """Start the server; `recorded`: with lab trace's hook loaded, for
        the counts a failure message gives (run.recorded()); `args`: in
        place of the stage's (a check that tries several WSGI apps stops
        the server it started before, and starts the next)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        owner = self.sandbox.port_owner()
        if owner:
            raise GraderError(
                _("port %d is already in use by %s: stop that server (Ctrl-C in its terminal, "
                  "or kill it) and run lab check again") % (self.sandbox.port, owner))
        launch = {}
        if recorded:
            self.hook = HookLog()
            launch = self.hook.launch_options(self.sandbox)
        self.server = self.sandbox.start(nofile=nofile, args=args, **launch)
        if self.server.wait_listening(STARTUP_SECONDS) is None:
            raise Fail(*self._not_listening())
        return self.server

    def _not_listening(self):
        server, port = self.server, self.sandbox.port
        if not server.alive():
            time.sleep(0.1)     # let the last words drain
            return (_("the server %s before it listened on port %d%s")
                    % (server.exit_description(), port, self.last_error()),
                    _("Run it by hand (python3 %s) and read the error. A server must call "
                      "listen() and then loop over accept() forever.") % self.sandbox.submission.name)
        others = sorted({p for _, p in server.listening()})
        if others:
            return (_("the server listens on port %s, not on port %d")
                    % (", ".join(map(str, others)), port),
                    _("The article's servers use port 8888: SERVER_ADDRESS = ('', 8888)."))
        return (_("the server did not listen on port %d within %d s") % (port, STARTUP_SECONDS),
                _("Bind to ('', 8888) and call listen() at start-up."))

    def last_error(self):
        """The last line the server printed, if it looks like an error."""
        lines = [l for l in self.server.output.text().splitlines() if l.strip()]
        return ": " + lines[-1].strip() if lines and "Error" in lines[-1] else ""

    def recorded(self):
        """What the hook recorded of the listening process's children:
        {"forked", "handler_runs", "reaped"}, or None without the hook."""
        if self.hook is None or self.server is None:
            return None
        pid = self.server.pid
        records = self.hook.records()
        return {"forked": sum(1 for r in records if r.kind == "fork" and r.value == pid),
                "handler_runs": sum(1 for r in records if r.kind == "handler" and r.pid == pid),
                "reaped": sum(1 for r in records if r.kind == "reap" and r.pid == pid)}

    def stop(self):
        try:
            if self.server is not None:
                self.server.stop()
        finally:
            if self.hook is not None:
                self.hook.close()
                self.hook = None


def run_check(fn, sandbox, bound):
    """Run one check in a thread with a hard bound; stop its server after.
    Returns (outcome dict, the server's output, the Run)."""
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
            outcome.update(status="fail", message=_("connecting to the server failed: %s")
                           % (e.strerror or str(e) or _("timed out")),
                           hint=_("The server listened, then stopped taking connections on "
                                  "port 8888: did it crash, close its listening socket, or "
                                  "leave its listen queue full without calling accept()?"))
        except GraderError as e:
            outcome.update(status="error", message=str(e))
        except Exception:
            outcome.update(status="error",
                           message=_("the grader failed: ") + traceback.format_exc(limit=3))

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
        outcome = {"status": "fail", "message": _("timed out after %d s") % bound,
                   "hint": _("The server kept this check waiting past its bound.")}
    output = run.server.output.text() if run.server else ""
    return outcome, output, run


def _result(stage, check_id, points, submission, port):
    fn = CHECKS[check_id]
    required = check_id in stage.required
    return CheckResult(
        id=check_id, description=_(fn.description), required=required, status="skip",
        reproduce=_(fn.reproduce).format(file=shlex.quote(str(submission)),
                                         client3=shlex.quote(str(CLIENT3)), port=port,
                                         args="".join(" " + shlex.quote(a) for a in stage.args),
                                         path=stage.request_path),
        max_points=points.get(check_id, 1) if required else 0)


def _unmet_dependency(check_id, done):
    """The first dependency of the check that ran and did not pass, or None
    (a dependency left out with --only does not hold a check back)."""
    for dep in CHECKS[check_id].depends:
        if dep in done and not done[dep].met:
            return dep
    return None


def _skip_for(dep, stage):
    """Why a check is skipped: its dependency `dep` did not pass."""
    unmet = CHECKS[dep].unmet
    if unmet:
        return _("skipped: %s (see '%s')") % (_(unmet) % stage.request_path, dep)
    return _("skipped: it builds on '%s', which did not pass (see '%s')") % (dep, dep)


class _Ordered:
    """Reports results to the progress printer in the checks' own order,
    whatever order they finish in; the next one's "== id ==" shows as soon
    as it starts, so a long check is seen running."""

    def __init__(self, progress, ids):
        self.progress, self.ids, self.ready, self.next = progress, ids, {}, 0
        self.announced = None

    def starting(self, check_id):
        if self.progress and self.announced is None and self.next < len(self.ids) \
                and self.ids[self.next] == check_id:
            self.progress.started(types.SimpleNamespace(id=check_id))
            self.announced = check_id

    def finished(self, result):
        self.ready[result.id] = result
        while self.next < len(self.ids) and self.ids[self.next] in self.ready:
            shown = self.ready[self.ids[self.next]]
            if self.progress:
                if self.announced != shown.id:
                    self.progress.started(shown)
                self.progress.finished(shown)
            self.announced = None
            self.next += 1
        # the next check may be running already
        if self.next < len(self.ids) and self.ids[self.next] in self.running:
            self.starting(self.ids[self.next])

    running = ()


def _not_compiling(report, stage, ids, points, syntax, submission, port, progress):
    """The checks that depend on nothing (serves) fail with the syntax
    error; every other is skipped for the one it builds on."""
    order = _Ordered(progress, ids)
    done = {}
    for check_id in ids:
        result = _result(stage, check_id, points, submission, port)
        if not CHECKS[check_id].depends:
            result.status = "fail"
            result.message = _(NOT_COMPILING) + syntax
            result.hint = (_("Python stops before the server starts. Run python3 %s to see the "
                             "error, and compare with the article's code.") % Path(submission).name)
        else:
            # (--only may have left its dependency out)
            dep = _unmet_dependency(check_id, done) or CHECKS[check_id].depends[0]
            result.message = _skip_for(dep, stage)
        done[check_id] = result
        report.checks.append(result)
        order.finished(result)
    report.status = "graded"
    return report.finish()


def parallel_available(isolate_network=None):
    """Checks run at once only where each gets a network namespace (its own
    port 8888) and a server uid of its own (its own RLIMIT_NPROC, and a
    kill(-1) that reaches nothing else)."""
    isolated = netns.available() if isolate_network is None else isolate_network
    return isolated and identity.is_root()


def grade(stage, submission, port=8888, total=TOTAL_SECONDS, only=None,
          progress=None, isolate_network=None, rubric=None, parallel=None,
          source=None) -> Report:
    """Grade `submission` for `stage`; never raises for the submission's sake.
    `source`: its contents, as read with the learner's rights (else the
    file is read here).

    Where checks are isolated from each other, they run at once (a check
    starts as soon as the checks it depends on have passed; `solo` checks,
    the ones that load the machine, one at a time); elsewhere one after
    another on the same port."""
    report = Report(stage=stage.id, submission=str(submission))
    started = time.monotonic()
    ids = [c for c in stage.checks if only is None or c in only]
    points = rubric or {}
    syntax = compile_error(Path(submission), source)
    if syntax:
        return _not_compiling(report, stage, ids, points, syntax, submission, port, progress)
    if parallel is None:
        parallel = parallel_available(isolate_network)
    try:
        shared = None if parallel else Sandbox(Path(submission), port=port,
                                               isolate_network=isolate_network, source=source,
                                               launch=stage.launch)
    except (GraderError, OSError, RuntimeError) as e:
        report.status, report.message = "error", str(e)
        return report
    order = _Ordered(progress, ids)
    done = {}                       # check id -> CheckResult
    lock = threading.Condition()
    live = set()                    # the per-check sandboxes in use

    def run_one(check_id):
        fn = CHECKS[check_id]
        result = _result(stage, check_id, points, submission, port)
        check_started = time.monotonic()
        left = total - (check_started - started)
        dep = _unmet_dependency(check_id, done)
        if dep:
            result.message = _skip_for(dep, stage)
        elif left < 1:
            result.status = "fail"
            result.message = _("not run: the submission's time bound (%d s) ran out") % total
        else:
            try:
                sandbox = shared or Sandbox(Path(submission), port=port,
                                            isolate_network=isolate_network, source=source,
                                            launch=stage.launch)
            except (GraderError, OSError, RuntimeError) as e:
                outcome, output, run = {"status": "error", "message": str(e)}, "", None
            else:
                live.add(sandbox)
                try:
                    outcome, output, run = run_check(fn, sandbox, min(fn.bound, left))
                finally:
                    if sandbox is not shared:
                        live.discard(sandbox)
                        sandbox.close()
            result.status = outcome["status"]
            result.message = outcome.get("message", "")
            result.hint = outcome.get("hint", "")
            own = _(stage.hint(check_id))
            if result.status == "fail" and own:
                # what the stage's own server does, before the check's general
                # hint; not for a skip (n/a, or a failed dependency's hint is
                # the one to read) nor an error (the grader's, not the server's).
                # No space after a wide full stop: Chinese puts none.
                space = "" if not result.hint or i18n.width(own[-1]) > 1 else " "
                result.hint = own + space + result.hint
            result.credited = outcome.get("credited", False)
            if run is not None:
                result.model = run.model or ""
                if run.notes:
                    result.message = "; ".join(filter(None, [result.message] + run.notes))
            if result.status in ("fail", "error"):
                result.output = output
        result.seconds = time.monotonic() - check_started
        if result.status == "pass":
            result.credited = True
        if result.credited:
            result.points = result.max_points
        return result

    def ready(check_id):
        deps = [d for d in CHECKS[check_id].depends if d in ids]
        return all(d in done for d in deps)

    try:
        if not parallel:
            for check_id in ids:
                order.starting(check_id)
                done[check_id] = run_one(check_id)
                order.finished(done[check_id])
        else:
            waiting = list(ids)
            running = {}                # check id -> thread
            order.running = running

            def worker(check_id):
                try:
                    result = run_one(check_id)
                except Exception:
                    # the grader's own fault: the check is an error, never a hang
                    result = _result(stage, check_id, points, submission, port)
                    result.status = "error"
                    result.message = _("the grader failed: ") + traceback.format_exc(limit=3)
                with lock:
                    done[check_id] = result
                    del running[check_id]
                    order.finished(result)
                    lock.notify_all()

            with lock:
                while waiting or running:
                    solo_busy = any(CHECKS[c].solo for c in running)
                    for check_id in [c for c in waiting if ready(c)]:
                        if CHECKS[check_id].solo and solo_busy:
                            continue
                        solo_busy = solo_busy or CHECKS[check_id].solo
                        waiting.remove(check_id)
                        running[check_id] = threading.Thread(
                            target=worker, args=(check_id,), daemon=True,
                            name="grade-" + check_id)
                        running[check_id].start()
                        order.starting(check_id)
                    lock.wait(0.5)
    except BaseException:
        # Ctrl-C, SIGTERM: the checks still running are daemon threads that
        # die with the grader; their servers must not outlive it.
        for sandbox in list(live):
            try:
                sandbox.close()
            except Exception:
                pass
        raise
    finally:
        if shared is not None:
            shared.close()
    report.checks = [done[c] for c in ids]
    report.model = next((c.model for c in report.checks if c.model and c.model != "unknown"),
                        "")
    report.status = "graded"
    report.seconds = time.monotonic() - started
    return report.finish()
