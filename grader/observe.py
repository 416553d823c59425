"""What a server's processes are doing, read from /proc: who holds a
connection, which system call each thread is blocked in, how long a
sleeping process will go on sleeping.

The checks decide from this evidence, never from how long something took:
"no child took the connection" is concluded only when the listening process
is seen serving it itself, or is back waiting for work while it holds it
(a fork has returned by then, so a child it made is already in /proc).
"""

import collections
import os
import platform
import socket
import struct
import time

import psutil

from .i18n import N_

# System call numbers (the first field of /proc/TID/syscall), per machine.
_SYSCALLS = {
    "x86_64": {
        0: "read", 19: "readv", 45: "recvfrom", 47: "recvmsg",
        43: "accept", 288: "accept4",
        7: "poll", 23: "select", 270: "pselect6", 271: "ppoll",
        232: "epoll_wait", 281: "epoll_pwait", 441: "epoll_pwait2",
        35: "nanosleep", 230: "clock_nanosleep", 202: "futex", 61: "wait4",
        247: "waitid", 34: "pause", 130: "rt_sigsuspend", 128: "rt_sigtimedwait",
    },
    "aarch64": {
        63: "read", 65: "readv", 207: "recvfrom", 212: "recvmsg",
        202: "accept", 242: "accept4",
        72: "pselect6", 73: "ppoll", 22: "epoll_pwait", 441: "epoll_pwait2",
        101: "nanosleep", 115: "clock_nanosleep", 98: "futex", 260: "wait4",
        95: "waitid", 133: "rt_sigsuspend", 137: "rt_sigtimedwait",
    },
}
SYSCALL_NAMES = _SYSCALLS.get(platform.machine(), {})

READS = {"read", "readv", "recvfrom", "recvmsg"}
ACCEPTS = {"accept", "accept4"}
POLLS = {"poll", "select", "pselect6", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2"}
SLEEPS = {"nanosleep", "clock_nanosleep"}
WAITS = {"wait4", "waitid"}
# A thread blocked in one of these is waiting for work, not in the middle of
# handing a connection to a child.
IDLE = READS | ACCEPTS | POLLS
# ... and a thread blocked in one of these is parked, waiting for something
# to happen (a supervisor like gunicorn's arbiter or nginx's master, or a
# process between connections). Blocked anywhere else (a write() to a full
# pipe or a slow file system) it is busy: no conclusion may be drawn yet.
PARKED = IDLE | SLEEPS | WAITS | {"rt_sigsuspend", "pause", "rt_sigtimedwait", "futex"}


class ThreadState:
    """One thread: its scheduler state and, when blocked in a system call,
    the call's name and arguments."""

    def __init__(self, tid, state, syscall=None, args=()):
        self.tid = tid
        self.state = state          # R, S, D, Z, T, ...
        self.syscall = syscall      # "accept4", ... or None (running, unknown)
        self.args = args

    @property
    def blocked(self):
        return self.state in ("S", "D") and self.syscall is not None

    def __repr__(self):
        return "<thread %d %s %s>" % (self.tid, self.state, self.syscall)


def parked(pid, own_threads=None):
    """Whether every thread of `pid` is blocked, waiting for something to
    happen (PARKED): a signal sent to it before now has been handled, so
    whatever its handler does has been done."""
    own_threads = threads(pid) if own_threads is None else own_threads
    return bool(own_threads) and all(t.blocked and t.syscall in PARKED for t in own_threads)


def settled(proc):
    """Whether `proc` and every living process below it are parked: nothing
    they were doing is left to finish."""
    return all(parked(p.pid) for p in [proc] + descendants(proc) if not _zombie(p))


def _zombie(proc):
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True     # gone: nothing left to finish either


def catches(pid, signum):
    """Whether `pid` has a handler installed for `signum` (SigCgt in its
    /proc status)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def threads(pid):
    """The threads of `pid` ([] if it is gone or /proc is closed to us)."""
    found = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return found
    for tid in map(int, tids):
        base = "/proc/%d/task/%d/" % (pid, tid)
        try:
            with open(base + "stat") as f:
                stat = f.read()
            with open(base + "syscall") as f:
                fields = f.read().split()
        except OSError:
            continue
        state = stat[stat.rfind(")") + 2:].split(" ", 1)[0]
        syscall, args = None, ()
        if fields and fields[0] not in ("running", "-1"):
            try:
                syscall = SYSCALL_NAMES.get(int(fields[0]), "syscall %s" % fields[0])
                args = tuple(int(a, 16) for a in fields[1:7])
            except ValueError:
                syscall = None
        found.append(ThreadState(tid, state, syscall, args))
    return found


def fd_targets(pid):
    """(descriptor, what it refers to: "socket:[INODE]", "pipe:[INODE]", a
    path, "anon_inode:[eventpoll]"...) for each open descriptor of `pid`;
    none once it is gone."""
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return
    for name in names:
        try:
            yield int(name), os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            pass        # closed meanwhile


def socket_fds(pid, inode):
    """The descriptors of `pid` that refer to the socket `inode`."""
    target = "socket:[%d]" % inode
    return [fd for fd, what in fd_targets(pid) if what == target]


def listening_fds(pid, port):
    """The descriptors of `pid` that are listening TCP sockets on `port`."""
    inodes = {s.inode for s in tcp_sockets(pid, LISTEN) if s.port == port}
    fds = []
    for inode in inodes:
        fds += socket_fds(pid, inode)
    return fds


def epoll_watches(pid, fd):
    """Whether `fd` of `pid` is registered in one of its epoll instances."""
    for epoll, what in fd_targets(pid):
        if what != "anon_inode:[eventpoll]":
            continue
        try:
            with open("/proc/%d/fdinfo/%d" % (pid, epoll)) as f:
                for line in f:
                    if line.startswith("tfd:") and int(line.split()[1]) == fd:
                        return True
        except (OSError, ValueError, IndexError):
            pass
    return False


ESTABLISHED, LISTEN = "01", "0A"


class TcpSocket(collections.namedtuple("TcpSocket", "ip port remote_port inode queued state")):
    """A row of /proc/PID/net/tcp{,6}: local address and port, the remote
    port, the socket's inode (0 until accept() gives it a descriptor), for
    a listening socket the connections waiting in its accept queue, and its
    state (ESTABLISHED, LISTEN...)."""


def tcp_sockets(pid, state):
    """The TCP sockets in `state` (ESTABLISHED, LISTEN; None: any) in the
    network namespace of `pid` (IPv4 and IPv6)."""
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 10 or state is not None and fields[3] != state:
                continue
            hexip, hexport = fields[1].split(":")
            yield TcpSocket(_decode_ip(hexip, family), int(hexport, 16),
                            int(fields[2].split(":")[1], 16), int(fields[9]),
                            int(fields[4].split(":")[1], 16), fields[3])


def descriptors(pid):
    """What the descriptors of `pid` refer to, counted by kind: "connection"
    (a TCP socket that is not listening: an accepted or connected client),
    "listening", "socket" (any other: UNIX, UDP, netlink), "pipe", "file"
    and "other" (eventpoll, eventfd, signalfd...)."""
    kinds = collections.Counter()
    tcp = {s.inode: s.state for s in tcp_sockets(pid, None)}
    for _, target in fd_targets(pid):
        if target.startswith("socket:["):
            inode = int(target[8:-1])
            kinds["socket" if inode not in tcp else
                  "listening" if tcp[inode] == LISTEN else "connection"] += 1
        elif target.startswith("pipe:["):
            kinds["pipe"] += 1
        elif target.startswith("/"):
            kinds["file"] += 1
        else:
            kinds["other"] += 1
    return kinds


def _decode_ip(hexip, family):
    raw = bytes.fromhex(hexip)
    # /proc prints each 32-bit word in host (little-endian) byte order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, raw)


def accepted_inode(server_pid, server_port, client_port):
    """The inode of the server's end of the connection from our `client_port`
    once the server accepted it (0 while it waits in the listen queue)."""
    for sock in tcp_sockets(server_pid, ESTABLISHED):
        if sock.port == server_port and sock.remote_port == client_port:
            return sock.inode
    return 0


def sleep_left(pid, tid=None):
    """Seconds a process sleeping in clock_nanosleep(CLOCK_MONOTONIC,
    TIMER_ABSTIME) (Python's time.sleep) has left, read from its memory; None
    when it is not sleeping so, or its memory is closed to us."""
    for thread in threads(pid):
        if tid is not None and thread.tid != tid:
            continue
        if thread.syscall != "clock_nanosleep" or len(thread.args) < 3:
            continue
        clock, flags, request = thread.args[:3]
        if clock != 1 or not flags & 1:        # CLOCK_MONOTONIC, TIMER_ABSTIME
            continue
        try:
            seconds, nanoseconds = struct.unpack("qq", _read_memory(pid, request, 16))
        except struct.error:
            return None
        return max(0.0, seconds + nanoseconds / 1e9 - time.monotonic())
    return None


def _read_memory(pid, address, size):
    try:
        with open("/proc/%d/mem" % pid, "rb") as mem:
            mem.seek(address)
            return mem.read(size)
    except (OSError, ValueError, OverflowError):
        return b""


def waits_on(pid, thread, fds):
    """Whether `thread` of `pid` is blocked waiting on one of `fds`: in
    accept() on it, or watching it with poll, select or epoll (the sets are
    read from the process's memory, or its epoll's fdinfo)."""
    if not thread.blocked or not fds or not thread.args:
        return False
    call, args = thread.syscall, thread.args
    if call in ACCEPTS:
        return args[0] in fds
    if call in ("poll", "ppoll"):
        raw = _read_memory(pid, args[0], 8 * min(args[1], 4096))
        return any(struct.unpack_from("i", raw, i)[0] in fds for i in range(0, len(raw) - 7, 8))
    if call in ("select", "pselect6"):
        raw = _read_memory(pid, args[1], (min(args[0], 65536) + 7) // 8) if args[1] else b""
        return any(fd // 8 < len(raw) and raw[fd // 8] >> (fd % 8) & 1 for fd in fds)
    if call in ("epoll_wait", "epoll_pwait", "epoll_pwait2"):
        return any(epoll_watches(pid, fd) for fd in fds)
    return False


# -- who serves a connection -------------------------------------------------

class Holder:
    """Who took a connection: the listening process itself, a child made for
    it, or a worker that existed before it came."""

    def __init__(self, kind, process=None, evidence="", inode=0):
        self.kind = kind            # "self" | "child" | "worker"
        self.process = process      # psutil.Process of the child or worker
        self.evidence = evidence
        self.inode = inode          # the server's end of the connection

    def __repr__(self):
        return "<Holder %s %s>" % (self.kind, self.process and self.process.pid)


def descendants(proc):
    try:
        return proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def find_holder(server_proc, inode, known_before, port):
    """Holder of the accepted socket `inode`, on positive evidence only; None
    while the evidence is not there yet.

    The listening process's threads are read before its descendants' fds:
    if it is back waiting (accept, poll, read) a fork it made has returned,
    and the child is in /proc by the time the descendants are read.

    A descendant holding the connection is a pre-forked worker when it
    existed before the connection came, or when it holds the listening
    socket itself while the listening process is not the one accepting
    (a gunicorn or nginx master waits on its workers, not in accept(): a
    worker it started late took the connection). It is a child made for the
    connection when the listening process accepts connections itself.
    """
    pid = server_proc.pid
    own_threads = threads(pid)
    for proc in descendants(server_proc):
        if not socket_fds(proc.pid, inode):
            continue
        if proc.pid in known_before:
            return Holder("worker", proc, inode=inode)
        if not listening_fds(proc.pid, port):
            return Holder("child", proc, inode=inode)
        if not parked(pid, own_threads):
            return None                     # the parent is busy: look again
        listening = set(listening_fds(pid, port))
        accepting = any(waits_on(pid, t, listening) for t in own_threads)
        return Holder("child" if accepting or not listening else "worker", proc, inode=inode)
    fds = socket_fds(pid, inode)
    if not fds:
        return None
    for thread in own_threads:
        if thread.blocked and thread.syscall in READS and thread.args and thread.args[0] in fds:
            return Holder("self", evidence=N_("it reads from the connection"), inode=inode)
    if any(epoll_watches(pid, fd) for fd in fds) and \
            any(t.blocked and t.syscall in POLLS for t in own_threads):
        return Holder("self", evidence=N_("its event loop watches the connection"), inode=inode)
    if own_threads and all(t.blocked and t.syscall in IDLE for t in own_threads):
        return Holder("self", evidence=N_("it holds the connection and waits for more work"),
                      inode=inode)
    return None


def model_name(holder, thread_count):
    """How the server handles connections, in words for the report."""
    if holder is None:
        return "unknown"
    if holder.kind == "child":
        return "a child process per connection (fork)"
    if holder.kind == "worker":
        return "pre-forked worker processes"
    if "event loop" in holder.evidence:
        return "one process with an event loop"
    if thread_count > 1:
        return "threads in one process"
    return "one process"
