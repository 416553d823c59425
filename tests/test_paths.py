"""Paths of the lab command no other test takes: Ctrl-C during `lab demo`,
SIGTERM and SIGHUP during `lab check`, files given back to the user who ran
sudo, the interpreter the servers run under (LAB_PYTHON), and `lab grade`
as CSV, past its per-submission bound, and with workers that fail.

Every grading here is cheap (a server that exits, never answers, or
`--only serves`), and runs with a TMPDIR and server uids of the test's own
(tests/contained.py), so that what it leaves behind can be found.
"""

import csv
import io
import json
import os
import re
import signal
import sys
import time

import psutil
import pytest

from contained import NEVER_ANSWERS, contained, signal_during_check, stop  # noqa: F401
from helpers import REFERENCES, REPO, Transcript, lab, lab_json, verdicts
from requirements import require, unavailable

from grader.batch import MARGIN_SECONDS
from grader.stages import STAGES

# With pytest -n (.ci/run), the tests of a group run in one worker: its servers or demos use this machine's port 8888: one at a time.
pytestmark = pytest.mark.xdist_group("host-port-8888")

# A server that says which interpreter runs it, then exits: `serves` fails
# at once and keeps its output.
WHICH_PYTHON = "import sys\nprint('RUNNING UNDER', sys.executable)\nraise SystemExit(3)\n"


# -- lab demo: Ctrl-C gives the demo its grace ---------------------------------

def test_ctrl_c_during_lab_demo_lets_the_demo_clean_up(contained):
    """^C in the terminal reaches `lab demo` and the demo alike: lab waits for
    the demo to clean up (its shells, its server, its working directory) and
    exits as the demo did, 130."""
    pexpect = require("pexpect")
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1", **contained.env)
    for attempt in range(3):
        child = pexpect.spawn(sys.executable, ["-m", "grader", "demo", "3a"], cwd=str(REPO),
                              env=env, encoding="utf-8", codec_errors="replace",
                              timeout=60, dimensions=(50, 200))
        transcript = []
        child.logfile_read = Transcript(transcript)
        try:
            which = child.expect([r"Serving HTTP on port 8888",
                                  r"CANNOT RUN THIS DEMO HERE: port 8888", pexpect.EOF],
                                 timeout=90)
            if which == 2:
                pytest.fail("lab demo ended before its server started:\n"
                            + "".join(transcript)[-4000:])
            if which == 0:
                time.sleep(1)
                child.sendcontrol("c")
            child.expect(pexpect.EOF, timeout=60)
        except pexpect.TIMEOUT:
            pytest.fail("lab demo did not end within 60 s of ^C, or its server did not start "
                        "within 90 s:\n" + "".join(transcript)[-4000:])
        finally:
            child.close(force=True)
        if which == 0:
            break
        time.sleep(5)       # another process held port 8888 for a moment: again
    else:
        unavailable("port 8888 stays in use on this machine: " + "".join(transcript)[-300:])
    out = "".join(transcript)
    assert child.exitstatus == 130, (child.exitstatus, child.signalstatus, out[-3000:])
    assert "Interrupted: cleaning up." in out, out[-3000:]
    assert "Working directory: " + contained.tmpdir[:20] in out, out[-3000:]
    # (its TMPDIR is ours: there it made its working directory, lab-demo-3a-*)
    left = sorted(os.listdir(contained.tmpdir))
    assert not left, "the demo left its working directory: %s" % left
    left = contained.leftovers()
    assert not left, left


# -- lab check: SIGTERM and SIGHUP clean up like Ctrl-C -------------------------

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminated_check_still_writes_results(signum, tmp_path, contained):
    """`kill` or a closed terminal mid-check: the results file says error and
    why, exit 2, and the server is gone."""
    out = tmp_path / "results.json"
    code, stdout, stderr = signal_during_check(
        contained, signum, "check", "3g", NEVER_ANSWERS, "--only", "serves",
        "--format", "json", "--output", out)
    assert code == 2, stdout + stderr
    report = json.loads(out.read_text())
    assert report["status"] == "error", report
    assert "interrupted" in report["message"], report["message"]
    assert report["score"] == 0
    assert "Traceback" not in stdout + stderr
    left = contained.leftovers()
    assert not left, left


# -- files given back to the user who ran sudo ----------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (as under sudo)")
@pytest.mark.container
def test_results_files_belong_to_the_sudo_user(learner_dir):
    """Under sudo the files are written with the user's rights (a folder of
    theirs: tests/test_privilege.py has the ones they may not write)."""
    tmp_path = learner_dir(4242, 4343)
    sudo = {"SUDO_UID": "4242", "SUDO_GID": "4343"}
    out = tmp_path / "check.json"
    done = lab("check", "3g", tmp_path / "missing.py", "--output", out, env=sudo)
    assert done.returncode == 2, done.stderr
    assert json.loads(out.read_text())["status"] == "error"
    outputs = [tmp_path / "grade.xml", tmp_path / "grade.csv", tmp_path / "grade.json"]
    done = lab("grade", "--stage", "3g", tmp_path / "missing.py", "--format", "junit",
               "--output", outputs[0], "--csv", outputs[1], "--json", outputs[2], env=sudo)
    assert done.returncode == 2, done.stderr
    for path in [out] + outputs:
        st = path.stat()
        assert (path.name, st.st_uid, st.st_gid) == (path.name, 4242, 4343)
    # without SUDO_UID, root's files stay root's
    plain = learner_dir(0, 0) / "plain.json"
    lab("check", "3g", tmp_path / "missing.py", "--output", plain,
        env={"SUDO_UID": "", "SUDO_GID": ""})
    assert plain.stat().st_uid == 0


# -- the interpreter the servers run under: LAB_PYTHON, else a fallback ---------

def _interpreter_of(report):
    [serves] = report["checks"]
    assert serves["status"] == "fail" and "exited with status 3" in serves["message"], serves
    found = re.search(r"RUNNING UNDER (\S+)", serves["output"])
    assert found, serves["output"]
    return found.group(1)


def test_lab_python_that_does_not_exist_falls_back(tmp_path, contained):
    path = tmp_path / "webserver3a.py"
    path.write_text(WHICH_PYTHON)
    status, report, stderr = lab_json("check", "3a", path, "--only", "serves",
                                      env=dict(contained.env, LAB_PYTHON="/nonexistent/python3"))
    assert status == 1, stderr
    python = _interpreter_of(report)
    assert python != "/nonexistent/python3" and os.path.isfile(python), python
    assert not contained.leftovers()


def test_lab_python_is_used(tmp_path, contained):
    # A name of its own for an interpreter the servers' uid may run, in a
    # folder that uid may enter: sys.executable tells which one ran.
    target = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    chosen = os.path.join(contained.tmpdir, "python3-chosen")
    os.symlink(target, chosen)
    path = tmp_path / "webserver3a.py"
    path.write_text(WHICH_PYTHON)
    status, report, stderr = lab_json("check", "3a", path, "--only", "serves",
                                      env=dict(contained.env, LAB_PYTHON=chosen))
    assert status == 1, stderr
    assert _interpreter_of(report) == chosen
    assert not contained.leftovers()


# -- lab grade ----------------------------------------------------------------

def test_grade_as_csv(tmp_path, contained):
    """One row per submission, in the order given, one column per check."""
    broken = tmp_path / "broken.py"
    broken.write_text("x = (\n")
    exits = tmp_path / "exits.py"
    exits.write_text("raise SystemExit(3)\n")
    missing = tmp_path / "missing.py"
    done = lab("grade", "--stage", "3a", broken, exits, missing, "--format", "csv",
               env=contained.env, timeout=120)
    assert done.returncode == 2, done.stderr             # one could not be graded
    rows = list(csv.reader(io.StringIO(done.stdout)))
    header, body = rows[0], rows[1:]
    ids = list(STAGES["3a"].checks)
    assert header == ["submission", "stage", "status", "score", "max_score", "seconds",
                      "message"] + ids
    table = [dict(zip(header, row)) for row in body]
    assert all(len(row) == len(header) for row in body), body
    assert [r["submission"] for r in table] == [str(broken), str(exits), str(missing)]
    assert [r["status"] for r in table] == ["fail", "fail", "error"]
    assert all(r["stage"] == "3a" and r["score"] == "0" for r in table)
    max_score = str(len(STAGES["3a"].required))
    assert [r["max_score"] for r in table] == [max_score] * 3
    assert table[0]["serves"] == table[1]["serves"] == "fail"
    assert all(table[0][c] == "skip" for c in ids[1:])
    assert [table[2][c] for c in ids] == [""] * len(ids)  # not graded: no check ran
    assert "no such file or folder" in table[2]["message"]
    assert "0 pass, 2 fail, 1 error" in done.stderr      # the summary, not in the CSV
    assert not contained.leftovers()


def test_grade_timeout_bounds_a_submission(contained):
    """--timeout 3 on a server that never answers: `serves` (which would
    wait 5 s) is cut at the bound and says so; the rest is not run."""
    status, data, stderr = lab_json("grade", "--stage", "3g", NEVER_ANSWERS, "--timeout", 3,
                                    env=contained.env, timeout=3 + MARGIN_SECONDS + 30)
    assert status == 1, stderr
    [report] = data["submissions"]
    assert report["status"] in ("fail", "error"), report
    serves = report["checks"][0]
    assert serves["id"] == "serves" and serves["status"] in ("fail", "error")
    assert re.search(r"timed out|time bound", serves["message"]), serves["message"]
    assert all(c["status"] == "skip" for c in report["checks"][1:])
    assert not contained.leftovers()


def test_a_submission_that_vanishes_before_its_turn_gets_a_report(tmp_path, contained):
    """One at a time: while the first is graded the second is deleted; it
    still gets its report (error, and why), the batch goes on."""
    later = tmp_path / "later.py"
    later.write_text(REFERENCES["3a"].read_text())
    popen = contained.popen("grade", "--stage", "3a", NEVER_ANSWERS, later, "--jobs", 1,
                            "--format", "json")
    try:
        contained.wait_for_server(popen)       # the first one's turn: 5 s at least
        later.unlink()
        out, err = popen.communicate(timeout=120)
    finally:
        stop(popen)
    assert popen.returncode == 2, err
    first, second = json.loads(out)["submissions"]
    assert first["status"] == "fail" and verdicts(first)["serves"] == "fail"
    assert second["submission"] == str(later) and second["status"] == "error"
    assert "no such file or folder" in second["message"], second["message"]
    assert "1 fail, 1 error" in err
    assert not contained.leftovers()


def test_a_worker_that_dies_gets_a_report(tmp_path, contained):
    """The worker grading the first submission is killed (SIGKILL): that
    submission gets a report saying so, the next is graded, nothing of the
    dead worker is left."""
    broken = tmp_path / "broken.py"
    broken.write_text("x = (\n")
    popen = contained.popen("grade", "--stage", "3a", NEVER_ANSWERS, broken, "--jobs", 1,
                            "--format", "json")
    try:
        contained.wait_for_server(popen)
        workers = [p for p in psutil.Process(popen.pid).children()
                   if "check" in p.cmdline()]
        assert len(workers) == 1, workers
        workers[0].kill()
        out, err = popen.communicate(timeout=120)
    finally:
        stop(popen)
    assert popen.returncode == 2, err
    first, second = json.loads(out)["submissions"]
    assert first["submission"] == str(NEVER_ANSWERS) and first["status"] == "error"
    assert "the grader's worker failed (killed by signal 9)" in first["message"], first
    assert second["status"] == "fail" and "does not compile" in second["checks"][0]["message"]
    left = contained.leftovers()
    assert not left, left


def test_an_invalid_port_gets_a_report_not_a_crash(tmp_path, contained):
    """--port 70000 (no such TCP port): the submission gets a report that
    names the port; the grader does not crash (nor hang: its worker's bound
    is 10 + MARGIN_SECONDS)."""
    exits = tmp_path / "exits.py"
    exits.write_text("raise SystemExit(3)\n")
    status, data, stderr = lab_json("grade", "--stage", "3a", exits, "--port", 70000,
                                    "--timeout", 10, env=contained.env,
                                    timeout=10 + MARGIN_SECONDS + 30)
    [report] = data["submissions"]
    assert status in (1, 2) and report["status"] in ("fail", "error"), report
    assert "Traceback" not in stderr + json.dumps(report), report
    assert "70000" in report["message"] + json.dumps(report["checks"])
    assert not contained.leftovers()
