"""Loaded into the server's interpreter by `lab trace` (PYTHONPATH): records,
with one os.write each, what only the process itself sees at no cost.

  accept   a connection accept() returned          (socket.socket.accept)
  fork     this process was just forked            (os.register_at_fork)
  handler  a SIGCHLD handler starts to run         (handlers given to signal.signal)
  reap     a wait call returned a child            (os.wait, waitpid, wait3, wait4, waitid)
  close    a socket accept() had returned is closed

A record is one line: "monotonic-time pid kind [value]". It never raises
into the server, and does nothing when LAB_TRACE_FD is unset or closed.
"""

import os

try:
    _FD = int(os.environ.pop("LAB_TRACE_FD"))
except (KeyError, ValueError):
    _FD = None


def _record(kind, value=""):
    try:
        os.write(_FD, ("%.6f %d %s %s\n" % (_monotonic(), os.getpid(), kind, value)).encode())
    except Exception:
        pass


_accepted = set()      # descriptors accept() returned, not closed yet


def _install():
    import signal
    import socket
    import time

    global _monotonic
    _monotonic = time.monotonic

    os.register_at_fork(after_in_child=lambda: _record("fork", os.getppid()))

    real_accept = socket.socket.accept

    def accept(self):
        conn, address = real_accept(self)
        _accepted.add(conn.fileno())
        _record("accept", conn.fileno())
        return conn, address

    socket.socket.accept = accept

    real_close = socket.socket.close

    def close(self):
        fd = self.fileno()
        if fd in _accepted:
            _accepted.discard(fd)
            _record("close", fd)
        return real_close(self)

    socket.socket.close = close

    def recording_wait(real):
        def wait(*args, **kwargs):
            result = real(*args, **kwargs)
            pid = 0 if result is None else getattr(result, "si_pid", None) or result[0]
            if pid > 0:
                _record("reap", pid)
            return result
        wait.__wrapped__ = real
        return wait

    for name in ("wait", "waitpid", "wait3", "wait4", "waitid"):
        if hasattr(os, name):
            setattr(os, name, recording_wait(getattr(os, name)))

    real_signal = signal.signal

    def recording_signal(signum, handler):
        if signum == signal.SIGCHLD and callable(handler):
            original = handler

            def handler(*args):
                _record("handler")
                return original(*args)
            handler.__wrapped__ = original
        return real_signal(signum, handler)

    signal.signal = recording_signal


if _FD is not None:
    _install()
