"""A grader that is not root runs as init (PID 1) of a namespace of its own.

As root the servers run as a dedicated uid that cannot touch the grader. As
anyone else they run as the grader's own uid, which may signal and ptrace
every process of that uid. So `lab check` and `lab grade`, not root, first
move into a new user, PID and mount namespace (what `unshare --user --pid
--fork --mount-proc` does), as its PID 1, with a /proc of its own:
  * the kernel delivers to a namespace's init only the signals it handles,
    never SIGKILL or SIGSTOP from inside, and kill(-1) spares it;
  * the grader is not dumpable: no ptrace of it, no /proc/1/mem;
  * it keeps no capability in the namespace (servers gain none either);
  * processes outside (the shell, the user's other programs) are not even
    visible, and everything in the namespace dies with its init.
The process the user started stays outside and waits: it passes Ctrl-C,
SIGTERM and SIGHUP on through a pipe, as KeyboardInterrupt, so a signal a
server sends to PID 1 is ignored. Uids and the network are the host's (same
uid inside, port 8888 on this machine, as before).
"""

import ctypes
import os
import signal
import sys
import threading
import _thread

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_SET_DUMPABLE = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

UNAVAILABLE = ("lab: note: you are not root, and this system lets no user create namespaces "
               "(user and PID): your server runs as your own uid and could signal or ptrace "
               "the grader (run lab as root to contain it)")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _unshare_and_map():
    """This process into a new user (our uid and gid mapped to themselves),
    PID (for its children) and mount namespace."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS))
    for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                       ("gid_map", "%d %d 1" % (gid, gid))):
        with open("/proc/self/" + name, "w") as f:
            f.write(text)


def _become_init():
    """In the first child of the new PID namespace: its own /proc, then no
    capability and not dumpable."""
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None))
    _check(_libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None))
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()           # effective, permitted, inheritable: none
    _check(_libc.capset(header, data))
    _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))


def _works():
    """Whether all of it succeeds here: tried in a throwaway child."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _unshare_and_map()
            inner = os.fork()
            if inner == 0:
                try:
                    _become_init()
                    os._exit(0)
                except BaseException:
                    os._exit(1)
            code = os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1])
        except BaseException:
            pass
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def contain(note=sys.stderr):
    """Call early, while single-threaded, when not root. Returns in the
    grader, PID 1 of a namespace of its own; the caller's process never
    returns (it waits and exits as the grader did). Where namespaces are
    not available, says so on `note` once and returns as it was."""
    if os.geteuid() == 0:
        return
    if not _works():
        note.write(UNAVAILABLE + "\n")
        note.flush()
        return
    _unshare_and_map()
    stop_r, stop_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(stop_w)
        _become_init()
        _serve_stops(stop_r)
        return
    os.close(stop_r)
    _wait_outside(pid, stop_w)


def _serve_stops(stop_r):
    """In the grader: SIGINT, SIGTERM and SIGHUP are handled (so the kernel
    delivers them to init) but do nothing; a byte from the process outside
    (or its end) stops the grader as Ctrl-C does."""
    os.set_inheritable(stop_r, False)
    asked = threading.Event()

    def on_signal(signum, frame):
        if signum == signal.SIGINT and asked.is_set():     # from watch(), below
            asked.clear()
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    def watch():
        try:
            while os.read(stop_r, 1):
                asked.set()
                _thread.interrupt_main()    # runs on_signal(SIGINT) in the main thread
        except OSError:
            pass
        asked.set()                         # the process outside is gone
        _thread.interrupt_main()

    threading.Thread(target=watch, daemon=True, name="stop-watch").start()


def _wait_outside(pid, stop_w):
    """In the caller's process: pass the stop signals on, wait, exit as the
    grader did."""
    def forward(signum, frame):
        try:
            os.write(stop_w, b"x")
        except OSError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            status = 1 << 8
            break
    sys.stdout.flush()
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def inside():
    """Whether this process is init of its own PID namespace (contained)."""
    return os.getpid() == 1

