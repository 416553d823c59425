"""Least privilege: `lab` through sudo can do nothing to a file that the
learner could not do without it, the demos give no root shell, and a
submission cannot reach the grader, as root or not.

Each escalation attempt must be refused clearly (exit 2, a message, no
traceback) or contained, and the test proves that nothing changed: owner,
mode and contents of the target, and the grader alive.

Natively, as root, sudo is played by setting SUDO_UID/SUDO_GID to a uid of
the tests' own (LEARNER, no account needed). The targets are root-owned
stand-ins with the owners and modes of /etc/passwd, /etc/shadow and
/etc/sudoers.d, so that a failing test cannot clobber this machine's real
ones; the stand-in for /etc/shadow holds a correct server, so that a grader
that read it as root would grade it. In the container the real files are
tried through the real sudo rule, as `learner` (the tests at the end).
"""

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from conftest import HOSTILE, UID_BASE
from helpers import REFERENCES, REPO, SYSTEM_PYTHON, lab

from grader import identity, pidns

LEARNER = 4244                    # plays the learner under sudo (SUDO_UID)
NON_ROOT = 64352                  # a non-root grader (as test_cli's 64350, 64351)
SUDO = {"SUDO_UID": str(LEARNER), "SUDO_GID": str(LEARNER), "SUDO_USER": "learner"}

root_only = pytest.mark.skipif(not identity.is_root(), reason="plays sudo: needs root")


def snapshot(path):
    """(owner, group, mode, sha256) of a path, its link itself not followed
    (None where nothing is)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    digest = None
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        digest = os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        digest = sorted(os.listdir(path))
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), digest


@pytest.fixture
def etc():
    """Root's stand-ins: passwd (0644), shadow (0600, a correct server),
    sudoers.d/ (0750), rubric.toml (0600, valid), bundles/ (0755, empty)."""
    root = Path(tempfile.mkdtemp(prefix="lab-rootonly-", dir="/tmp"))
    os.chmod(root, 0o755)
    (root / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.chmod(root / "passwd", 0o644)
    shutil.copyfile(REFERENCES["3a"], root / "shadow")
    os.chmod(root / "shadow", 0o600)
    (root / "sudoers.d").mkdir(mode=0o750)
    (root / "rubric.toml").write_text("[points]\nserves = 5\n")
    os.chmod(root / "rubric.toml", 0o600)
    (root / "bundles").mkdir(mode=0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def work(learner_dir):
    """The learner's folder (owned by LEARNER) with their server in it."""
    folder = learner_dir(LEARNER, LEARNER)
    server = folder / "webserver3a.py"
    shutil.copyfile(REFERENCES["3a"], server)
    os.chown(server, LEARNER, LEARNER)
    return folder


def everything(etc):
    return {p: snapshot(p) for p in [etc] + sorted(etc.rglob("*"))}


def assert_refused(done, *words):
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    for word in words:
        assert word in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


# -- what the learner names: written with their rights ---------------------------

@root_only
@pytest.mark.container
@pytest.mark.parametrize("target", ["passwd", "sudoers.d/x", "link in work to shadow"])
def test_output_where_the_learner_may_not_write_is_refused(etc, work, target):
    before = everything(etc)
    if target.startswith("link"):
        path = work / "results.json"
        os.symlink(etc / "shadow", path)
    else:
        path = etc / target
    done = lab("check", "3a", "webserver3a.py", "--only", "serves", "--output", path,
               cwd=work, env=SUDO)
    assert_refused(done, "cannot write the results to %s" % path, "Permission denied",
                   "nothing was written")
    assert everything(etc) == before
    if target.startswith("link"):
        assert os.readlink(path) == str(etc / "shadow")


@root_only
@pytest.mark.container
def test_lab_grade_csv_and_json_where_the_learner_may_not_write_are_refused(etc, work):
    before = everything(etc)
    done = lab("grade", "--stage", "3a", "webserver3a.py",
               "--csv", etc / "passwd", "--json", etc / "sudoers.d" / "x", cwd=work, env=SUDO)
    assert done.returncode == 2
    assert "cannot write the results to %s" % (etc / "passwd") in done.stderr
    assert "cannot write the results to %s" % (etc / "sudoers.d" / "x") in done.stderr
    assert "Traceback" not in done.stderr
    assert everything(etc) == before


@root_only
@pytest.mark.container
def test_what_the_learner_may_write_is_written_and_theirs(work):
    done = lab("check", "3a", "webserver3a.py", "--only", "serves",
               "--output", "out/results.json", cwd=work, env=SUDO)
    assert done.returncode == 0, done.stderr
    written = work / "out" / "results.json"
    assert json.loads(written.read_text())["status"] == "pass"
    for path in (written, written.parent):
        assert (path.stat().st_uid, path.stat().st_gid) == (LEARNER, LEARNER)


# -- what the learner names: read with their rights ------------------------------

@root_only
@pytest.mark.container
@pytest.mark.parametrize("command", ["check", "grade"])
def test_a_submission_linked_to_a_root_only_file_is_not_read(etc, work, command):
    os.symlink(etc / "shadow", work / "evil.py")
    before = everything(etc)
    if command == "check":
        args = ["check", "3a", "evil.py"]
    else:
        args = ["grade", "--stage", "3a", "evil.py"]
    done = lab(*args, "--format", "json", cwd=work, env=SUDO)
    data = json.loads(done.stdout)
    report = data if command == "check" else data["submissions"][0]
    assert done.returncode == 2
    assert report["status"] == "error" and report["checks"] == []
    assert report["message"].endswith("evil.py: cannot read it (Permission denied)"), report
    assert "Traceback" not in done.stderr
    assert everything(etc) == before
    # the same form as a file that is not there at all
    missing = lab(*args[:-1], "missing.py", "--format", "json", cwd=work, env=SUDO)
    assert missing.returncode == 2
    assert "missing.py: no such file or folder" in missing.stdout
    # and root itself (no sudo) grades it: it was the learner's rights that refused
    as_root = lab(*args, *(["--only", "serves"] if command == "check" else []),
                  "--format", "json", cwd=work)
    assert as_root.returncode == 0, as_root.stdout[-2000:]


@root_only
@pytest.mark.container
def test_a_root_only_rubric_is_not_read(etc, work):
    before = everything(etc)
    rubric = etc / "rubric.toml"
    done = lab("check", "3a", "webserver3a.py", "--only", "serves", "--rubric", rubric,
               cwd=work, env=SUDO)
    assert_refused(done, "cannot read the rubric %s: Permission denied" % rubric)
    done = lab("gradescope-bundle", "--output", work / "a.zip", "--rubric", rubric,
               cwd=work, env=SUDO)
    assert_refused(done, "cannot read the rubric %s: Permission denied" % rubric)
    assert not (work / "a.zip").exists()
    assert everything(etc) == before
    # root itself reads it: 5 points for serves
    done = lab("check", "3a", "webserver3a.py", "--only", "serves", "--rubric", rubric,
               "--format", "json", cwd=work)
    assert json.loads(done.stdout)["score"] == 5


@root_only
@pytest.mark.container
def test_a_bundle_into_a_root_owned_folder_is_refused(etc, work):
    before = everything(etc)
    target = etc / "bundles" / "autograder.zip"
    done = lab("gradescope-bundle", "--output", target, cwd=work, env=SUDO)
    assert_refused(done, "cannot write %s: Permission denied" % target)
    assert everything(etc) == before        # not even autograder.zip.tmp
    done = lab("gradescope-bundle", "--output", "autograder.zip", cwd=work, env=SUDO)
    assert done.returncode == 0, done.stderr
    assert (work / "autograder.zip").stat().st_uid == LEARNER


# -- the environment and the current directory never reach root ---------------------

LAB_AS_ROOT = REPO / "docker" / "lab-as-root"

# A submission that says who runs it and with what, then exits (serves
# fails at once and keeps what it printed).
WHO_RUNS_ME = textwrap.dedent("""\
    import os, sys
    print("UID", os.getuid(), "PYTHON", sys.executable, flush=True)
    raise SystemExit(3)
    """)


def evil_folder(work):
    """What a learner could plant in their folder: a `grader` package and a
    sitecustomize that leave a mark when imported, a PYTHONSTARTUP file, a
    fake interpreter."""
    mark = work / "MARK"
    plant = "open(%r, 'a').write(__file__ + '\\n')\n" % str(mark)
    evil = work / "evil"
    (evil / "grader").mkdir(parents=True)
    (evil / "grader" / "__init__.py").write_text(plant)
    (evil / "grader" / "__main__.py").write_text(plant)
    (evil / "sitecustomize.py").write_text(plant)
    (evil / "startup.py").write_text(plant)
    shutil.copytree(evil / "grader", work / "grader")      # in the current directory too
    fake = evil / "python3"
    fake.write_text("#!/bin/sh\necho marked >> %s\nexec /usr/bin/python3 \"$@\"\n" % mark)
    fake.chmod(0o755)
    (work / "who.py").write_text(WHO_RUNS_ME)
    for path in [evil] + list(evil.rglob("*")) + [work / "grader", work / "who.py"] + \
            list((work / "grader").rglob("*")):
        os.lchown(path, LEARNER, LEARNER)
    return mark, {"PYTHONPATH": str(evil), "PYTHONSTARTUP": str(evil / "startup.py"),
                  "PYTHONHOME": str(evil), "PYTHONINSPECT": "1",
                  "LD_PRELOAD": "/nonexistent/libevil.so", "LAB_SERVER_UID": "0",
                  "LAB_PYTHON": str(fake), "LAB_NETNS": "off"}


def lab_as_root(work, args, env):
    """docker/lab-as-root, natively: the image's /opt/lab3 is this checkout."""
    script = LAB_AS_ROOT.read_text().replace("/opt/lab3", str(REPO))
    full_env = dict(os.environ, **env)
    return subprocess.run(["sh", "-c", script, "lab-as-root"] + [str(a) for a in args],
                          cwd=work, env=full_env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)


@root_only
@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="lab-as-root runs /usr/bin/python3")
def test_lab_as_root_lets_nothing_of_the_callers_environment_through(work):
    mark, evil_env = evil_folder(work)
    done = lab_as_root(work, ["check", "3a", "who.py", "--only", "serves", "--format", "json"],
                       dict(evil_env, **SUDO))
    assert done.returncode == 1, done.stderr[-3000:]
    # sh and env run before the scrub and complain of the missing library
    # (under sudo they never see LD_PRELOAD: sudo drops it); python3 must not
    assert done.stderr.count("libevil.so") == 2, done.stderr
    [serves] = json.loads(done.stdout)["checks"]
    found = re.search(r"UID (\d+) PYTHON (\S+)", serves["output"])
    assert found, serves
    assert int(found.group(1)) not in (0, LEARNER, os.getuid())   # a server uid
    assert "evil" not in found.group(2)
    assert not mark.exists(), mark.read_text()


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="lab-as-root runs /usr/bin/python3")
@pytest.mark.parametrize("env, chinese", [
    ({"LAB_LANG": "zh"}, True),
    ({"LANG": "zh_CN.UTF-8"}, True),
    ({"LAB_LANG": "en", "LANG": "zh_CN.UTF-8"}, False),
    ({"LAB_LANG": "zh;touch /tmp/x", "LANG": "C"}, False),
    ({}, False),
])
def test_lab_as_root_passes_the_learners_language_and_nothing_else(work, env, chinese):
    """The language reaches the root process as LAB_LANG=en|zh only."""
    clean = {k: "" for k in ("LAB_LANG", "LC_ALL", "LC_MESSAGES", "LANG")}
    done = lab_as_root(work, ["list"], dict(clean, **{k: v for k, v in env.items()}))
    assert done.returncode == 0, done.stderr
    assert ("列出" in done.stdout or "阶段" in done.stdout) == chinese, done.stdout[:400]


@root_only
@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="lab-as-root runs /usr/bin/python3")
def test_lab_grade_workers_import_nothing_from_the_current_directory(work):
    mark, _ = evil_folder(work)
    done = lab_as_root(work, ["grade", "--stage", "3a", "webserver3a.py", "--format", "json"],
                       SUDO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["submissions"][0]["status"] == "pass"
    assert not mark.exists(), mark.read_text()


@root_only
@pytest.mark.container
def test_a_lock_folder_another_user_made_in_tmp_is_refused(etc, learner_dir, monkeypatch):
    """/tmp/lab-server-uids made first by the learner, full of links to
    root's files: root neither uses it nor follows a link in it."""
    theirs = learner_dir(LEARNER, LEARNER)
    os.symlink(etc / "passwd", theirs / ("%d.lock" % identity.server_uid(0)))
    before = everything(etc)
    monkeypatch.setattr(identity, "LOCK_DIR", str(theirs))
    with pytest.raises(RuntimeError, match="not root's own folder"):
        identity.claim_server_uid()
    os.chown(theirs, 0, 0)          # root's now, but the link is still there
    with pytest.raises(OSError):
        identity.claim_server_uid()
    assert everything(etc) == before


# -- a submission against the grader --------------------------------------------------

# Tries the grader (its parent) every way, says how each went, then exits:
# serves fails at once, with this in its output.
AGAINST_THE_GRADER = textwrap.dedent("""\
    import ctypes, os, signal
    grader = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, grader, None, None) == 0:          # PTRACE_ATTACH
        print("PTRACE ATTACHED", flush=True)
    else:
        print("ptrace:", os.strerror(ctypes.get_errno()), flush=True)
    try:
        open("/proc/%d/mem" % grader, "r+b", buffering=0)
        print("MEMORY OPENED", flush=True)
    except OSError as e:
        print("mem:", e.strerror, flush=True)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL):
        try:
            os.kill(grader, signum)
        except OSError as e:
            print("kill:", e.strerror, flush=True)
    raise SystemExit(3)
    """)


def graded_against_the_grader(tmp_folder, user=None):
    submission = tmp_folder / "against.py"
    submission.write_text(AGAINST_THE_GRADER)
    submission.chmod(0o644)
    done = lab("check", "3g", submission, "--only", "serves", "--format", "json",
               cwd=tmp_folder, user=user, env={"LAB_NETNS": "off"} if user else None)
    assert done.returncode == 1, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    report = json.loads(done.stdout)
    [serves] = report["checks"]
    assert report["status"] == "fail" and "exited with status 3" in serves["message"], serves
    assert "PTRACE ATTACHED" not in serves["output"], serves["output"]
    assert "MEMORY OPENED" not in serves["output"], serves["output"]
    assert "interrupted" not in done.stderr
    return serves["output"], done.stderr


@root_only
@pytest.mark.container
def test_as_root_a_submission_cannot_ptrace_signal_or_kill_the_grader(learner_dir):
    output, _ = graded_against_the_grader(learner_dir(0, 0))
    assert "ptrace: Operation not permitted" in output
    assert "kill: Operation not permitted" in output


def _non_root_grader_possible():
    return identity.is_root() and Path(SYSTEM_PYTHON).exists()


# Not root, the servers use this machine's port 8888 (one check at a time).
@pytest.mark.xdist_group("host-port-8888")
@pytest.mark.skipif(not _non_root_grader_possible(),
                    reason="runs a grader as another uid (needs root and /usr/bin/python3)")
def test_not_root_a_submission_cannot_ptrace_signal_or_kill_the_grader(learner_dir):
    folder = learner_dir(NON_ROOT, NON_ROOT)
    if not pidns._works():
        done = lab("check", "3g", REFERENCES["3g"], "--only", "serves", user=NON_ROOT)
        assert pidns.UNAVAILABLE in done.stderr
        pytest.skip("no user namespaces here: lab says so (checked); nothing contains "
                    "the submission")
    output, stderr = graded_against_the_grader(folder, user=NON_ROOT)
    assert pidns.UNAVAILABLE not in stderr
    # the grader is PID 1 of its namespace: not dumpable, signals from inside ignored
    assert "ptrace: Operation not permitted" in output, output
    assert "mem: Permission denied" in output, output


@pytest.mark.xdist_group("host-port-8888")
@pytest.mark.skipif(not _non_root_grader_possible(),
                    reason="runs a grader as another uid (needs root and /usr/bin/python3)")
@pytest.mark.parametrize("name", ["kills_parent", "ptraces_grader"])
def test_not_root_the_grader_survives_the_hostile_servers(name, learner_dir):
    """kills_parent: kill(ppid), kill(-1), killpg() of the grader's group.
    As root it passes; not root it passes or fails (killpg(getpgid(1)) is
    killpg(0) in the namespace: its own group), but the grader lives on and
    reports every check."""
    if not pidns._works():
        pytest.skip("no user namespaces here")
    folder = learner_dir(NON_ROOT, NON_ROOT)
    submission = folder / (name + ".py")
    shutil.copyfile(HOSTILE / (name + ".py"), submission)
    submission.chmod(0o644)
    done = lab("check", "3g", submission, "--format", "json", "--timeout", 60,
               cwd=folder, user=NON_ROOT, env={"LAB_NETNS": "off"})
    assert done.returncode in (0, 1), (done.returncode, done.stderr[-3000:])
    report = json.loads(done.stdout)
    assert len(report["checks"]) == 9
    assert "interrupted" not in report["message"]
    if name == "ptraces_grader":
        assert report["status"] == "pass", report
    left = subprocess.run(["pgrep", "-u", str(NON_ROOT)], capture_output=True, text=True)
    assert left.stdout == "", "processes of the grader's uid left: " + left.stdout


# -- the demos -----------------------------------------------------------------------------

@root_only
@pytest.mark.container
def test_the_demo_folder_is_not_writable_by_its_terminals(monkeypatch):
    """As root a demo's terminals run as the server's uid (server, observer)
    and as labclient (clients): none may change what another runs."""
    sys.path.insert(0, str(REPO / "labs"))
    import demolib
    monkeypatch.setenv("LAB_SERVER_UID", str(UID_BASE))
    demo = demolib.Demo("3a")
    monkeypatch.setattr(demo, "wait_port_free", lambda *a, **k: None)    # no server runs
    try:
        demo.setup()
        folder = demo.workdir
        before = {p: snapshot(p) for p in [folder] + sorted(folder.rglob("*"))}
        attempts = ("echo x > bin/curl; echo x > webserver3a.py; echo x > client3.py; "
                    "mkdir evil; ln -s /bin/sh bin/python; rm -f bin/python3; "
                    "chmod 777 .; echo ok > server.log")
        results = {}
        for who, uid in (("server", demo.server_uid), ("client", identity.client_uid())):
            assert uid not in (0, os.getuid())
            done = subprocess.run(identity.drop_privileges_argv(uid) +
                                  ["sh", "-c", attempts + "; echo done"], cwd=folder,
                                  capture_output=True, text=True, timeout=30)
            results[who] = done
            assert "done" in done.stdout
            assert done.stderr.count("Permission denied") + \
                done.stderr.count("Operation not permitted") >= 7, done.stderr
        after = {p: snapshot(p) for p in [folder] + sorted(folder.rglob("*"))}
        log = folder / demolib.SERVER_WRITES
        # the server's uid may write its log, and nothing else
        assert log.read_text() == "ok\n"
        assert {p: s for p, s in after.items() if p != log} == \
            {p: s for p, s in before.items() if p != log}
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755 and folder.stat().st_uid == 0
    finally:
        demo.cleanup()
    assert not folder.exists()


# -- in the container: the real files, the real sudo rule, as `learner` -------------------

# Run as root in the container: a snapshot of what must not change, then
# every attempt as `learner` (through /usr/local/bin/lab and its sudo rule),
# then the snapshot again. Each attempt prints "CASE name rc=N".
IN_THE_CONTAINER = r"""
set -u
W=/home/learner/work
snap() {
    for f in /etc/passwd /etc/shadow /etc/sudoers /etc/sudoers.d /etc/sudoers.d/lab3 \
             /etc/lab3 /usr/local/libexec/lab3/lab-as-root; do
        stat -c '%n %u %g %a %s %Y' "$f"; [ -f "$f" ] && sha256sum "$f"
    done
    ls -la /etc/sudoers.d /etc/lab3
}
snap > /tmp/before
cp /opt/lab3/labs/3g-waitpid-loop/webserver3g.py $W/w.py
printf 'import os, sys\nprint("UID", os.getuid(), "PYTHON", sys.executable, flush=True)\nraise SystemExit(3)\n' > $W/who.py
mkdir -p $W/evil/grader $W/grader
for f in $W/evil/grader/__init__.py $W/evil/grader/__main__.py $W/evil/sitecustomize.py \
         $W/evil/startup.py $W/grader/__init__.py $W/grader/__main__.py; do
    echo "open('/tmp/MARK', 'a').write(__file__ + '\n')" > $f
done
printf '#!/bin/sh\necho marked >> /tmp/MARK\nexec /usr/bin/python3 "$@"\n' > $W/evil/python3
chmod 755 $W/evil/python3
ln -s /etc/shadow $W/evil.py
ln -s /etc/shadow $W/link.json
chown -R learner:learner $W
chown -h learner:learner $W/evil.py $W/link.json
cat > /tmp/attempts <<'EOS'
cd ~/work
try() { name=$1; shift; "$@" > /tmp/out.$name 2>&1; echo "CASE $name rc=$?"; sed 's/^/  | /' /tmp/out.$name; }
try passwd lab check 3g w.py --only serves --output /etc/passwd
try sudoers lab check 3g w.py --only serves --output /etc/sudoers.d/x
try link lab check 3g w.py --only serves --output link.json
try grade-csv lab grade --stage 3g w.py --csv /etc/passwd --json /etc/sudoers.d/x
try shadow-submission lab check 3g evil.py
try shadow-rubric lab check 3g w.py --only serves --rubric /etc/shadow
try bundle lab gradescope-bundle --output /etc/lab3/autograder.zip
try env env PYTHONPATH=$HOME/work/evil PYTHONSTARTUP=$HOME/work/evil/startup.py \
    PYTHONHOME=$HOME/work/evil LD_PRELOAD=/nonexistent/libevil.so LAB_SERVER_UID=0 \
    LAB_PYTHON=$HOME/work/evil/python3 lab check 3g who.py --only serves -v
try cwd-package lab grade --stage 3g w.py
try sudo-E sudo -n -E /usr/local/libexec/lab3/lab-as-root list
try sudo-setenv sudo -n LAB_SERVER_UID=0 /usr/local/libexec/lab3/lab-as-root list
try sudo-shell sudo -n /bin/sh -c id
try demo lab demo 3a --fast
EOS
setpriv --reuid=learner --regid=learner --init-groups env -i HOME=/home/learner \
    PATH=/usr/local/bin:/usr/bin:/bin TERM=dumb NO_COLOR=1 bash /tmp/attempts
snap > /tmp/after
echo "SNAPSHOT-DIFF-BEGIN"; diff /tmp/before /tmp/after; echo "SNAPSHOT-DIFF-END"
echo "MARK: $(cat /tmp/MARK 2>/dev/null)"
ls -la /etc/sudoers.d /etc/lab3
"""


def _cases(out):
    """{case name: (exit status, its output)} from the script's output."""
    found = {}
    for m in re.finditer(r"^CASE (\S+) rc=(\d+)\n((?:  \|.*\n?)*)", out, re.M):
        found[m.group(1)] = (int(m.group(2)), m.group(3))
    return found


@pytest.mark.skipif(os.environ.get("LAB_IN_CONTAINER") == "1",
                    reason="drives the container from the outside")
@pytest.mark.timeout(3900)
@pytest.mark.xdist_group("docker")
def test_as_learner_in_the_container_lab_changes_nothing_of_roots(image, work_dir):
    r = container_run(work_dir, IN_THE_CONTAINER, root=True, timeout=900)
    out = r.stdout
    cases = _cases(out)
    assert len(cases) == 13, out[-6000:]
    for name in ("passwd", "sudoers", "link"):
        status, text = cases[name]
        assert status == 2 and "cannot write the results to" in text, (name, text)
        assert "Permission denied" in text and "Traceback" not in text, (name, text)
    status, text = cases["grade-csv"]
    assert status == 2 and text.count("cannot write the results to") == 2, text
    status, text = cases["shadow-submission"]
    assert status == 2 and "evil.py: cannot read it (Permission denied)" in text, text
    status, text = cases["shadow-rubric"]
    assert status == 2 and "cannot read the rubric /etc/shadow: Permission denied" in text, text
    status, text = cases["bundle"]
    assert status == 2 and "cannot write /etc/lab3/autograder.zip: Permission denied" in text, text
    status, text = cases["env"]
    assert status == 1, text
    found = re.search(r"UID (\d+) PYTHON (\S+)", text)
    assert found and found.group(1) != "0" and found.group(2) == "/usr/bin/python3", text
    # the learner's own env and sh (/usr/local/bin/lab) complain of the
    # missing library; nothing past sudo sees it
    assert text.count("libevil.so") == 2, text
    status, text = cases["cwd-package"]
    assert status == 0, text
    for name in ("sudo-E", "sudo-setenv", "sudo-shell"):
        status, text = cases[name]
        assert status != 0 and "uid=0" not in text, (name, text)
    status, text = cases["demo"]
    assert status == 0 and "(labclient)" in text, text[-3000:]
    diff = out.split("SNAPSHOT-DIFF-BEGIN\n", 1)[1].split("SNAPSHOT-DIFF-END", 1)[0]
    assert diff == "", diff
    assert "MARK: \n" in out, out[-3000:]        # nothing planted was imported or run


from test_container import image, run as container_run, work_dir  # noqa: E402,F401
