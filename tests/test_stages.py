"""A stage is a folder and its declaration: a toy stage made in a test
starts its server with the arguments and files it declares, and is asked
what it declares."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader import runner  # noqa: E402
from grader.stages import StageError, find_stages  # noqa: E402

TOY_SERVER = '''\
import socket, sys
answer = __import__(sys.argv[1]).ANSWER     # a module beside the server's copy
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 8888))
s.listen(5)
while True:
    c, _ = s.accept()
    request = c.recv(1024)
    body = answer if request.startswith(b"GET /toy ") else b"wrong path"
    c.sendall(b"HTTP/1.1 200 OK\\r\\n\\r\\n" + body)
    c.close()
'''


def toy(tmp_path, declaration, files=True):
    folder = tmp_path / "labs" / "9z-toy"
    folder.mkdir(parents=True)
    (folder / "stage.toml").write_text(declaration)
    (folder / "toyserver.py").write_text(TOY_SERVER)
    if files:
        (folder / "toyanswer.py").write_text('ANSWER = b"toy answer"\n')
    return folder


DECLARATION = '''
id = "9z"
title = "A toy"
lesson = "a stage declared in a test"
server = "toyserver.py"
args = ["toyanswer"]
files = ["toyanswer.py"]
request_path = "/toy"
answer = "toy answer"
checks = ["serves"]
'''


def test_a_toy_stage_is_a_folder_and_its_declaration(tmp_path):
    toy(tmp_path, DECLARATION)
    stage = find_stages(tmp_path / "labs")["9z"]
    assert stage.server == tmp_path / "labs" / "9z-toy" / "toyserver.py"
    assert stage.launch.args == ("toyanswer",)
    assert stage.launch.files == (stage.directory / "toyanswer.py",)
    assert stage.launch.request.startswith(b"GET /toy HTTP/1.1\r\n")
    if not runner.parallel_available():
        pytest.skip("grading here would use the host's port 8888: as root with network "
                    "namespaces only")
    report = runner.grade(stage, stage.server)
    assert [(c.id, c.status) for c in report.checks] == [("serves", "pass")], report.checks
    assert "python3 %s toyanswer &" % stage.server in report.checks[0].reproduce
    assert "http://localhost:8888/toy" in report.checks[0].reproduce


def test_the_toy_fails_when_asked_another_answer(tmp_path):
    toy(tmp_path, DECLARATION.replace('answer = "toy answer"', 'answer = "other"'))
    stage = find_stages(tmp_path / "labs")["9z"]
    if not runner.parallel_available():
        pytest.skip("as root with network namespaces only")
    check = runner.grade(stage, stage.server).checks[0]
    assert check.status == "fail"
    assert 'expected a body containing "other"' in check.message
    assert check.hint.endswith("then other")


def test_defaults_are_part_3s(tmp_path):
    toy(tmp_path, 'id = "9z"\ntitle = "t"\nlesson = "l"\n')
    launch = find_stages(tmp_path / "labs")["9z"].launch
    assert launch.args == () and launch.files == ()
    assert launch.request == (b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n"
                              b"User-Agent: lab-check\r\n\r\n")
    assert launch.answer == "Hello, World!"


@pytest.mark.parametrize("line,words", [
    ('args = "flaskapp:app"', "args must be a list of strings"),
    ('files = ["missing.py"]', "which is no file of 9z-toy"),
    ('files = ["../stage.toml"]', "which is no file of 9z-toy"),
    ('request_path = "hello"', "request_path must be a path"),
    ('request_path = "/a b"', "request_path must be a path"),
    ('answer = ""', "answer must be the text"),
    ('answer = [', "stage.toml"),
])
def test_a_wrong_declaration_is_named(tmp_path, line, words):
    toy(tmp_path, 'id = "9z"\ntitle = "t"\nlesson = "l"\n' + line + "\n", files=False)
    with pytest.raises(StageError, match=words.replace(".", r"\.")):
        find_stages(tmp_path / "labs")
