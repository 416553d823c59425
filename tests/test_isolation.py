"""Batch grading: submissions that all hard-code port 8888 never reach each
other's servers, and nothing a submission starts outlives its grading."""

import json
import os
import textwrap

import pytest

from contained import contained  # noqa: F401  (a fixture)
from helpers import REFERENCES, lab_json

from grader import netns
from grader.stages import STAGES

# With pytest -n (.ci/run), the tests of a group run in one worker: its module grades on its own.
pytestmark = pytest.mark.xdist_group("isolation")

# A correct forking server whose body names it; both bind port 8888.
NAMED_SERVER = textwrap.dedent('''\
    import os, signal, socket, time

    NAME = {name!r}

    def reap(signum, frame):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('', 8888))
    s.listen(1024)
    signal.signal(signal.SIGCHLD, reap)
    while True:
        conn, _ = s.accept()
        if os.fork() == 0:
            s.close()
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 200 OK\\r\\n\\r\\n" + NAME.encode() + b"\\n")
            conn.close()
            os._exit(0)
        conn.close()
''')


def server_file(folder, name, body):
    path = folder / name
    path.mkdir()
    (path / "server.py").write_text(NAMED_SERVER.format(name=body))
    return path


@pytest.mark.container
def test_two_submissions_on_port_8888_get_their_own_verdicts(tmp_path):
    """In parallel where each check gets a private network namespace (root,
    outside a container), one after another elsewhere: right either way."""
    hello = server_file(tmp_path, "alice", "Hello, World!")
    other = server_file(tmp_path, "bob", "Goodbye, World!")
    status, data, stderr = lab_json("grade", "--stage", "3g", hello, other, hello, other,
                                    "--jobs", "2", timeout=300)
    parallel = netns.available() and os.geteuid() == 0
    assert "(%d at a time)" % (2 if parallel else 1) in stderr, stderr
    reports = data["submissions"]
    assert [r["submission"] for r in reports] == [str(hello), str(other)] * 2
    for report in reports:
        serves = report["checks"][0]
        if report["submission"] == str(hello):
            assert report["status"] == "pass", report
        else:
            assert serves["status"] == "fail"
            assert "Goodbye" in serves["message"]


def test_batch_leaves_no_process_and_reports_every_path(tmp_path, contained):
    """Leftovers are found where they would be: a server runs as
    `python -u FILE` with its work dir (TMPDIR/lab-check-*) as cwd, under a
    server uid; the survey looks there (and for lab-check-* dirs left)."""
    (tmp_path / "bad.py").write_text("x = (\n")
    paths = [REFERENCES["3f"], tmp_path / "bad.py", tmp_path / "missing.py"]
    status, data, stderr = lab_json("grade", "--stage", "3f", *paths, timeout=300,
                                    env=contained.env)
    assert status == 2          # one could not be graded
    assert [r["status"] for r in data["submissions"]] == ["pass", "fail", "error"]
    assert "1 pass, 1 fail, 1 error" in stderr
    left = contained.leftovers()
    assert not left, left


def test_csv_and_json_exports(tmp_path):
    csv_file, json_file = tmp_path / "out" / "class.csv", tmp_path / "class.json"
    status, data, _ = lab_json("grade", "--stage", "3a", REFERENCES["3a"],
                               "--csv", csv_file, "--json", json_file)
    assert status == 0
    header, row = csv_file.read_text().splitlines()
    assert header.startswith("submission,stage,status,score,max_score")
    assert row.startswith("%s,3a,pass,4,4" % REFERENCES["3a"])
    exported = json.loads(json_file.read_text())
    assert exported == data                 # the same results as on stdout
    [report] = exported["submissions"]
    assert (report["submission"], report["stage"], report["status"]) == (
        str(REFERENCES["3a"]), "3a", "pass")
    assert (report["score"], report["max_score"]) == (4, 4)
    assert [c["id"] for c in report["checks"]] == list(STAGES["3a"].checks)
    assert all(c["status"] == "pass" for c in report["checks"] if c["required"])
