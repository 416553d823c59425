"""The lab command on bad input: a clear message and exit status 2, never a
traceback; on learners' usual mistakes: a failing check that teaches."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from helpers import REFERENCES, REPO, STAGES, lab, lab_json, verdicts

from grader.runner import TOTAL_SECONDS

# With pytest -n (.ci/run), the tests of a group run in one worker: its servers or demos use this machine's port 8888: one at a time.
pytestmark = [pytest.mark.xdist_group("host-port-8888"),
              # the CLI as the learner meets it, in the container too
              pytest.mark.container]

ARTICLE_3A_AS_TRANSLATED = textwrap.dedent('''\
    import socket

    SERVER_ADDRESS = (HOST, PORT) = '', 8888
    REQUEST_QUEUE_SIZE = 5

    def handle_request(client_connection):
        request = client_connection.recv(1024)
        print(request.decode())
        http_response = b"""
    HTTP/1.1 200 OK

    Hello, World!
    """
        client_connection.sendall(http_response)

    def serve_forever():
        listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listen_socket.bind(SERVER_ADDRESS)
        listen_socket.listen(REQUEST_QUEUE_SIZE)
        while True:
            client_connection, client_address = listen_socket.accept()
            handle_request(client_connection)
            client_connection.close()

    if __name__ == '__main__':
        serve_forever()
    ''')


def no_traceback(done):
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_no_command_prints_help():
    done = lab()
    assert done.returncode == 2 and "usage: lab" in done.stdout
    no_traceback(done)


def test_list_and_show():
    done = lab("list")
    assert done.returncode == 0
    for sid in ("1", "2", "3a", "3b", "3c", "3d", "3e", "3f", "3g", "3h"):
        assert "\n  %s  " % sid in done.stdout, sid
    assert "Part 3:" not in done.stdout.splitlines()[0]      # the series, not Part 3 alone
    done = lab("show", "g")
    assert done.returncode == 0 and "reaps-burst" in done.stdout


@pytest.mark.parametrize("args, says", [
    (("check", "3z", "x.py"), "unknown stage '3z'"),
    (("check", "3g", "/no/such/file.py"), "no such file"),
    (("check", "3g", REFERENCES["3g"], "--only", "serves,bogus"), "unknown check bogus"),
    (("show", "9"), "unknown stage"),
])
def test_usage_errors(args, says):
    done = lab(*args)
    assert done.returncode == 2
    assert says in done.stdout + done.stderr
    no_traceback(done)


def test_missing_file_still_writes_a_json_error_report(tmp_path):
    status, report, _ = lab_json("check", "3g", tmp_path / "nope.py")
    assert status == 2
    assert report["status"] == "error" and "no such file" in report["message"]
    # every required check, 1 point each without a rubric
    assert report["score"] == 0 and report["max_score"] == len(STAGES["3g"].required)


def test_unknown_stage_with_json_still_writes_json():
    status, report, stderr = lab_json("check", "3z", "x.py")
    assert status == 2 and report["status"] == "error" and "unknown stage" in report["message"]


@pytest.mark.parametrize("name, content, says", [
    ("server.bin", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "not a Python source file"),
    ("latin1.py", "print('caf\xe9')".encode("latin-1"), "not a Python source file"),
])
def test_not_python(tmp_path, name, content, says):
    path = tmp_path / name
    path.write_bytes(content)
    status, report, _ = lab_json("check", "3a", path)
    assert status == 2 and says in report["message"]


def test_folder_submissions(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = lab("check", "3a", empty)
    assert done.returncode == 2 and "holds no .py file" in done.stderr + done.stdout
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.py").write_text("")
    (two / "b.py").write_text("")
    done = lab("check", "3a", two)
    assert done.returncode == 2 and "name the server webserver3a.py" in done.stderr + done.stdout
    no_traceback(done)
    status, report, _ = lab_json("check", "3a", two)
    assert status == 2 and report["status"] == "error"
    assert "the folder holds 2 .py files (a.py, b.py)" in report["message"], report["message"]


def test_a_folder_with_webserver3x_among_other_files_grades_that_one(tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "a_helper.py").write_text("raise SystemExit('not the server')\n")
    (folder / "webserver3a.py").write_text(REFERENCES["3a"].read_text())
    (folder / "zz_notes.py").write_text("x = (\n")
    status, report, _ = lab_json("check", "3a", folder, "--only", "serves")
    assert status == 0, report
    assert report["submission"] == str(folder / "webserver3a.py")
    assert verdicts(report) == {"serves": "pass"}


def test_a_submission_over_1_mib_is_refused(tmp_path):
    big = tmp_path / "webserver3a.py"
    big.write_text(REFERENCES["3a"].read_text() + "#" * 80 + "\n" + ("# padding\n" * 110000))
    assert big.stat().st_size > 1 << 20
    status, report, stderr = lab_json("check", "3a", big)
    assert status == 2 and report["status"] == "error", report
    assert "too large for a server's source (1 MiB at most)" in report["message"]
    assert "%d bytes" % big.stat().st_size in report["message"]
    assert report["checks"] == [] and report["score"] == 0
    assert "Traceback" not in stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run lab as another user")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.py"       # in a folder only root may enter
    path.write_text("print(1)\n")
    done = lab("check", "3a", path, user=64350)
    assert done.returncode == 2 and "cannot read it" in done.stdout + done.stderr
    no_traceback(done)
    folder = tempfile.mkdtemp()
    try:
        os.chmod(folder, 0o755)
        path = Path(folder) / "secret.py"
        path.write_text("print(1)\n")
        path.chmod(0)
        done = lab("check", "3a", path, user=64350)
        assert done.returncode == 2 and "cannot read it (Permission denied)" in done.stdout
        no_traceback(done)
    finally:
        shutil.rmtree(folder)


def test_syntax_error_fails_serves_with_the_line(tmp_path):
    path = tmp_path / "webserver3a.py"
    path.write_text("import socket\n\ndef serve_forever(:\n    pass\n")
    status, report, _ = lab_json("check", "3a", path)
    assert status == 1
    serves = report["checks"][0]
    assert serves["status"] == "fail" and "line 3" in serves["message"]
    assert all(c["status"] == "skip" for c in report["checks"][1:])


def test_the_translated_articles_blank_line_is_explained(tmp_path):
    path = tmp_path / "webserver3a.py"
    path.write_text(ARTICLE_3A_AS_TRANSLATED)
    status, report, _ = lab_json("check", "3a", path, "--only", "serves")
    assert status == 1
    serves = report["checks"][0]
    assert "starts with a blank line" in serves["message"]
    assert 'b"""\\' in serves["hint"] and "HTTP/0.9" in serves["hint"]


def test_a_server_on_the_wrong_port_is_told_so(tmp_path):
    path = tmp_path / "webserver3a.py"
    path.write_text(REFERENCES["3a"].read_text().replace("8888", "8080"))
    status, report, _ = lab_json("check", "3a", path, "--only", "serves")
    assert status == 1
    assert "listens on port 8080, not on port 8888" in report["checks"][0]["message"]


def test_a_server_that_exits_shows_its_last_words(tmp_path):
    path = tmp_path / "webserver3a.py"
    path.write_text("raise SystemExit('no config file')\n")
    status, report, _ = lab_json("check", "3a", path, "--only", "serves")
    serves = report["checks"][0]
    assert "exited with status 1 before it listened" in serves["message"]
    assert "no config file" in serves["output"]


def test_default_file_is_found_in_the_current_folder(tmp_path):
    (tmp_path / "webserver3g.py").write_text(REFERENCES["3g"].read_text())
    done = lab("check", "3g", "--only", "serves", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("lab check 3g webserver3g.py  (3g: "), done.stdout
    assert "\n3g: 1 of 1 required checks pass, score 1/1: PASS\n" in done.stdout, done.stdout
    done = lab("check", "3f", cwd=tmp_path)
    assert done.returncode == 2 and "no webserver3f.py here" in done.stderr


def test_json_on_stdout_and_progress_on_stderr():
    status, report, stderr = lab_json("check", "3g", REFERENCES["3g"], "--only", "serves,closes")
    assert status == 0 and report["status"] == "pass"
    assert "== serves ==" in stderr
    assert set(verdicts(report)) == {"serves", "closes"}
    for check in report["checks"]:
        assert set(check) >= {"id", "status", "message", "hint", "reproduce", "seconds"}


def test_output_file_and_text_on_stdout(tmp_path):
    out = tmp_path / "sub" / "result.json"
    done = lab("check", "3g", REFERENCES["3g"], "--only", "serves", "--format", "json",
               "--output", out)
    assert done.returncode == 0
    assert "== serves == " in done.stdout
    assert json.loads(out.read_text())["status"] == "pass"


def test_text_format_with_output_writes_json_there_and_text_to_stdout(tmp_path):
    out = tmp_path / "result.json"
    done = lab("check", "3g", REFERENCES["3g"], "--only", "serves", "--format", "text",
               "--output", out)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["status"] == "pass" and verdicts(report) == {"serves": "pass"}
    assert "== serves == " in done.stdout
    assert "3g: 1 of 1 required checks pass, score 1/1: PASS" in done.stdout
    assert "{" not in done.stdout and done.stderr == ""      # text only, and all on stdout


def test_port_option_grades_a_server_on_that_port(tmp_path):
    path = tmp_path / "webserver3a.py"
    path.write_text(REFERENCES["3a"].read_text().replace("8888", "9999"))
    assert "9999" in path.read_text()
    status, report, _ = lab_json("check", "3a", path, "--port", "9999", "--only", "serves")
    assert status == 0, report
    [serves] = report["checks"]
    assert serves["status"] == "pass"
    assert "http://localhost:9999/hello" in serves["reproduce"], serves["reproduce"]
    assert "8888" not in serves["reproduce"]
    # the same file on the default port: it is told where it listens
    status, report, _ = lab_json("check", "3a", path, "--only", "serves")
    assert status == 1
    assert "listens on port 9999, not on port 8888" in report["checks"][0]["message"]


@pytest.mark.parametrize("command", [["check", "3g", "x.py"], ["grade", "--stage", "3g", "x.py"]])
@pytest.mark.parametrize("rubric, says", [
    (None, "cannot read the rubric %(path)s: No such file or directory"),
    ("[points\nserves = 2\n", "the rubric %(path)s is not valid TOML"),
    ("[points]\nserves = 'two'\n",
     "the rubric %(path)s: points for serves must be a number >= 0, not 'two'"),
    ("[points]\nbogus = 1\n", "the rubric %(path)s names unknown checks: bogus"),
])
def test_rubric_errors_are_named(command, rubric, says, tmp_path):
    path = tmp_path / "rubric.toml"
    if rubric is not None:
        path.write_text(rubric)
    done = lab(*command, "--rubric", path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "lab: " + says % {"path": path} in done.stderr, done.stderr
    no_traceback(done)


def test_a_busy_port_is_named_when_grading_without_a_namespace():
    """Without a private network namespace (as in a container), a server the
    learner left running on 8888 would answer instead: lab refuses, and says
    which process holds the port."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("127.0.0.1", 8888))
    except OSError:
        pytest.fail("port 8888 is busy on this machine: stop what listens there")
    holder.listen()
    try:
        status, report, _ = lab_json("check", "3g", REFERENCES["3g"], "--only", "serves",
                                     env={"LAB_NETNS": "off"})
    finally:
        holder.close()
    assert status == 2 and report["status"] == "error"
    assert "port 8888 is already in use by PID %d" % os.getpid() in report["checks"][0]["message"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run lab as another user")
def test_the_grader_works_unprivileged():
    """As a normal user the grader has no namespaces and no uid to drop to;
    it grades on this machine's port 8888, one check at a time."""
    done = lab("check", "3g", REFERENCES["3g"], user=64351, timeout=TOTAL_SECONDS + 60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no private network namespace here" in done.stdout


@pytest.mark.parametrize("args", [["list"], ["show", "3d"], ["--help"]])
def test_a_reader_that_leaves_early_gets_no_traceback(args):
    """`lab show 3d | head -1`: lab stops quietly when the pipe closes."""
    done = subprocess.run(
        "%s -m grader %s | head -c 10 >/dev/null" % (sys.executable, " ".join(args)),
        shell=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


@pytest.mark.parametrize("only", [None, "closes", "serves,reaps"])
def test_a_file_that_does_not_compile_fails_serves_and_skips_the_rest(tmp_path, only):
    """The checks that depend on nothing carry the syntax error; every other
    is skipped for what it builds on, even when --only leaves that out."""
    bad = tmp_path / "webserver3g.py"
    bad.write_text("def serve_forever(:\n")
    code, report, stderr = lab_json("check", "3g", bad, *(["--only", only] if only else []))
    assert code == 1 and "Traceback" not in stderr, stderr
    seen = {c["id"]: (c["status"], c["message"]) for c in report["checks"]}
    assert set(seen) == set(only.split(",") if only else STAGES["3g"].checks)
    for check_id, (status, message) in seen.items():
        if check_id == "serves":
            assert status == "fail" and message.startswith("the file does not compile: line 1")
        else:
            assert status == "skip" and message == ("skipped: the server does not serve "
                                                    "GET /hello (see 'serves')"), message
