"""Every stage's demo (`lab demo 3X`, i.e. labs/<dir>/demo.py) reproduces its
phenomenon, ends within its bounds, and leaves nothing behind.

Each demo runs in a subprocess with a hard timeout of its own (pytest-timeout
is only a backstop): on expiry it gets SIGTERM (its own cleanup runs), then
SIGKILL. The time a demo took is printed, never asserted (a loaded machine
is slower).

As root the demos run their servers as a uid of their own (LAB_SERVER_UID,
base 64923 here, unless the caller sets LAB_DEMO_TEST_UID; a demo claims the
first free uid from there, as `lab check` does): a grader kills every
process of its server uid, and RLIMIT_NPROC counts per uid, so a demo must
not share a uid with a concurrent check. After each demo no process of those
uids may remain, nor any process in the demo's working directory.
"""

import atexit
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from requirements import require

psutil = require("psutil")
require("pexpect")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.identity import is_root  # noqa: E402
from grader.stages import STAGES  # noqa: E402

# With pytest -n (.ci/run), the tests of a group run in one worker: its servers or demos use this machine's port 8888: one at a time.
pytestmark = pytest.mark.xdist_group("host-port-8888")

DEMO_TIMEOUT = 120            # seconds, per demo run (a demo stops itself at 100)
DEMO_BUDGET = 60              # what a demo takes at most on an idle machine: reported
TMP_PREFIX = "lab-demo-"
TEST_UID = int(os.environ.get("LAB_DEMO_TEST_UID", "64923"))
# a demo claims the first of these that no grader holds (identity.py)
TEST_UIDS = set(range(TEST_UID, TEST_UID + 64))


# where the demos that end with `lab trace` draw their pictures (not the checkout)
TRACE_DIR = tempfile.mkdtemp(prefix="lab-demo-traces-")
atexit.register(shutil.rmtree, TRACE_DIR, True)


def _env(extra=None):
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO), LAB_TRACE_DIR=TRACE_DIR)
    env.pop("LAB_DEMO_FAST", None)
    env.pop("LAB_DEMO_NO_STRACE", None)
    if is_root():
        env["LAB_SERVER_UID"] = str(TEST_UID)
    env.update(extra or {})
    return env


def _stop(proc):
    """SIGTERM the demo's process group (its cleanup runs), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_demo(stage_id, *args, env=None, timeout=DEMO_TIMEOUT):
    """Run a demo to its end; (exit status, output, seconds)."""
    demo = STAGES[stage_id].demo
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(demo), *args], cwd=str(REPO),
                            env=_env(env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        out, _ = proc.communicate()
        pytest.fail("demo {} {} did not end within {} s:\n{}".format(
            stage_id, " ".join(args), timeout, out[-6000:]))
    return proc.returncode, out, time.monotonic() - started


# ------------------------------------------------------------ leftovers ---

WORKDIR = re.compile(r"(?:Working directory: |工作目录：)(\S*?{}[^\s（]+)".format(TMP_PREFIX))


def _in_dirs(proc, dirs):
    try:
        cwd = proc.cwd()
        if any(cwd.startswith(d) for d in dirs):
            return True
    except psutil.Error:
        pass
    try:
        return any(d in arg for arg in proc.cmdline() for d in dirs)
    except psutil.Error:
        return False


def leftovers(before, dirs):
    """Processes a demo left: in its working directory, or (as root) of the
    demos' server uid; zombies included. `before`: pids to ignore."""
    found = []
    for proc in psutil.process_iter(["pid", "uids", "name"]):
        if proc.pid in before or proc.pid == os.getpid():
            continue
        try:
            uids = proc.info["uids"]
            if (is_root() and uids and TEST_UIDS & {uids.real, uids.effective}) \
                    or _in_dirs(proc, dirs):
                found.append("{} {} {}".format(proc.pid, proc.info["name"], proc.status()))
        except psutil.Error:
            pass
    return found


class Demos:
    """Runs demos and remembers their working directories."""

    def __init__(self):
        self.outputs = []

    def run(self, stage_id, *args, env=None, timeout=DEMO_TIMEOUT, retry_busy=True):
        for attempt in range(3):
            code, out, seconds = run_demo(stage_id, *args, env=env, timeout=timeout)
            self.outputs.append(out)
            # port 8888 taken by something else on this machine (a concurrent
            # `lab check`?): not the demo's fault, try again a little later
            if not (retry_busy and code == 2 and "port 8888" in out):
                break
            time.sleep(5)
        return code, out, seconds

    def workdirs(self):
        return {m.group(1) for out in self.outputs for m in WORKDIR.finditer(out)}


@pytest.fixture
def demos():
    """Runs demos; afterwards asserts nothing of them is left."""
    before = {p.pid for p in psutil.process_iter()}
    runner = Demos()
    yield runner
    dirs = runner.workdirs()
    deadline = time.monotonic() + 5
    while True:
        left = leftovers(before, dirs)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, "the demo left processes behind: {}".format(left)
    assert not [d for d in dirs if os.path.exists(d)], \
        "the demo left its directory: {}".format(dirs)


def passed(stage_id, code, out, seconds):
    assert code == 0, "demo {} exited {}:\n{}".format(stage_id, code, out[-8000:])
    assert "PHENOMENON NOT REPRODUCED" not in out
    assert "Demo {} complete".format(stage_id) in out, out[-4000:]
    assert WORKDIR.search(out), "the demo did not say where it ran"
    print("demo {}: {:.1f} s{}".format(stage_id, seconds, " (over the ~{} s budget: a loaded "
          "machine?)".format(DEMO_BUDGET) if seconds > DEMO_BUDGET else ""))


def flat(out):
    """The output with narration lines joined (it wraps at 100 columns)."""
    return re.sub(r"\n(  )?", " ", out)


def has(out, *patterns):
    for pattern in patterns:
        assert re.search(pattern, out) or re.search(pattern, flat(out)), \
            "missing {!r} in the demo's output:\n{}".format(pattern, out[-8000:])


# ---------------------------------------------------------------- demos ---

@pytest.mark.parametrize("fast", [False, pytest.param(True, marks=pytest.mark.container)],
                         ids=["article", "fast"])
def test_3a_second_client_waits(demos, fast):
    code, out, seconds = demos.run("3a", *(["--fast"] if fast else []))
    passed("3a", code, out, seconds)
    has(out, r"\[OK\] after 3 s curl has printed nothing",
        r"client2 \| Hello, World!",
        r"\[OK\] curl got \"Hello, World!\" as soon as the server was free")


@pytest.mark.parametrize("fast", [False, pytest.param(True, marks=pytest.mark.container)],
                         ids=["article", "fast"])
def test_3b_backlog_hang(demos, fast):
    code, out, seconds = demos.run("3b", *(["--fast"] if fast else []))
    passed("3b", code, out, seconds)
    has(out, r"client1 \| Hello, World!",
        r"\[OK\] 3 s and no output, no request printed by the server; yet curl's "
        r"connection \(local port \d+\) is ESTABLISHED")
    if fast:
        has(out, r"LAB_SLEEP=8 python3 webserver3b.py", r"client2 \| Hello, World!")
    else:
        has(out, r"client2 \| curl: \(56\)")


@pytest.mark.parametrize("fast", [False, pytest.param(True, marks=pytest.mark.container)],
                         ids=["article", "fast"])
def test_3c_concurrent_with_pid_ppid(demos, fast):
    code, out, seconds = demos.run("3c", *(["--fast"] if fast else []))
    passed("3c", code, out, seconds)
    children = re.findall(r"Child PID: (\d+)\. Parent PID (\d+)", out)
    assert len(children) == 2, out
    assert children[0][1] == children[1][1]
    has(out, r"client1 \| Hello, World!", r"client2 \| Hello, World!",
        r"PID +PPID +STAT +CMD", r"\[OK\] both curls printed")


@pytest.mark.container
def test_3d_no_fin_emfile_zombies_eagain(demos):
    code, out, seconds = demos.run("3d")
    passed("3d", code, out, seconds)
    has(out,
        r"curl: \(28\)", r"curl exit code: 28",                          # (a) no FIN
        r"Z\+? +\[python3?[\d.]*\] <defunct>", r"kill exit code: 0",     # zombies
        r"\[OK\] child \d+ is a zombie .* still there after kill -9",
        r"OSError: \[Errno 24\] Too many open files",                     # EMFILE
        r"\[Errno 11\] Resource temporarily unavailable")                 # EAGAIN
    emfile = re.search(r"Too many open files after (\d+) clients", flat(out))
    assert emfile and 200 < int(emfile.group(1)) < 256, out[-3000:]
    eagain = re.search(r"Resource temporarily unavailable at client (\d+) \(limit (\d+)",
                       flat(out))
    assert eagain, out[-3000:]
    served, limit = int(eagain.group(1)), int(eagain.group(2))
    assert served < limit
    if is_root():
        assert limit == 400 and served > 300, (served, limit)
    print("3d: EMFILE after {} clients, EAGAIN at client {} of limit {}".format(
        emfile.group(1), served, limit))


@pytest.mark.parametrize("variant", ["article", pytest.param("fast", marks=pytest.mark.container),
                                     "no-strace"])
def test_3e_sigchld_reaps_and_eintr(demos, variant):
    args = ["--fast"] if variant == "fast" else []
    env = {"LAB_DEMO_NO_STRACE": "1"} if variant == "no-strace" else None
    code, out, seconds = demos.run("3e", *args, env=env)
    passed("3e", code, out, seconds)
    has(out, r"Child \d+ terminated with status 0",
        r"\[OK\] child \d+ was reaped by the SIGCHLD handler: no zombie",
        r"libc accept\(\) returned -1, errno 4 \(EINTR")
    if variant == "no-strace":
        has(out, r"strace cannot be used here")
    elif "strace cannot be used here" not in out:
        has(out, r"= \? ERESTARTSYS", r"--- SIGCHLD \{", r"wait4\(-1, ")


@pytest.mark.container
def test_3f_burst_leaves_zombies(demos):
    code, out, seconds = demos.run("3f")
    passed("3f", code, out, seconds)
    counts = [int(n) for n in re.findall(
        r"zombie children of the server after burst \d+: (\d+) of 128", out)]
    assert counts and counts[-1] > 0, out[-4000:]
    has(out, r"<defunct>", r"\[OK\] ZOMBIES: \d+ of the 128 children")
    print("3f: zombies after each burst: {}".format(counts))


@pytest.mark.container
def test_3g_bursts_leave_no_zombie(demos):
    code, out, seconds = demos.run("3g")
    passed("3g", code, out, seconds)
    counts = [int(n) for n in re.findall(
        r"zombie children of the server after burst \d+: (\d+)", out)]
    assert counts == [0, 0, 0], counts
    has(out, r"\[OK\] 0 zombies after each of 3 bursts of 128 clients")


@pytest.mark.container
def test_demo_in_chinese(demos):
    """LAB_LANG=zh: the narration is Chinese, within its width, and the
    phenomenon shows as in English (two children of one parent, answered
    at once)."""
    from grader import i18n
    code, out, seconds = demos.run("3c", "--fast", env={"LAB_LANG": "zh"})
    assert code == 0, out[-8000:]
    assert "演示 3c 完成：每个现象都出现了" in out and "现象没有重现" not in out
    assert WORKDIR.search(out), "the demo did not say where it ran"
    children = re.findall(r"Child PID: (\d+)\. Parent PID (\d+)", out)
    assert len(children) == 2 and children[0][1] == children[1][1], out
    has(out, r"--- 第 1 步：启动 fork 服务器", r"client1 \| Hello, World!",
        r"client2 \| Hello, World!", r"\[OK\] 尽管每个子进程都在睡眠", r"描述符引用计数")
    narration = [line for line in out.splitlines() if line.startswith(("  >> ", "  .. ", "  [OK]"))]
    assert narration and all(i18n.width(line) <= 100 for line in narration), narration


def test_1_any_request_gets_the_answer(demos):
    code, out, seconds = demos.run("1")
    passed("1", code, out, seconds)
    has(out, r"client \| Hello, World!",
        r"server \| b'GET /hello HTTP/1\.1\\r\\nHost: localhost:8888",
        r"server \| b'GET /hello HTTP/1\.1\\n'",
        r"server \| b'hello\? is anybody there\\n'",
        r"\[OK\] garbage got Hello, World! too")
    assert out.count("client | Hello, World!") == 3, out[-4000:]


@pytest.mark.container
def test_2_three_frameworks_and_the_environ(demos):
    code, out, seconds = demos.run("2")
    passed("2", code, out, seconds)
    for framework in ("Flask", "Pyramid", "Django"):
        has(out, r"client \| Hello world from {}!".format(framework),
            r"\[OK\] curl got \"Hello world from {}!\"".format(framework))
    has(out, r"client \| +\"PATH_INFO\": \[", r"\"/environ\?lab=probe\"",
        r"\[OK\] the environ has the keys")


@pytest.mark.container
def test_3h_flask_behind_a_forking_server_no_zombies(demos, tmp_path):
    code, out, seconds = demos.run("3h", env={"LAB_TRACE_DIR": str(tmp_path)})
    passed("3h", code, out, seconds)
    has(out, r"Hello world from Flask!",
        r"\[OK\] curl got \"Hello world from Flask!\" from the Flask application")
    counts = [int(n) for n in re.findall(
        r"zombie children of the server after burst \d+: (\d+)", out)]
    assert counts == [0, 0], counts
    has(out, r"\[OK\] 0 zombies after each of 2 bursts of 128 clients")
    has(out, r"\[OK\] 128 children exited, the handler ran \d+ times, and all 128 were reaped")
    assert (tmp_path / "trace-webserver3h.svg").is_file()


# -------------------------------------------------------------- cleanup ---

@pytest.mark.container
def test_ctrl_c_cleans_up(demos):
    """Ctrl-C in the middle of a demo: exit 130, and nothing is left."""
    demo = STAGES["3d"].demo
    proc = subprocess.Popen([sys.executable, str(demo)], cwd=str(REPO), env=_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True)
    lines = queue.Queue()               # read in a thread: a silent demo never blocks us

    def read():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out = []
    try:
        deadline = time.monotonic() + 60
        while not any("Serving HTTP on port 8888" in line for line in out[-1:]):
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("the demo's server did not start within 60 s:\n" + "".join(out))
            if line is None:
                pytest.fail("the demo ended (%s) before its server started:\n%s"
                            % (proc.wait(), "".join(out)))
            out.append(line)
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)   # what Ctrl-C in the terminal does
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the demo did not end within 60 s of Ctrl-C:\n" + "".join(out))
    finally:
        if proc.poll() is None:
            _stop(proc)
        reader.join(10)
        while True:
            try:
                line = lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                out.append(line)
        out = "".join(out)
        demos.outputs.append(out)       # its working dir, for the leftover check
    assert proc.returncode == 130, out
    assert "Interrupted: cleaning up." in out


@pytest.mark.container
def test_port_taken_is_named(demos):
    """Another process LISTENing on 8888: the demo names it and stops (2)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", 8888))
        except OSError:
            pytest.skip("port 8888 is already in use on this machine")
        sock.listen(1)
        code, out, _ = demos.run("3a", retry_busy=False)
    finally:
        sock.close()
    assert code == 2, out
    has(out, r"CANNOT RUN THIS DEMO HERE: port 8888 is in use by PID {}".format(os.getpid()))
