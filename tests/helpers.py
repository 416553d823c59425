"""Shared by the tests: run the `lab` command the way a user does."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.stages import STAGES  # noqa: E402

REFERENCES = {sid: stage.server for sid, stage in STAGES.items()}


SYSTEM_PYTHON = "/usr/bin/python3"


def lab(*args, timeout=300, cwd=REPO, user=None, env=None):
    """Run `python3 -m grader ARGS` in a subprocess; the CompletedProcess.
    `user`: a uid to run it as (via setpriv), to test the non-root grader."""
    argv = [sys.executable, "-m", "grader", *map(str, args)]
    if user is not None:
        # The system's python3 (with Debian's python3-psutil): the test
        # runner's own may live where another user cannot import from.
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups",
                SYSTEM_PYTHON, "-m", "grader", *map(str, args)]
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def lab_json(*args, **kwargs):
    """Run lab with --format json; (exit status, parsed JSON, stderr)."""
    done = lab(*args, "--format", "json", **kwargs)
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise AssertionError("not JSON on stdout:\n%s\nstderr:\n%s" % (done.stdout, done.stderr))
    return done.returncode, data, done.stderr


def verdicts(report):
    return {c["id"]: c["status"] for c in report["checks"]}


class Transcript:
    """A pexpect logfile that keeps what was read, to show when a test
    fails."""

    def __init__(self, sink):
        self.sink = sink

    def write(self, data):
        self.sink.append(data)

    def flush(self):
        pass
