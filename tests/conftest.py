"""Shared by test_hostile.py and test_golden.py: run the `lab` command on a
submission in a subprocess, within an outer bound, and then look for
anything of the submission left on the host.

Containment is judged from the outside, after the grader exited:
  * no process of the servers' uids (see UID_BASE), running or zombie;
  * no process whose cwd or command line lies in the grading's temp dir
    (each grading gets a TMPDIR of its own, so the grader's work dirs,
    lab-check-*, are there, not among those of other graders on this host);
  * no zombie child of the test process itself;
  * no work dir left, no file of the servers' uids in the world-writable
    dirs, no SysV IPC object of theirs.

The graders run with LAB_SERVER_UID=UID_BASE (65123 unless
LAB_HOSTILE_TEST_UID says otherwise; 64 further up for each other run of
this suite going on at the same time): a base of the suite's own, so that
a `lab check` someone runs meanwhile on the same host (64123, the default)
or another suite (test_demos.py: 64923) never shares a uid with these
servers.
The grader claims the first free uid from there (grader/identity.py); the
survey looks at UID_SPAN uids from the base, and gradings that run at the
same time get bases UID_SPAN apart.

pytest --update-golden rewrites tests/golden/*.json from this run's results
(test_golden.py says what is pinned).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent

# The tests press Ctrl-C (SIGINT) on graders and demos they start, as a
# terminal would. A suite started in the background (`cmd &` from a script)
# inherits SIGINT ignored, and an ignored signal stays ignored across exec:
# every grader would inherit it and never see the Ctrl-C. Start from what a
# terminal gives.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

HOSTILE = REPO / "tests" / "hostile"
MUTANTS = REPO / "tests" / "mutants"
GOLDEN = REPO / "tests" / "golden"

sys.path.insert(0, str(REPO))
# The suite speaks English whatever the locale of the machine it runs on
# (golden results, messages matched); test_i18n.py asks for Chinese itself.
os.environ["LAB_LANG"] = "en"
from grader import identity, netns  # noqa: E402
from grader.stages import STAGES  # noqa: E402

UID_SPAN = 64      # the uids one grading may claim (from its base up): a uid per check
                   # running, for each submission graded at once


def _claim_uid_base(first, step=identity.MAX_SLOTS, tries=16):
    """The first base from `first` that no other run of this suite on the
    host holds (an flock kept for the life of this process): two runs at
    once never survey, nor clean up, each other's servers."""
    import fcntl
    os.makedirs(identity.LOCK_DIR, mode=0o755, exist_ok=True)
    for n in range(tries):
        base = first + n * step
        fd = os.open(os.path.join(identity.LOCK_DIR, "hostile-suite-%d.lock" % base),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return base            # fd stays open: the claim lasts as long as we do
    raise RuntimeError("%d runs of the hostile suite at once?" % tries)


# Under `sudo pytest`, SUDO_UID would make every grader the tests start open
# the files it is given as that user (grader/userfiles.py): the tests that
# play sudo name the user themselves.
for _name in ("SUDO_UID", "SUDO_GID", "SUDO_USER"):
    os.environ.pop(_name, None)

UID_BASE = _claim_uid_base(int(os.environ.get("LAB_HOSTILE_TEST_UID", "65123")))
UID_RANGE = range(UID_BASE, UID_BASE + identity.MAX_SLOTS)
_running = set()   # pids of the graders this process runs right now
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
MARGIN = 60        # the outer bound: the grader's own total bound plus this


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.json from this run's results")


@dataclass
class Graded:
    """One run of the lab command, and what it left behind."""
    argv: list
    returncode: int = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    timed_out: bool = False         # the outer bound killed the grader
    data: dict = None               # the parsed JSON (None: not JSON)
    json_error: str = ""
    leftovers: list = field(default_factory=list)

    def describe(self):
        return "%s: exit %s after %.1f s%s\nstderr (tail):\n%s" % (
            " ".join(self.argv[2:]), self.returncode, self.seconds,
            " (killed by the test's outer bound)" if self.timed_out else "",
            self.stderr[-3000:])


def _uids(proc_info):
    uids = proc_info.get("uids")
    return (uids.real, uids.effective, uids.saved) if uids else ()


def find_leftovers(tmpdir, uids=UID_RANGE):
    """Descriptions of whatever a grading left behind (see the docstring)."""
    found = []
    me = os.getpid()
    tmpdir = str(tmpdir)
    for proc in psutil.process_iter(["pid", "ppid", "uids", "cwd", "cmdline", "status"]):
        info = proc.info
        if info["pid"] == me:
            continue
        cmdline = " ".join(info["cmdline"] or [])
        why = None
        if any(uid in uids for uid in _uids(info)):
            why = "runs as a server uid"
        elif (info["cwd"] or "").startswith(tmpdir) or tmpdir in cmdline:
            why = "works in the grading's temp dir"
        if why:
            found.append("process %d (%s, parent %s, %s): %s" % (
                info["pid"], info["status"], info["ppid"], why, cmdline[:200]))
    for child in psutil.Process().children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE and child.pid not in _running:
                found.append("zombie child %d of the test process" % child.pid)
        except psutil.NoSuchProcess:
            pass
    for pattern in ("lab-check-*", "lab-grade-*"):      # lab grade's workers nest theirs
        for path in sorted(Path(tmpdir).rglob(pattern)):
            found.append("work dir left: %s" % path)
    for place in SHARED_DIRS:
        try:
            entries = list(os.scandir(place))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid in uids:
                    found.append("file of a server uid: %s" % entry.path)
            except OSError:
                pass
    for kind in ("shm", "sem", "msg"):
        try:
            rows = Path("/proc/sysvipc", kind).read_text().splitlines()
        except OSError:
            continue
        header = rows[0].split()
        for row in rows[1:]:
            values = dict(zip(header, row.split()))
            if int(values.get("uid", -1)) in uids:
                found.append("SysV %s %s of uid %s" % (kind, values.get(
                    "shmid", values.get("semid", values.get("msqid"))), values["uid"]))
    return found


def kill_matching(ours, rounds=50):
    """Kill, one by one by pid, every process but this one whose psutil info
    (pid, uids, cwd, cmdline) `ours` accepts, until none is left (bounded:
    a fork bomb of ours may keep making more)."""
    for _ in range(rounds):
        victims = [p for p in psutil.process_iter(["pid", "uids", "cwd", "cmdline"])
                   if p.info["pid"] != os.getpid() and ours(p.info)]
        if not victims:
            return
        for proc in victims:
            try:
                proc.kill()
            except psutil.Error:
                pass
        time.sleep(0.1)


def _clean_up(tmpdir, uids):
    """After a failed containment check: end what the grading left, so that
    the next test starts clean (only processes of the grading's own uids or
    temp dir, one by one, by pid; then their files and IPC objects)."""
    tmpdir = str(tmpdir)
    kill_matching(lambda info: any(uid in uids for uid in _uids(info))
                  or (info["cwd"] or "").startswith(tmpdir)
                  or tmpdir in " ".join(info["cmdline"] or []))
    for child in psutil.Process().children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE and child.pid not in _running:
                os.waitpid(child.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
            pass
    from grader.sandbox import _remove_ipc_of
    for uid in uids:
        _remove_ipc_of(uid)
    for place in SHARED_DIRS:
        try:
            entries = list(os.scandir(place))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid in uids:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
            except OSError:
                pass


def new_tmpdir(label):
    """A TMPDIR for one grading: the server's uid must traverse it."""
    path = tempfile.mkdtemp(prefix="lab-hostile-%s-" % label, dir="/tmp")
    os.chmod(path, 0o755)
    return path


def run_lab(args, bound, label="run", env=None, uid_base=UID_BASE):
    """`python3 -m grader ARGS` in a new session, killed (with its session)
    past `bound` seconds; then the containment survey. Gradings that run
    at the same time need bases UID_SPAN apart."""
    tmpdir = new_tmpdir(label)
    uids = range(uid_base, uid_base + UID_SPAN)
    argv = [sys.executable, "-m", "grader"] + [str(a) for a in args]
    full_env = dict(os.environ, PYTHONPATH=str(REPO), LAB_SERVER_UID=str(uid_base),
                    TMPDIR=tmpdir, **(env or {}))
    full_env.pop("COLUMNS", None)
    graded = Graded(argv=argv)
    started = time.monotonic()
    popen = subprocess.Popen(argv, cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    _running.add(popen.pid)
    try:
        out, err = popen.communicate(timeout=bound)
    except subprocess.TimeoutExpired:
        graded.timed_out = True
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = popen.communicate()
    finally:
        _running.discard(popen.pid)
    graded.seconds = time.monotonic() - started
    graded.returncode = popen.returncode
    graded.stdout = out.decode("utf-8", "replace")
    graded.stderr = err.decode("utf-8", "replace")
    try:
        graded.data = json.loads(graded.stdout)
    except ValueError as e:
        graded.json_error = str(e)
    # Let the kernel finish what the grader's exit set in motion (its
    # last zombies, re-parented to init, get reaped): then whatever is
    # still there was left behind.
    deadline = time.monotonic() + 2.0
    while True:
        graded.leftovers = find_leftovers(tmpdir, uids)
        if not graded.leftovers or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if graded.leftovers:
        _clean_up(tmpdir, uids)
    shutil.rmtree(tmpdir, ignore_errors=True)
    return graded


def check_json(stage, path, total, label):
    """`lab check STAGE PATH --format json --timeout TOTAL`, outer bound
    TOTAL + MARGIN."""
    return run_lab(["check", stage, path, "--format", "json", "--timeout", total],
                   bound=total + MARGIN, label=label)


# -- the corpus -------------------------------------------------------------

def hostile_path(name):
    return HOSTILE / (name + ".py")


def hostile_names():
    return sorted(p.stem for p in HOSTILE.glob("*.py"))


def ipv6_loopback():
    """Whether a server may listen on [::1] here (not in every container)."""
    import socket
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


NOT_ROOT = ("the hostile corpus needs the grader to be root: as any other user the "
            "servers run as the grader's own uid, and a submission may signal every "
            "process of it, the grader and this test run included (kills_parent.py "
            "does: kill(-1, SIGKILL))")


def needs(name):
    """Skip a case this host cannot run as it is meant."""
    if not identity.is_root():
        pytest.skip(NOT_ROOT)
    if name == "ipv6_only" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")


class Cache:
    """Each grading once per session, shared by the tests that read it."""

    def __init__(self, make):
        self._make = make
        self._done = {}

    def __call__(self, *key):
        if key not in self._done:
            self._done[key] = self._make(*key)
        return self._done[key]


@pytest.fixture(scope="session")
def hostile_grade():
    """hostile_grade(name, total) -> Graded: `lab check 3g` on one case of
    the corpus (each case graded once per session)."""
    return Cache(lambda name, total: check_json("3g", hostile_path(name), total, name))


@pytest.fixture(scope="session")
def golden_reference_reports():
    """{(server stage, graded at stage): report dict} for the seven
    reference servers of Part 3 (verdicts.PART3), each at its own stage and at 3g: the 3g ones in one
    `lab grade` batch, the own-stage ones as one batch per stage, two
    batches at a time, each one submission at a time (--jobs 1): two
    servers under test at once, like `lab grade` on two cores (where each
    gets a network namespace; else one after another)."""
    import concurrent.futures

    def batch(stage, sids, uid_base):
        paths = [STAGES[s].server for s in sids]
        graded = run_lab(["grade", "--stage", stage, "--format", "json", "--timeout", 120,
                          "--jobs", 1] + paths, bound=120 * len(paths) + MARGIN,
                         label="ref" + stage, uid_base=uid_base)
        return stage, sids, graded

    # two at a time: the 3g batch on the suite's uids, the others beside;
    # one after another where servers share the host's port 8888
    from verdicts import PART3
    jobs = [("3g", sorted(PART3), UID_BASE)] + [
        (s, [s], UID_BASE + UID_SPAN) for s in sorted(PART3) if s != "3g"]
    reports = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        if netns.available() and identity.is_root():
            futures = [pool.submit(batch, *jobs[0]),
                       pool.submit(lambda: [batch(*job) for job in jobs[1:]])]
            done = [futures[0].result()] + futures[1].result()
        else:
            done = [batch(*job) for job in jobs]
        for stage, sids, graded in done:
            assert graded.data is not None, graded.describe()
            assert not graded.leftovers, graded.leftovers
            by_path = {r["submission"]: r for r in graded.data["submissions"]}
            for sid in sids:
                reports[(sid, stage)] = by_path[str(STAGES[sid].server)]
    return reports


@pytest.fixture(scope="session")
def series_reference_reports():
    """{stage: report dict} for the series' servers outside Part 3
    (verdicts.OWN_STAGE), each graded at its own stage, one after another."""
    from verdicts import OWN_STAGE
    reports = {}
    for sid in OWN_STAGE:
        graded = run_lab(["grade", "--stage", sid, "--format", "json", "--timeout", 120,
                          "--jobs", 1, STAGES[sid].server], bound=120 + MARGIN,
                         label="ref" + sid, uid_base=UID_BASE + UID_SPAN)
        assert graded.data is not None, graded.describe()
        assert not graded.leftovers, graded.leftovers
        reports[sid] = graded.data["submissions"][0]
    return reports


@pytest.fixture(scope="session")
def update_golden(request):
    return request.config.getoption("--update-golden")


@pytest.fixture
def learner_dir():
    """learner_dir(uid, gid) -> a new folder under /tmp owned by uid:gid
    (0755, every folder above it searchable): where a user that sudo names
    (SUDO_UID) may write. Removed at the end."""
    made = []

    def make(uid, gid):
        path = Path(tempfile.mkdtemp(prefix="lab-learner-", dir="/tmp"))
        made.append(path)
        os.chmod(path, 0o755)
        os.chown(path, uid, gid)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)
