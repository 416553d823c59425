"""The lab container: Linux behaviour the lessons rely on, checked inside it.

Drives `docker compose run --rm ...` from the repository root. Skipped when
docker or `docker compose` is missing, unless CI=true (then that is a
failure: tests/requirements.py). Never runs inside the container itself
(LAB_IN_CONTAINER=1).
`docker compose run --rm test` (the suite inside the container) is run by CI,
not from here.

The session fixture builds the image (cheap when nothing changed) after
making sure the base image exists (docker/build-base-image.sh).
"""

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from helpers import STAGES, Transcript
from requirements import require, require_docker, unavailable

REPO = Path(__file__).resolve().parent.parent
IN_CONTAINER = os.environ.get("LAB_IN_CONTAINER") == "1"
# LAB_IMAGE: the tag compose.yaml builds and runs (a branch's own, say)
SERVICE_IMAGE = os.environ.get("LAB_IMAGE", "lab3:latest")
RUN_PREFIX = "lab3-pytest-"

# With pytest -n (.ci/run), the tests of a group run in one worker: builds or runs images: one docker user at a time.
pytestmark = [
    pytest.mark.skipif(IN_CONTAINER, reason="tests the container from the outside"),
    # the first test builds the base image and the lab's image (1800 s each at most)
    pytest.mark.timeout(3900),
    pytest.mark.xdist_group("docker"),
]

_names = []           # containers started by this module, removed at the end

# The line `lab check` ends with: "3g: 9 of 9 required checks pass, score 9/9: PASS"
SUMMARY = re.compile(r"^3g: (\d+) of (\d+) required checks pass, score (\S+)/(\S+): (\w+)\s*$",
                     re.M)


def assert_3g_passes(out):
    """The summary line of `lab check 3g` on the reference: PASS, every
    required check."""
    found = SUMMARY.findall(out)
    assert len(found) == 1, out[-3000:]
    n = str(len(STAGES["3g"].required))
    assert found[0] == (n, n, n, n, "PASS"), out[-3000:]


def _remove_container(name):
    subprocess.run(["docker", "rm", "-f", name], capture_output=True,
                   timeout=60)


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory):
    """A fresh folder mounted as ~/work, owned like a learner's own folder.

    Not the project's ./work: the tests copy webserver3g.py there and must
    not overwrite a learner's file. As root on the host the folder is given
    to an unused uid, so the uid mapping of the entry point is exercised.
    """
    path = tmp_path_factory.mktemp("work")
    path.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(path, 4321, 4321)
    return path


@pytest.fixture(scope="session")
def image(work_dir):
    require_docker(compose=True)
    base = subprocess.run(["bash", "docker/build-base-image.sh"], cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    if base.returncode != 0:
        unavailable("no base image (docker/build-base-image.sh failed): "
                    + base.stderr[-2000:])
    build = subprocess.run(["docker", "compose", "build", "lab3"], cwd=REPO,
                           env=_env(work_dir), capture_output=True, text=True,
                           timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield SERVICE_IMAGE
    for name in _names:
        _remove_container(name)


def _env(work_dir):
    env = dict(os.environ, LAB_WORK_DIR=str(work_dir))
    env.pop("LAB_IN_CONTAINER", None)
    return env


def run(work_dir, script, *, root=False, service="lab3", args=None,
        timeout=120):
    """`docker compose run --rm -T` a bash script (or `args`) in a service."""
    name = RUN_PREFIX + uuid.uuid4().hex[:12]
    _names.append(name)
    argv = ["docker", "compose", "run", "--rm", "-T", "--name", name]
    if root:
        argv += ["-e", "LAB_RUN_AS=root"]
    argv.append(service)
    argv += args if args is not None else ["bash", "-c", script]
    try:
        return subprocess.run(argv, cwd=REPO, env=_env(work_dir),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    finally:
        _remove_container(name)     # a timeout leaves it running otherwise


# 1 ------------------------------------------------------------------------
def test_ulimit_u_limits_the_labserver_uid(image, work_dir):
    """RLIMIT_NPROC binds labserver (not root): fork fails with EAGAIN."""
    bash_probe = (
        "setpriv --reuid=labserver --regid=labserver --clear-groups "
        "timeout 60 bash -c 'ulimit -u 50; "
        "for i in $(seq 60); do sleep 5 & done; wait' 2>&1 | sort -u")
    py_probe = r"""
setpriv --reuid=labserver --regid=labserver --clear-groups python3 - <<'EOF'
import errno, os, resource, signal
resource.setrlimit(resource.RLIMIT_NPROC, (50, 50))
kids, err = [], None
for _ in range(60):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        signal.pause()
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print("forked", len(kids), "errno", errno.errorcode.get(err))
EOF
"""
    r = run(work_dir, bash_probe + "\n" + py_probe, root=True, timeout=150)
    assert r.returncode == 0, r.stderr
    assert "Resource temporarily unavailable" in r.stdout, r.stdout
    m = re.search(r"forked (\d+) errno (\w+)", r.stdout)
    assert m, r.stdout
    assert m.group(2) == "EAGAIN"
    assert int(m.group(1)) < 50


# 2 ------------------------------------------------------------------------
def test_ulimit_n_in_a_subshell_stays_in_the_subshell(image, work_dir):
    r = run(work_dir, "echo outer $(ulimit -Hn); "
                      "(ulimit -n 256; echo inner $(ulimit -Sn) $(ulimit -Hn)); "
                      "echo after $(ulimit -Sn) $(ulimit -Hn); id -u")
    assert r.returncode == 0, r.stderr
    outer = re.search(r"outer (\S+)", r.stdout).group(1)
    assert "inner 256 256" in r.stdout
    after = re.search(r"after (\S+) (\S+)", r.stdout)
    assert after.group(2) == outer
    assert outer != "256"
    assert r.stdout.split()[-1] != "0"      # ran as the learner


# 3 ------------------------------------------------------------------------
def test_init_reaps_orphans_and_pids_limit_is_set(image, work_dir):
    script = r"""
echo "pid1=$(cat /proc/1/comm)"
python3 - <<'EOF'
import os, time
r, w = os.pipe()
go_r, go_w = os.pipe()
if os.fork() == 0:              # the middle process leaves an orphan behind
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.read(go_r, 1)        # lives until we looked at it (EOF), then exits
        os._exit(0)
    os.write(w, str(pid).encode())
    os._exit(0)
os.wait()
orphan = int(os.read(r, 32))
with open(f"/proc/{orphan}/stat") as f:
    print("orphan-ppid", f.read().rsplit(")", 1)[1].split()[1])
os.close(go_w)
deadline = time.monotonic() + 30    # reaped by init (a zombie would stay)
while os.path.exists(f"/proc/{orphan}") and time.monotonic() < deadline:
    time.sleep(0.05)
print("orphan-reaped", not os.path.exists(f"/proc/{orphan}"))
EOF
cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max
"""
    r = run(work_dir, script)
    assert r.returncode == 0, r.stderr
    assert "pid1=docker-init" in r.stdout or "pid1=tini" in r.stdout, r.stdout
    assert "orphan-ppid 1" in r.stdout, r.stdout      # reparented to init
    assert "orphan-reaped True" in r.stdout, r.stdout  # and reaped by it
    assert r.stdout.split()[-1] == "4096", r.stdout


# 4 ------------------------------------------------------------------------
STRACE_PROGRAM = r"""
python3 - <<'EOF'
import os, socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
if os.fork() == 0:
    socket.create_connection(s.getsockname()).close()
    os._exit(0)
s.accept()[0].close()
os.wait()
print("served")
EOF
"""


@pytest.mark.parametrize("root", [False, True], ids=["learner", "root"])
def test_strace_follows_forks(image, work_dir, root):
    script = ("id -un; cat > /tmp/p.sh <<'EOS'\n" + STRACE_PROGRAM + "\nEOS\n"
              "strace -f -e trace=accept4,wait4 bash /tmp/p.sh")
    r = run(work_dir, script, root=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == ("root" if root else "learner")
    assert "served" in r.stdout
    # (strace may split a line when another process's event comes between)
    assert re.search(r"accept4\(.*?\) = \d+", r.stderr, re.S), r.stderr
    assert "wait4(" in r.stderr
    assert "Operation not permitted" not in r.stderr


# 5 ------------------------------------------------------------------------
def test_a_learner_session(image, work_dir):
    """What a learner does: welcome, a demo, a check, a file in ~/work."""
    pexpect = require("pexpect")
    name = RUN_PREFIX + uuid.uuid4().hex[:12]
    _names.append(name)
    child = pexpect.spawn("docker", ["compose", "run", "--rm", "--name", name,
                                     "lab3"],
                          cwd=str(REPO), env=_env(work_dir), encoding="utf-8",
                          codec_errors="replace", timeout=60,
                          dimensions=(50, 160))
    transcript = []
    child.logfile_read = Transcript(transcript)

    def do(command, timeout=60):
        """Type a command, wait for its exit status; return (status, output)."""
        child.sendline(command + "; echo RC=$?")
        child.expect(r"RC=(\d+)", timeout=timeout)
        return int(child.match.group(1)), child.before

    try:
        child.expect("lab list", timeout=120)          # the welcome
        child.expect(r"lab demo 3a")
        child.expect(r"learner@lab3")                  # the prompt
        status, out = do("id -u; pwd")
        assert status == 0
        assert "/home/learner" in out

        status, out = do("lab demo 3f", timeout=300)
        assert status == 0, out
        assert "defunct" in out or "zombie" in out.lower(), out

        status, out = do("cp /opt/lab3/labs/3g-waitpid-loop/webserver3g.py "
                         "~/work/ && lab check 3g ~/work/webserver3g.py",
                         timeout=600)
        assert status == 0, out
        assert_3g_passes(out.replace("\r\n", "\n"))

        status, _ = do("echo written-in-the-container > ~/work/hello.txt")
        assert status == 0
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
        _remove_container(name)
        print("".join(transcript))          # shown when the test fails

    hello = work_dir / "hello.txt"
    assert hello.read_text() == "written-in-the-container\n"
    st, folder = hello.stat(), work_dir.stat()
    assert (st.st_uid, st.st_gid) == (folder.st_uid, folder.st_gid)
    copied = work_dir / "webserver3g.py"
    assert copied.stat().st_uid == folder.st_uid


def test_grade_service_grades_a_file_in_work(image, work_dir):
    shutil.copy(REPO / "labs/3g-waitpid-loop/webserver3g.py",
                work_dir / "graded3g.py")
    if os.geteuid() == 0:
        os.chown(work_dir / "graded3g.py", work_dir.stat().st_uid,
                 work_dir.stat().st_gid)
    r = run(work_dir, None, service="grade",
            args=["3g", "work/graded3g.py"], timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert_3g_passes(r.stdout)
