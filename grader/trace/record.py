"""The light recording: what a server does, seen from outside its code,
without slowing it down enough to change what it does.

Two sources, each cheap:
  HookLog     the records of the hook loaded into the server's interpreter
              (hook/sitecustomize.py): accept, fork, SIGCHLD handler runs,
              wait calls that returned a child, closes.
  ProcPoller  /proc, read every few milliseconds from the grader: which
              children the listening process has, when each became a zombie
              and when it disappeared (was reaped), and how many descriptors
              the listening process holds.
"""

import collections
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOOK_DIR = Path(__file__).with_name("hook")
HOOK_LOG_LIMIT = 8 << 20        # bytes of records read, at most (RLIMIT_FSIZE is 16 MiB)

Record = collections.namedtuple("Record", "t pid kind value")


class HookLog:
    """A file the grader owns, handed to the server as an open descriptor:
    the server writes records into it, and never learns its path."""

    def __init__(self):
        # tmpfs where there is one: a write there never waits, where a file
        # system in user space (a container's fuse-overlayfs /tmp) may put
        # the writer to sleep, which the checks would see as a busy server
        self._dir = tempfile.mkdtemp(prefix="lab-trace-", dir=_memory_folder())  # 0700, ours
        self.fd = os.open(os.path.join(self._dir, "hook.log"),
                          os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def launch_options(self, sandbox):
        """What Sandbox.start needs to load the hook into the server."""
        hook = sandbox.workdir / ".lab-trace"
        hook.mkdir(mode=0o755, exist_ok=True)
        shutil.copyfile(HOOK_DIR / "sitecustomize.py", hook / "sitecustomize.py")
        os.chmod(hook / "sitecustomize.py", 0o644)
        return {"extra_env": {"PYTHONPATH": str(hook), "LAB_TRACE_FD": str(self.fd)},
                "pass_fds": (self.fd,)}

    def records(self):
        """Every well-formed record so far (a server may write anything to
        the descriptor: what does not parse is left out)."""
        data = os.pread(self.fd, HOOK_LOG_LIMIT, 0)
        found = []
        for line in data.decode("ascii", "replace").splitlines():
            parts = line.split(" ", 3)
            if len(parts) < 3:
                continue
            try:
                t, pid = float(parts[0]), int(parts[1])
            except ValueError:
                continue
            value = parts[3].strip() if len(parts) > 3 else ""
            found.append(Record(t, pid, parts[2], int(value) if value.lstrip("-").isdigit()
                                else value))
        return found

    def close(self):
        os.close(self.fd)
        shutil.rmtree(self._dir, ignore_errors=True)


def _memory_folder():
    shm = "/dev/shm"
    try:
        if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
            return shm
    except OSError:
        pass
    return None


class ChildSeen:
    __slots__ = ("pid", "first_seen", "running_seen", "zombie_seen", "gone_seen")

    def __init__(self, pid, now):
        self.pid = pid
        self.first_seen = now
        self.running_seen = now         # the last time it was seen not yet exited
        self.zombie_seen = None         # the first time it was seen exited, not reaped
        self.gone_seen = None           # the first time it was no longer there: reaped


def children_of(pid):
    """The pids of the direct children of process `pid` (all its threads)."""
    found = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return found
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                found.extend(int(p) for p in f.read().split())
        except OSError:
            pass
    return found


def process_state(pid):
    """The one-letter state of process `pid` (R, S, Z, ...), or None when
    it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:][:1].decode() or None


def count_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class Polling:
    """What /proc shows of the listening process, looked at every
    `interval` seconds: its children (when each was first seen, seen
    exited, seen gone: reaped) and its descriptors."""

    FD_EVERY = 5            # descriptors are counted every fifth poll

    def __init__(self, listener_pid):
        self.listener = listener_pid
        self.children = {}          # pid -> ChildSeen
        self.fds = []               # [(t, count)] of the listening process

    def poll(self, count_descriptors=True):
        """One look, kept cheap: a child is read only until it is seen
        exited; after that, its leaving the parent's list of children is
        its reap."""
        now = time.monotonic()
        present = set(children_of(self.listener))
        for pid in present:
            if pid not in self.children:
                self.children[pid] = ChildSeen(pid, now)
        for child in self.children.values():
            if child.gone_seen is not None:
                continue
            if child.pid not in present:
                child.gone_seen = now
                continue
            if child.zombie_seen is not None:
                continue
            state = process_state(child.pid)
            if state is None:
                child.gone_seen = now
            elif state in "ZX":
                child.zombie_seen = now
            else:
                child.running_seen = now
        if count_descriptors:
            fds = count_fds(self.listener)
            if fds is not None and (not self.fds or self.fds[-1][1] != fds):
                self.fds.append((now, fds))

    def to_json(self):
        return {"children": [[c.pid, c.first_seen, c.running_seen, c.zombie_seen, c.gone_seen]
                             for c in self.children.values()], "fds": self.fds}

    def load(self, data):
        for pid, first, running, zombie, gone in data["children"]:
            child = self.children[pid] = ChildSeen(pid, first)
            child.running_seen, child.zombie_seen, child.gone_seen = running, zombie, gone
        self.fds = [tuple(f) for f in data["fds"]]


class ProcPoller:
    """Polls /proc in a process of its own, at a lower priority: a thread
    here would take the interpreter lock from the grader's clients and
    spread out their requests, and so the children's exits (fewer signals
    would merge). It stops, polls once more and reports when told to."""

    def __init__(self, listener_pid, interval=0.002):
        self.listener = listener_pid
        self.interval = interval
        self.polling = Polling(listener_pid)
        self._proc = None

    @property
    def children(self):
        return self.polling.children

    @property
    def fds(self):
        return self.polling.fds

    def start(self):
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, str(self.listener), str(self.interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._proc.stdout.readline()            # "ready": it has taken its first look

    def stop(self):
        """Stop polling, after one last look (the states are current);
        idempotent."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        try:
            out, _ = proc.communicate(b"stop\n", timeout=10)
            self.polling.load(json.loads(out))
        except (subprocess.TimeoutExpired, ValueError):
            proc.kill()
            proc.wait()


def _poll_until_told(listener, interval):
    """The poller process: look every `interval` s until stdin says stop."""
    os.nice(5)
    polling = Polling(listener)
    polling.poll()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    polls = 1
    while not select.select([sys.stdin], [], [], interval)[0]:
        polling.poll(count_descriptors=polls % Polling.FD_EVERY == 0)
        polls += 1
    polling.poll()
    sys.stdout.write(json.dumps(polling.to_json()))


if __name__ == "__main__":
    _poll_until_told(int(sys.argv[1]), float(sys.argv[2]))
