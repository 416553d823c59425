"""`lab grade`: a whole class, each submission in its own worker process.

A worker is `lab check ... --format json` in a new session: if it crashes or
runs past its bound, it is killed with everything it started and the
submission still gets a report (status error). Submissions run in parallel
only where each check gets a private network namespace, so that servers
which all hard-code port 8888 never reach each other; otherwise one after
another.
"""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from . import i18n
from .i18n import _
from .report import CheckResult, Report, error_report
from .runner import parallel_available
from .report import printable
from .processes import Supervisor

MARGIN_SECONDS = 30      # a worker's bound: the submission's, plus start-up and clean-up

# A worker is `lab check`, but never imports from the current directory (the
# learner's, under sudo: `python3 -m grader` would run ./grader/ as root).
WORKER = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
          "from grader.cli import main; sys.exit(main())")


def report_from_dict(data) -> Report:
    checks = [CheckResult(**{k: v for k, v in c.items() if k in CheckResult.__dataclass_fields__})
              for c in data.get("checks", [])]
    fields = {k: v for k, v in data.items() if k in Report.__dataclass_fields__ and k != "checks"}
    return Report(checks=checks, **fields)


class Worker:
    def __init__(self, stage, path, args, rubric, supervisor):
        self.supervisor = supervisor
        self.path = path
        self.rubric = rubric
        self.stage = stage
        # A folder of its own for the worker's temporary files (the servers'
        # work dirs among them): removed whole when the worker ends, however
        # it ends, even killed before its own clean-up ran.
        self.tmpdir = tempfile.mkdtemp(prefix="lab-grade-")
        os.chmod(self.tmpdir, 0o755)        # the servers' uid works in there
        self.result_file = os.path.join(self.tmpdir, "result.json")
        # The report comes on the worker's stdout, into our file: under sudo
        # the worker opens what it is named (the submission, the rubric) with
        # the learner's rights, and our folder is not the learner's.
        argv = [sys.executable, "-c", WORKER, "check", stage.id, str(path),
                "--format", "json", "--quiet",
                "--timeout", str(args.timeout), "--port", str(args.port)]
        if args.rubric:
            argv += ["--rubric", args.rubric]
        env = dict(os.environ, TMPDIR=self.tmpdir, PYTHONPATH=os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
            + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        self.deadline = time.monotonic() + args.timeout + MARGIN_SECONDS
        self.bound = args.timeout + MARGIN_SECONDS
        with open(self.result_file, "wb") as result:
            self.popen = supervisor.start(argv, stdout=result, stderr=subprocess.PIPE, env=env)

    def done(self):
        return self.popen.poll() is not None or time.monotonic() > self.deadline

    def finish(self) -> Report:
        timed_out = self.popen.poll() is None
        # with everything it started: a server, a daemon re-parented to us
        self.supervisor.kill(self.popen)
        stderr = self.popen.stderr.read().decode("utf-8", "replace")
        self.popen.stderr.close()
        try:
            with open(self.result_file) as f:
                report = report_from_dict(json.load(f))
        except (OSError, ValueError):
            report = error_report(self.stage, self.path, "", self.rubric)
            report.message = (_("timed out after %d s") % self.bound if timed_out else
                              _("the grader's worker failed (%s): %s") % (
                                  _describe_exit(self.popen.returncode),
                                  printable(stderr.strip().splitlines()[-1] if stderr.strip() else "")))
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        report.submission = str(self.path)
        return report


def _describe_exit(code):
    return _("killed by signal %d") % -code if code and code < 0 else _("status %s") % code


# Submissions graded at once per core, where isolation allows. A submission
# mostly waits (for its server, for a child, for a reap): on 2 cores the
# 40-submission mix of bench/ went 25/min at 2 at a time, 27/min at 4 and
# 30/min at 6, with the same verdicts (bench/README.md, batch). Each
# submission's checks also run at once, up to 9 servers each.
JOBS_PER_CORE = 2


def default_jobs():
    return JOBS_PER_CORE * (os.cpu_count() or 1)


def grade_all(stage, paths, args, rubric=None, progress=None):
    """Reports for every path, in the order given."""
    supervisor = Supervisor()
    parallel = parallel_available()
    jobs = max(1, min(args.jobs or default_jobs(), len(paths))) if parallel else 1
    reports = [None] * len(paths)
    queue = list(enumerate(paths))
    running = []                    # (index, worker)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                index, path = queue.pop(0)
                running.append((index, Worker(stage, path, args, rubric, supervisor)))
            time.sleep(0.05)
            for index, worker in [r for r in running if r[1].done()]:
                running.remove((index, worker))
                reports[index] = worker.finish()
                if progress:
                    progress(reports[index], sum(r is not None for r in reports), len(paths))
    except KeyboardInterrupt:
        # Stop every worker with all it started; keep what was graded.
        for index, worker in running:
            worker.finish()
        for index, path in enumerate(paths):
            if reports[index] is None:
                reports[index] = error_report(stage, path, _("interrupted (Ctrl-C) before it "
                                                "was graded"), rubric)
        raise Interrupted(reports, jobs)
    return reports, jobs


class Interrupted(Exception):
    """Ctrl-C during a batch; carries the reports (finished or not)."""

    def __init__(self, reports, jobs):
        super().__init__("interrupted")
        self.reports = reports
        self.jobs = jobs


def write_csv(reports, single=False):
    """One row per submission, one column per check."""
    ids = []
    for report in reports:
        for check in report.checks:
            if check.id not in ids:
                ids.append(check.id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["submission", "stage", "status", "score", "max_score", "seconds", "message"] + ids)
    for r in reports:
        by_id = {c.id: c.status for c in r.checks}
        writer.writerow([r.submission, r.stage, r.status, r.score, r.max_score,
                         round(r.seconds, 2), r.message] + [by_id.get(i, "") for i in ids])
    return out.getvalue()


class BatchProgress:
    """A progress bar over the submissions (on a terminal), then a summary."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def __call__(self, report, done, total):
        line = "[%-30s] %d/%d  %s: %s %s/%s" % (
            "#" * (30 * done // total), done, total, printable(report.submission),
            report.status, _n(report.score), _n(report.max_score))
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if done == total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def summary(self, reports, jobs, seconds):
        width = max([len(printable(r.submission)) for r in reports] + [10])
        self.stream.write("\n%s  %s %s  %s\n" % (
            i18n.ljust(_("submission"), width), i18n.ljust(_("status"), 6),
            " " * max(0, 7 - i18n.width(_("score"))) + _("score"), _("failed checks (or why)")))
        for r in reports:
            failed = [c.id for c in r.checks if c.required and c.status in ("fail", "error")]
            why = ", ".join(failed) if failed else printable(r.message.splitlines()[0]
                                                             if r.message else "")
            self.stream.write("%-*s  %-6s %7s  %s\n" % (
                width, printable(r.submission), r.status,
                "%s/%s" % (_n(r.score), _n(r.max_score)), why))
        counts = {s: sum(r.status == s for r in reports) for s in ("pass", "fail", "error")}
        self.stream.write("\n" + _("%d submissions in %.1f s (%d at a time): %d pass, %d fail, "
                                   "%d error") % (len(reports), seconds, jobs, counts["pass"], counts["fail"],
                             counts["error"]) + "\n")
        self.stream.flush()


def _n(value):
    return int(value) if float(value).is_integer() else value
