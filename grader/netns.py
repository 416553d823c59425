"""Private network namespaces, so every server gets its own port 8888.

A network namespace is a per-thread attribute on Linux, and a socket keeps
the namespace it was created in. So the grader makes a namespace from a
short-lived thread, and makes client sockets inside it from another one:
the rest of the grader never leaves the host's namespace.
"""

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sH14x"

_libc = ctypes.CDLL(None, use_errno=True)


def _call(fn, *args):
    if fn(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _in_new_thread(fn):
    """Run fn in a fresh thread, so namespace changes die with the thread."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["error"] = e

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
        flags = struct.unpack(_IFREQ, ifr)[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))


class NetNamespace:
    """A new network namespace with only a loopback interface, up."""

    def __init__(self):
        def create():
            _call(_libc.unshare, CLONE_NEWNET)
            _loopback_up()
            return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

        self.fd = _in_new_thread(create)

    def run(self, fn):
        """fn() called from a thread inside the namespace; its result."""
        def enter_and_run():
            _call(_libc.setns, self.fd, CLONE_NEWNET)
            return fn()

        return _in_new_thread(enter_and_run)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_available = None


def available() -> bool:
    """Whether this process may create network namespaces (root, not in a
    container that withholds CAP_SYS_ADMIN)."""
    global _available
    if os.environ.get("LAB_NETNS") == "off":     # to grade as a container does
        return False
    if _available is None:
        try:
            NetNamespace().close()
            _available = True
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EACCES, errno.EINVAL, errno.ENOSYS):
                raise
            _available = False
    return _available
