"""`lab trace --syscalls`: the system-call story, from strace attached to
the listening process and following its children.

strace stops the traced process at every system call and every signal, so
signals that would have merged arrive one by one: its counts of SIGCHLD and
zombies differ from an untraced run. The output says so.
"""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from ..i18n import _

SYSCALLS = "accept,accept4,wait4,waitid,clone,clone3,fork,vfork,exit_group"
ATTACH_SECONDS = 5

# "PID  SECONDS.MICROS rest-of-line", from strace -f -ttt -o FILE
_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
_CALL = re.compile(r"^(?:<\.\.\. )?(\w+)(?:\(| resumed>).*\)\s+=\s+(-?\d+|\?)(?:\s+(\w+))?")
_SIGNAL = re.compile(r"^--- (SIG\w+) \{.*?(?:si_pid=(\d+))?.*\} ---")
_EXIT = re.compile(r"^\+\+\+ (?:exited with (\d+)|killed by (SIG\w+))")


class Unavailable(Exception):
    pass


class Strace:
    def __init__(self, pid):
        if not shutil.which("strace"):
            raise Unavailable(_("strace is not installed (apt-get install strace)"))
        self.pid = pid
        self._dir = tempfile.mkdtemp(prefix="lab-strace-")       # the grader's, 0700
        self.path = os.path.join(self._dir, "strace.out")
        # time.time() and time.monotonic() advance together: strace's
        # wall-clock stamps are moved onto the monotonic clock the rest uses
        self._wall_minus_mono = time.time() - time.monotonic()
        self.proc = subprocess.Popen(
            ["strace", "-f", "-ttt", "-e", "trace=" + SYSCALLS, "-e", "signal=SIGCHLD",
             "-o", self.path, "-p", str(pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._stderr = []
        attached = threading.Event()

        def read_stderr():
            for line in self.proc.stderr:
                text = line.decode("utf-8", "replace").rstrip()
                self._stderr.append(text)
                if "attached" in text:
                    attached.set()
            attached.set()
        threading.Thread(target=read_stderr, daemon=True).start()
        if not attached.wait(ATTACH_SECONDS) or self.proc.poll() is not None:
            self.stop()
            raise Unavailable(_("strace could not attach to the server: %s")
                              % ("; ".join(self._stderr[-2:]) or _("it did not say why")))

    def stop(self):
        """Detach (SIGINT makes strace let go of its tracees, who run on)."""
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def events(self):
        """[(t, pid, kind, value)]: kind is one of clone, accept, interrupted,
        sigchld, reap, exit (value: the child's pid, the exit status)."""
        found = []
        try:
            with open(self.path, errors="replace") as f:
                lines = f.read(16 << 20).splitlines()
        except OSError:
            return found
        for line in lines:
            match = _LINE.match(line)
            if not match:
                continue
            pid, t, rest = int(match.group(1)), float(match.group(2)) - self._wall_minus_mono, \
                match.group(3)
            signal = _SIGNAL.match(rest)
            if signal:
                if signal.group(1) == "SIGCHLD":
                    found.append((t, pid, "sigchld", int(signal.group(2) or 0)))
                continue
            exited = _EXIT.match(rest)
            if exited:
                found.append((t, pid, "exit", exited.group(1) or exited.group(2)))
                continue
            call = _CALL.match(rest)
            if not call or rest.endswith("<unfinished ...>"):
                continue
            name, result, error = call.groups()
            if name in ("accept", "accept4"):
                if error in ("ERESTARTSYS", "EINTR", "ERESTARTNOHAND", "ERESTARTNOINTR"):
                    found.append((t, pid, "interrupted", error))
                elif result not in ("?",) and int(result) >= 0:
                    found.append((t, pid, "accept", int(result)))
            elif name in ("wait4", "waitid") and result != "?" and int(result) > 0:
                found.append((t, pid, "reap", int(result)))
            elif name in ("clone", "clone3", "fork", "vfork") and result != "?" \
                    and int(result) > 0:
                found.append((t, pid, "clone", int(result)))
        return found

    def close(self):
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
