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
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

HOOK_DIR = Path(__file__).with_name("hook")
HOOK_LOG_LIMIT = 8 << 20        # bytes of records read, at most (RLIMIT_FSIZE is 16 MiB)

Record = collections.namedtuple("Record", "t pid kind value")


class HookLog:
    """A file the grader owns, handed to the server as an open descriptor:
    the server writes records into it, and never learns its path."""

    def __init__(self):
        self._dir = tempfile.mkdtemp(prefix="lab-trace-")          # 0700, the grader's
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


class ProcPoller(threading.Thread):
    """Reads /proc every `interval` seconds while the trace runs."""

    FD_EVERY = 5            # descriptors are counted every fifth poll

    def __init__(self, listener_pid, interval=0.002):
        super().__init__(daemon=True, name="lab-trace-poller")
        self.listener = listener_pid
        self.interval = interval
        self.children = {}          # pid -> ChildSeen
        self.fds = []               # [(t, count)] of the listening process
        self._done = threading.Event()
        self._lock = threading.Lock()

    def run(self):
        polls = 0
        while not self._done.is_set():
            self.poll(count_descriptors=polls % self.FD_EVERY == 0)
            polls += 1
            self._done.wait(self.interval)

    def poll(self, count_descriptors=True):
        with self._lock:
            now = time.monotonic()
            for pid in children_of(self.listener):
                if pid not in self.children:
                    self.children[pid] = ChildSeen(pid, now)
            for child in self.children.values():
                if child.gone_seen is not None:
                    continue
                state = process_state(child.pid)
                if state is None:
                    child.gone_seen = now
                elif state in "ZX":
                    if child.zombie_seen is None:
                        child.zombie_seen = now
                else:
                    child.running_seen = now
            if count_descriptors:
                fds = count_fds(self.listener)
                if fds is not None and (not self.fds or self.fds[-1][1] != fds):
                    self.fds.append((now, fds))

    def running(self):
        """The children not seen exited at the last poll."""
        with self._lock:
            return [c.pid for c in self.children.values()
                    if c.zombie_seen is None and c.gone_seen is None]

    def stop(self):
        """Stop polling, after one last poll: the states are current."""
        self._done.set()
        if self.is_alive():
            self.join(5)
        self.poll()
