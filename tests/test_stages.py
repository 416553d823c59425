"""A stage is a folder and its declaration: a toy stage made in a test
starts its server with the arguments and files it declares, and is asked
what it declares."""

import re
import shutil
import subprocess
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


HINTS = '''
[hints]
serves = """
The toy's own hint,
on two lines."""
closes = "a hint for a check that will not run"
'''


def test_the_toy_fails_when_asked_another_answer(tmp_path):
    """...and its own hint for the failed check comes first; a skipped
    check shows none."""
    toy(tmp_path, DECLARATION.replace('answer = "toy answer"', 'answer = "other"')
        .replace('checks = ["serves"]', 'checks = ["serves", "closes"]') + HINTS)
    stage = find_stages(tmp_path / "labs")["9z"]
    assert stage.hints == (("serves", "The toy's own hint, on two lines."),
                           ("closes", "a hint for a check that will not run"))
    if not runner.parallel_available():
        pytest.skip("as root with network namespaces only")
    check, skipped = runner.grade(stage, stage.server).checks
    assert check.status == "fail"
    assert 'expected a body containing "other"' in check.message
    assert check.hint.startswith("The toy's own hint, on two lines. Send a blank line")
    assert check.hint.endswith("then other")
    assert skipped.status == "skip" and skipped.hint == ""


def test_a_chinese_stage_hint_leads_without_a_space(tmp_path):
    """In Chinese no space follows the stage's full stop (。)."""
    from grader import i18n
    toy(tmp_path, DECLARATION.replace('answer = "toy answer"', 'answer = "other"')
        + '[hints]\nserves = "玩具服务器自己的提示。"\n')
    stage = find_stages(tmp_path / "labs")["9z"]
    if not runner.parallel_available():
        pytest.skip("as root with network namespaces only")
    i18n.use("zh")
    try:
        check = runner.grade(stage, stage.server).checks[0]
    finally:
        i18n.use("en")
    assert check.hint == "玩具服务器自己的提示。在状态行之后发送一个空行，然后是 other"


def test_the_server_file_is_the_declared_one(tmp_path, monkeypatch):
    """`lab check 9z` without FILE finds the declared server's name, here or
    in work/; in a folder of several .py files, that name is the server."""
    from grader.cli import UsageError, default_submission
    from grader.submission import SubmissionError, find_server
    stage = find_stages(toy(tmp_path, DECLARATION).parent)["9z"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="no toyserver.py here or in work/"):
        default_submission(stage)
    (tmp_path / "work").mkdir()
    for name in ("toyserver.py", "webserver9z.py", "helper.py"):
        (tmp_path / "work" / name).write_text(TOY_SERVER)
    assert default_submission(stage) == Path("work/toyserver.py")
    assert find_server(tmp_path / "work", stage) == tmp_path / "work" / "toyserver.py"
    (tmp_path / "work" / "toyserver.py").unlink()
    with pytest.raises(SubmissionError, match="name the server toyserver.py"):
        find_server(tmp_path / "work", stage)
    (tmp_path / "toyserver.py").write_text(TOY_SERVER)
    assert default_submission(stage) == Path("toyserver.py")


MINIMAL = 'id = "9z"\ntitle = "t"\nlesson = "l"\nserver = "toyserver.py"\n'


def test_defaults_are_part_3s(tmp_path):
    toy(tmp_path, MINIMAL)
    launch = find_stages(tmp_path / "labs")["9z"].launch
    assert launch.args == () and launch.files == ()
    assert launch.request == (b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n"
                              b"User-Agent: lab-check\r\n\r\n")
    assert launch.answer == "Hello, World!"


@pytest.mark.parametrize("line,words", [
    ('args = "flaskapp:app"', "args must be a list of strings"),
    ('files = ["missing.py"]', "which is no file of 9z-toy"),
    ('files = ["../stage.toml"]', "which is no file of 9z-toy"),
    ('files = ["../../grader/checks.py"]', "which is no file of 9z-toy"),
    ('files = ["/etc/passwd"]', "which is no file of 9z-toy"),
    ('request_path = "hello"', "request_path must be a path"),
    ('request_path = "/a b"', "request_path must be a path"),
    ('answer = ""', "answer must be the text"),
    ('answer = [', "stage.toml"),
    ('hints = "serves"', "hints must be a table"),
    ('[hints]\nserve = "typo"', "[hints] names 'serve', which is no check"),
    ('[hints]\ntrace_clients = 9', "[hints] names 'trace_clients', which is no check (the "
                                   "stage's own keys go above [hints])"),
    ('checks = ["serves"]\n[hints]\nreaps = "x"', "[hints] gives a hint for reaps, which the "
                                                 "stage does not run"),
    ('[hints]\nserves = 1', 'the hint for serves must be text: serves = "..."'),
    ('[hints]\nserves = " "', 'the hint for serves must be text'),
    ('[hints.serves]\nen = "x"', 'the hint for serves must be text'),
])
def test_a_wrong_declaration_is_named(tmp_path, line, words):
    toy(tmp_path, MINIMAL + line + "\n", files=False)
    with pytest.raises(StageError, match=re.escape(words)):
        find_stages(tmp_path / "labs")


@pytest.mark.parametrize("line,words", [
    ("", "server is missing"),
    ('server = "../3a-iterative/webserver3a.py"', "server = '../3a-iterative/webserver3a.py': "
                                                  "it must be a file name of the stage's folder"),
    ('server = "toyserver"', "it must be a file name of the stage's folder, NAME.py"),
])
def test_a_stage_declares_its_server_by_name(tmp_path, line, words):
    toy(tmp_path, 'id = "9z"\ntitle = "t"\nlesson = "l"\n' + line + "\n")
    with pytest.raises(StageError, match=re.escape(words)):
        find_stages(tmp_path / "labs")


def test_a_wrong_declaration_of_the_lab_is_an_error_not_a_traceback(tmp_path):
    """Every command imports the stages: a wrong stage.toml ends it with
    one line naming the file and what is wrong."""
    labs = tmp_path / "labs"
    shutil.copytree(REPO / "labs", labs, ignore=shutil.ignore_patterns("pictures"))
    shutil.copytree(REPO / "grader", tmp_path / "grader",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(labs / "3a-iterative" / "stage.toml", "a") as f:
        f.write("trace_clients = 0\n")
    done = subprocess.run([sys.executable, "-m", "grader", "list"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("lab: %s: trace_clients must be a number from 1 to 1000\n"
                           % (labs / "3a-iterative" / "stage.toml"))


# -- stage 2: a WSGI server is graded as one -------------------------------

WSGIREF_SERVER = '''\
import sys
from wsgiref.simple_server import make_server

module, name = sys.argv[1].split(":")
application = getattr(__import__(module), name)
make_server("", 8888, application).serve_forever()
'''

# answers every request as Flask would, without calling any application
IGNORES_THE_APP = '''\
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 8888))
s.listen(5)
while True:
    c, _ = s.accept()
    c.recv(1024)
    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 24\\r\\n\\r\\nHello world from Flask!\\n")
    c.close()
'''


def graded_at_2(tmp_path, source):
    from grader.stages import STAGES
    if not runner.parallel_available():
        pytest.skip("as root with network namespaces only (else the host's port 8888)")
    server = tmp_path / "server.py"
    server.write_text(source)
    report = runner.grade(STAGES["2"], server)
    return {c.id: c for c in report.checks}


def test_a_wsgiref_server_passes_stage_2(tmp_path):
    """The standard library's WSGI server meets PEP 3333: it passes every
    check of stage 2 but concurrent (it serves one client at a time)."""
    checks = graded_at_2(tmp_path, WSGIREF_SERVER)
    failed = {i: c.message for i, c in checks.items() if c.status != "pass"}
    assert set(failed) == {"concurrent"}, failed


def test_a_server_that_ignores_the_app_fails_the_app_checks(tmp_path):
    checks = graded_at_2(tmp_path, IGNORES_THE_APP)
    assert checks["serves"].status == "pass"
    assert checks["wsgi-frameworks"].status == "fail"
    assert "with pyramidapp:app" in checks["wsgi-frameworks"].message
    for check_id in ("wsgi-status-headers", "wsgi-body-iterable", "wsgi-close", "wsgi-input",
                     "wsgi-environ"):
        assert checks[check_id].status == "fail", (check_id, checks[check_id].message)
        assert checks[check_id].hint, check_id


# -- what the learner reads names stages that exist ----------------------------

# "stage 3c", "stages 3a, 3b and 3c", "lab show 3c" (check, demo, trace),
# and a Part 3 id alone: "3b's iterative server", "the children of 3c and 3e"
# ("3X", a capital, stands for any stage)
NAMED = re.compile(r"\b(?i:stages?|lab\s+(?:show|check|demo|trace))"
                   r"((?:(?:,|\s+and|\s+or)?\s+[1-9][a-z]?\b)+)")
ALONE = re.compile(r"(?<![\w.\[])[1-9][a-z]\b")
# %-style and {}-style placeholders: "%.1f s" names no stage 1f
PLACEHOLDER = re.compile(r"%(\([^)]*\))?[-#0 +]*(\d+|\*)?(\.(\d+|\*))?[a-zA-Z%]|\{[^{}]*\}")


def stage_references(text):
    text = PLACEHOLDER.sub(" ", text)
    found = set(ALONE.findall(text))
    for match in NAMED.finditer(text):
        found.update(re.findall(r"[1-9][a-z]?", match.group(1)))
    return found


def learner_texts():
    """(where, text): every string of the grader's and the labs' Python (the
    checks' hints, messages and descriptions, the demos' narration), and
    every stage's title, lesson and hints."""
    import ast
    for path in sorted((REPO / "grader").rglob("*.py")) + sorted((REPO / "labs").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield "%s:%d" % (path.relative_to(REPO), node.lineno), node.value
    from grader.stages import STAGES
    for stage in STAGES.values():
        where = "%s/stage.toml" % stage.slug
        yield where, stage.title
        yield where, stage.lesson
        for check_id, text in stage.hints:
            yield "%s [hints] %s" % (where, check_id), text


def test_every_stage_a_text_names_exists():
    from grader.stages import STAGES
    texts = list(learner_texts())
    assert any("(stage 3c)" in text for _, text in texts)      # the checks' hints are read
    assert any("lab show 3c" in text for where, text in texts if "[hints]" in where)
    wrong = ["%s: stage %s, in %r" % (where, ref, " ".join(text.split()))
             for where, text in texts for ref in sorted(stage_references(text))
             if ref not in STAGES]
    assert not wrong, "stages that do not exist:\n" + "\n".join(wrong)


def test_stage_references_are_found():
    assert stage_references("fork() after accept() (stage 3c).") == {"3c"}
    assert stage_references("one after another (stages 3a, 3b and 3e).") == {"3a", "3b", "3e"}
    assert stage_references("Part 3 answers it: lab show\n3c; lab check\n2 says") == {"3c", "2"}
    assert stage_references("3b's server; the children of 3c and 3x") == {"3b", "3c", "3x"}
    assert stage_references("Stage 3b makes it; lab demo 3X") == {"3b"}
    assert stage_references("%.1f s, {:.0f} s, \x1b[0m, 1 s, stage %s, stage fixes") == set()
