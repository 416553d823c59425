"""Process supervision: the one home for what the grader, the demos, batch
grading and the bench do to the processes they start.

Modelled on gunicorn's arbiter: a supervisor owns its table of children
(`Supervisor.live`); it is a child subreaper, so whatever its children leave
behind (a daemon, a killed server's children) re-parents to it rather than
to PID 1; and whatever comes back that it does not own is killed and reaped
with waitpid(pid, WNOHANG) in a bounded loop. Children it owns are waited
for by their own Popen, never stolen by a wait of ours.

The small verbs are here too: a process's state ("running", "zombie",
"gone"), its children and zombies, killing a process tree, and acting as
another uid in a fork (kill(-1) as that uid kills all of it at once).
"""

import ctypes
import os
import signal
import subprocess
import time

import psutil

PR_SET_CHILD_SUBREAPER = 36

RUNNING, ZOMBIE, GONE = "running", "zombie", "gone"


def become_subreaper():
    """Orphans of our descendants re-parent to us, not to PID 1: nothing a
    submission starts can slip away, and we can reap every zombie."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


# -- what a process is doing ------------------------------------------------

def state(proc) -> str:
    """RUNNING, ZOMBIE (exited, not reaped) or GONE (reaped)."""
    try:
        return ZOMBIE if proc.status() == psutil.STATUS_ZOMBIE else RUNNING
    except psutil.NoSuchProcess:
        return GONE


def alive(proc) -> bool:
    """It exists and has not exited (a zombie is not alive)."""
    return state(proc) == RUNNING


def children(proc, recursive=False) -> list:
    """Its children (zombies included); none once it is gone."""
    try:
        return proc.children(recursive=recursive)
    except psutil.Error:
        return []


def zombies(proc) -> list:
    """Its children that have exited and are not reaped yet."""
    return [c for c in children(proc) if state(c) == ZOMBIE]


def count_children(proc) -> tuple:
    """(zombies, running) among its children, as `ps` would count them."""
    states = [state(c) for c in children(proc)]
    return states.count(ZOMBIE), states.count(RUNNING)


# -- ending processes --------------------------------------------------------

def as_uid(uid, action):
    """Run `action()` in a fork that has become `uid` (and its group): the
    kernel then judges it as that user. Waits for it."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            action()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def kill_uid(uid):
    """Every process of `uid` dies in one call, however fast it forks:
    kill(-1, SIGKILL) sent as that uid reaches all of its processes and
    none of anybody else's."""
    as_uid(uid, lambda: os.kill(-1, signal.SIGKILL))


def kill_tree(pid):
    """SIGKILL `pid`, its process group (a session leader's: what it
    started with a terminal or a shell) and every descendant, found before
    the first kill so none escapes by re-parenting. Does not wait."""
    try:
        victims = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        victims = []
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in victims:
        try:
            proc.kill()
        except psutil.Error:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def reap_strays(keep=(), kill=True, belongs=None, timeout=1.0, interval=0.01) -> list:
    """Reap our children that are not in `keep` (pids some Popen waits for)
    and for which `belongs(proc)` holds: kill each (with its descendants)
    first if `kill`, else reap only those that have exited. Bounded by
    `timeout` seconds (0: one pass). The pids still not reaped."""
    me = psutil.Process()
    deadline = time.monotonic() + timeout
    while True:
        pending = []
        reaped = False
        for child in children(me):
            if child.pid in keep:
                continue
            try:
                if belongs is not None and not belongs(child):
                    continue
            except psutil.Error:
                continue
            if kill:
                for proc in children(child, recursive=True) + [child]:
                    try:
                        proc.kill()
                    except psutil.Error:
                        pass
            try:
                if os.waitpid(child.pid, os.WNOHANG)[0] == 0:
                    pending.append(child.pid)
                else:
                    reaped = True
            except ChildProcessError:
                pass
        # A child that exited after this pass listed our children had its
        # own children re-parented to us first: after any reap, look again.
        if not (pending or reaped) or time.monotonic() >= deadline:
            return pending
        time.sleep(interval)


class Supervisor:
    """Owns the processes it starts (each in a session of its own), and is
    the subreaper of everything they start: `reap_strays` kills and reaps
    whatever re-parented to it, `stop_all` ends everything."""

    def __init__(self):
        become_subreaper()
        self.live = {}            # pid -> Popen: ours, waited for by their Popen

    def start(self, argv, **popen_args) -> subprocess.Popen:
        popen_args.setdefault("stdin", subprocess.DEVNULL)
        popen = subprocess.Popen(argv, start_new_session=True, **popen_args)
        self.live[popen.pid] = popen
        return popen

    def ended(self, popen):
        """It has been waited for: from now on, what it left is a stray."""
        self.live.pop(popen.pid, None)

    def kill(self, popen, wait=30.0):
        """Kill it and its whole tree, wait for it (bounded), then reap
        whatever it left behind."""
        if popen.poll() is None:
            kill_tree(popen.pid)
        else:
            # reaped already: its pid may be another's now, but not while its
            # process group lives on (the kernel keeps a group's id)
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
        self.ended(popen)
        self.reap_strays()

    def reap_strays(self, timeout=2.0):
        return reap_strays(keep=self.live, timeout=timeout)

    def stop_all(self):
        for popen in list(self.live.values()):
            if popen.poll() is None:
                self.kill(popen)
            self.ended(popen)
        self.reap_strays()
