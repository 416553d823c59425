"""SIGCHLD as the kernel sees it: the `signal:signal_generate` tracepoint.

Each time a child exits, the kernel generates SIGCHLD for its parent. The
tracepoint's `res` says what became of it: 0 delivered (now pending), 2
already pending, i.e. merged into the one waiting; 1 ignored. It is read
from a tracing instance of our own (ftrace), so nothing else that traces on
this machine is disturbed, and it costs the server nothing it would notice.

It needs root and tracefs: natively as root (tracefs is mounted if it is not,
as trace-cmd does); not in a container, which has neither.
"""

import os
import re
import time

from ..i18n import _

TRACEFS = "/sys/kernel/tracing"
SIGCHLD = 17
RESULTS = {0: "delivered", 1: "ignored", 2: "merged", 3: "overflow", 4: "lost"}
_LINE = re.compile(r"\s(\d+\.\d+): signal_generate: .*\bsig=(\d+) .*\bpid=(\d+) grp=\d+ res=(\d+)")


def unavailable():
    """Why the kernel's SIGCHLD record cannot be had here, or None."""
    if os.geteuid() != 0:
        return _("kernel tracing needs root")
    if not os.path.isdir(TRACEFS + "/instances"):
        try:
            os.makedirs(TRACEFS, exist_ok=True)
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.mount(b"nodev", TRACEFS.encode(), b"tracefs", 0, None) != 0:
                return (_("the kernel's tracepoints cannot be read here (tracefs is not mounted, "
                          "and mounting it was refused: %s; in a container it needs "
                          "CAP_SYS_ADMIN)") % os.strerror(ctypes.get_errno()))
        except OSError as e:
            return _("no kernel tracing here (%s)") % e.strerror
    if not os.path.isdir(TRACEFS + "/events/signal/signal_generate"):
        return _("this kernel has no signal_generate tracepoint")
    return None


class SignalTrace:
    """Records SIGCHLD generated for one process while it is open."""

    def __init__(self, pid):
        self.pid = pid
        self.dir = "%s/instances/lab-trace-%d-%d" % (TRACEFS, os.getpid(), time.monotonic_ns())
        _remove_stale_instances()
        os.mkdir(self.dir)
        try:
            self._write("trace_clock", "mono")      # time.monotonic()'s clock
            self._write("buffer_size_kb", "1024")
            event = "events/signal/signal_generate/"
            self._write(event + "filter", "sig == %d && pid == %d" % (SIGCHLD, pid))
            self._write(event + "enable", "1")
            self._write("tracing_on", "1")
        except OSError:
            self.close()
            raise

    def _write(self, name, value):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(value)

    def stop(self):
        """[(t, result name)] of every SIGCHLD generated for the process."""
        self._write("tracing_on", "0")
        with open(os.path.join(self.dir, "trace")) as f:
            text = f.read()
        found = []
        for match in _LINE.finditer(text):
            t, sig, pid, res = match.groups()
            if int(sig) == SIGCHLD and int(pid) == self.pid:
                found.append((float(t), RESULTS.get(int(res), res)))
        return found

    def close(self):
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def _remove_stale_instances():
    """Instances a killed `lab trace` left behind."""
    try:
        names = os.listdir(TRACEFS + "/instances")
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if name.startswith("lab-trace-") and len(parts) == 4 and parts[2].isdigit() \
                and not os.path.exists("/proc/%s" % parts[2]):
            try:
                os.rmdir(os.path.join(TRACEFS, "instances", name))
            except OSError:
                pass
