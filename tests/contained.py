"""The lab command run with a TMPDIR and server uids of the test's own, then
a survey of what it left behind.

The grader's servers run as `[python, "-u", FILE]` with their work dir
(TMPDIR/lab-check-*) only as their cwd, and as root under a server uid: a
leftover is found by cwd or uid (conftest.find_leftovers), never by command
line.

    def test_x(contained):
        done = lab("check", ..., env=contained.env)
        assert not contained.leftovers()

The fixture kills, by pid, whatever is still there at the end of the test
(only processes of its uids or its temp dir) and removes the temp dir.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from conftest import UID_BASE, UID_SPAN, find_leftovers, kill_matching
from helpers import REPO


class Contained:
    def __init__(self, label):
        # the server's uid must traverse it (its work dir is made in it)
        label = re.sub(r"[^\w.-]+", "_", label)[:40]
        self.tmpdir = tempfile.mkdtemp(prefix="lab-test-%s-" % label, dir="/tmp")
        os.chmod(self.tmpdir, 0o755)
        self.uids = range(UID_BASE, UID_BASE + UID_SPAN)
        self.env = {"TMPDIR": self.tmpdir, "LAB_SERVER_UID": str(UID_BASE)}

    def leftovers(self, settle=3.0):
        """What is left, once the kernel had `settle` s to finish what the
        grader's exit set in motion (its last zombies get reaped)."""
        deadline = time.monotonic() + settle
        while True:
            found = find_leftovers(self.tmpdir, self.uids)
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def servers(self):
        """The graded servers running now (cwd a lab-check-* dir below ours:
        `lab grade` gives each worker a folder of its own in it)."""
        found = []
        for proc in psutil.process_iter(["cwd"]):
            cwd = proc.info["cwd"] or ""
            if cwd.startswith(self.tmpdir + os.sep) and \
                    os.path.basename(cwd).startswith("lab-check-"):
                found.append(proc)
        return found

    def popen(self, *args, env=None):
        """`python3 -m grader ARGS` in a session of its own (so the test can
        signal it as a terminal would), output captured."""
        argv = [sys.executable, "-m", "grader", *map(str, args)]
        full_env = dict(os.environ, PYTHONPATH=str(REPO), **self.env, **(env or {}))
        full_env.pop("COLUMNS", None)
        return subprocess.Popen(argv, cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    def wait_for_server(self, popen, timeout=30):
        """Wait until the grader runs a server; fail if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.servers():
                return
            if popen.poll() is not None:
                out, err = popen.communicate()
                pytest.fail("the grader exited (%s) before it ran a server:\n%s\n%s"
                            % (popen.returncode, out[-2000:], err[-2000:]))
            time.sleep(0.05)
        stop(popen)
        pytest.fail("the grader ran no server within %d s" % timeout)

    def clean_up(self):
        """Kill, one by one by pid, what is left working in our temp dir
        (a leaked server's cwd is its lab-check-* dir there; a `lab grade`
        worker writes its results there); remove the temp dir. Not by uid:
        another run's grader may hold a uid of our range (the survey would
        say so), and its servers are not ours."""
        kill_matching(lambda info: (info["cwd"] or "").startswith(self.tmpdir)
                      or any(self.tmpdir in arg for arg in info["cmdline"] or []))
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def stop(popen):
    """Kill a grader started by Contained.popen, with its session; reap it."""
    if popen.poll() is None:
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    popen.communicate()


def signal_during_check(box, signum, *args, timeout=60):
    """Run `lab ARGS`, send `signum` to it (its process group, as a terminal
    does) once it runs a server, and return (exit status, stdout, stderr).
    ARGS must grade a server that keeps the grader waiting for seconds
    (tests/hostile/accepts_no_answer.py: `serves` waits 5 s for an answer
    that never comes), so the signal always lands mid-check."""
    popen = box.popen(*args)
    try:
        box.wait_for_server(popen)
        os.killpg(popen.pid, signum)
        out, err = popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(popen)
        pytest.fail("the grader did not end within %d s of %s" % (
            timeout, signal.Signals(signum).name))
    finally:
        if popen.poll() is None:
            stop(popen)
    return popen.returncode, out, err


@pytest.fixture
def contained(request):
    box = Contained(request.node.name)
    yield box
    box.clean_up()


HOSTILE = Path(__file__).resolve().parent / "hostile"
NEVER_ANSWERS = HOSTILE / "accepts_no_answer.py"
