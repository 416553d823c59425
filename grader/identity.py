"""Who runs the servers under test, and with which Python.

As root, servers run as a dedicated unprivileged uid that nothing else on the
host uses: RLIMIT_NPROC (`ulimit -u`) counts every process and thread of a
uid and never binds root, and a different uid cannot signal the grader.
"""

import fcntl
import os
import pwd
import stat

SERVER_USER = "labserver"        # created in the image; optional natively
DEFAULT_SERVER_UID = 64123       # used when no such user exists
CLIENT_USER = "labclient"        # the demos' client terminals (also in the image)
DEFAULT_CLIENT_UID = 64100


def is_root() -> bool:
    return os.geteuid() == 0


def server_uid(slot: int = 0) -> int:
    """The uid servers run as when the grader is root (one per parallel slot).

    LAB_SERVER_UID overrides; otherwise the `labserver` user, else 64123.
    Slot N uses base + N, so parallel submissions never share a uid.
    """
    base = os.environ.get("LAB_SERVER_UID")
    if base is None:
        try:
            base = pwd.getpwnam(SERVER_USER).pw_uid
        except KeyError:
            base = DEFAULT_SERVER_UID
    return int(base) + slot


def client_uid() -> int:
    """The uid the demos' client terminals run as when root: not root (the
    learner's `lab demo` gives no root shell), not the server's uid (its
    RLIMIT_NPROC would count the clients). The `labclient` user, else 64100."""
    try:
        return pwd.getpwnam(CLIENT_USER).pw_uid
    except KeyError:
        return DEFAULT_CLIENT_UID


LOCK_DIR = "/tmp/lab-server-uids"
MAX_SLOTS = 256


class ServerUid:
    """A server uid claimed for as long as this object lives: no other grader
    or demo on this host uses it meanwhile (an flock per uid)."""

    def __init__(self, uid, lock_fd):
        self.uid = uid
        self._lock_fd = lock_fd

    def release(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def lock_dir() -> str:
    """LOCK_DIR, made if missing. As root it must be root's own folder: /tmp
    is everyone's, and a folder (or link) made there first by another user
    would let them hold our locks or point them at root's files."""
    os.makedirs(LOCK_DIR, mode=0o755, exist_ok=True)
    st = os.lstat(LOCK_DIR)
    if is_root() and (not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022):
        raise RuntimeError("%s is not root's own folder (owner uid %d, mode %o): another user "
                           "made it; remove it and try again"
                           % (LOCK_DIR, st.st_uid, stat.S_IMODE(st.st_mode)))
    return LOCK_DIR


def claim_server_uid() -> ServerUid:
    """Claim the first free server uid (server_uid(0), then 1, ...)."""
    folder = lock_dir()
    for slot in range(MAX_SLOTS):
        uid = server_uid(slot)
        fd = os.open(os.path.join(folder, "%d.lock" % uid),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return ServerUid(uid, fd)
    raise RuntimeError("all %d server uids are in use by other graders" % MAX_SLOTS)


def drop_privileges_argv(uid: int) -> list:
    """argv prefix that runs a command as `uid` (gid = uid, no groups)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
