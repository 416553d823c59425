"""Runs a server under test, contained, and removes every trace of it.

One `Sandbox` per submission: a private copy of the file in a work dir, the
uid it runs as, and the knowledge of which processes are its own. Each check
starts a fresh `Server` in it (in its own network namespace where the grader
may create one) and stops it afterwards, killing everything it started,
daemons included: the grader is a child subreaper, so an orphan re-parents to
it instead of escaping to init, and as root every process of the server's
dedicated uid is killed at once with kill(-1).
"""

import collections
import ctypes
import fcntl
import functools
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from . import identity, netns, observe, processes
from .i18n import _
from .report import printable

LAUNCHER = Path(__file__).with_name("_launch.py")

MiB = 1 << 20
# Above what the checks need (fd-limit opens 300 connections, so a forking
# server may have 300 children at once), below what hurts the host.
NPROC_LIMIT = 1024
MEMORY_LIMIT = 2048 * MiB        # address space of each process
STACK_LIMIT = 2 * MiB            # also the size of each thread's stack
FILE_SIZE_LIMIT = 16 * MiB
CPU_SECONDS_LIMIT = 60           # per process

# Where any uid may leave files that outlive its processes (POSIX message
# queues too, where /dev/mqueue is mounted; SysV IPC: see remove_traces).
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue")

OUTPUT_HEAD = 4096               # bytes of server output kept from the start
OUTPUT_TAIL = 8192               # ... and from the end


def memory_note() -> str:
    """What bounds a submission's memory here, said plainly: only the
    per-process limits (no cgroup holds a submission's processes)."""
    v2_memory = False
    try:
        with open("/proc/self/mounts") as f:
            v2_mounts = [line.split()[1] for line in f if line.split()[2:3] == ["cgroup2"]]
        for mount in v2_mounts:     # hybrid hierarchies mount one without controllers
            with open(os.path.join(mount, "cgroup.controllers")) as f:
                v2_memory = v2_memory or "memory" in f.read().split()
    except (OSError, IndexError):
        pass
    return ("memory: only per-process limits apply (%d MiB of address space per process, %d "
            "processes): %s, so nothing bounds a submission's total"
            % (MEMORY_LIMIT // MiB, NPROC_LIMIT,
               "the grader does not use this machine's cgroup v2 memory controller" if v2_memory
               else "this machine has no cgroup v2 memory controller"))


class GraderError(Exception):
    """The grader cannot do its job here (not the submission's fault)."""


@dataclass(frozen=True)
class Launch:
    """How a stage's server is started and what it is asked (a stage.toml
    declares it; the defaults are Part 3's): `python3 -u FILE *args`, with
    `files` copied beside the server's copy (a plain __import__ finds
    them); GET `request_path`, whose body must contain `answer`."""
    args: tuple = ()
    files: tuple = ()           # paths
    request_path: str = "/hello"
    answer: str = "Hello, World!"

    @property
    def request(self) -> bytes:
        return (b"GET %s HTTP/1.1\r\nHost: localhost:8888\r\nUser-Agent: lab-check\r\n\r\n"
                % self.request_path.encode("ascii"))


def _launch(spec, **popen_args):
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(spec)],
        start_new_session=True, **popen_args)


@functools.lru_cache(maxsize=None)
def python_for(uid=None) -> str:
    """A Python 3 interpreter that the server's uid may execute.

    The grader's own may live where an unprivileged uid cannot reach it (a
    pyenv under /root): try it through the launcher itself, then python3.
    """
    candidates = [os.environ.get("LAB_PYTHON"), sys.executable,
                  "/usr/bin/python3", shutil.which("python3")]
    for python in dict.fromkeys(c for c in candidates if c):
        spec = {"limits": {}, "cwd": "/", "uid": uid, "env": {},
                "argv": [python, "-c", "import sys; assert sys.version_info >= (3, 6)"]}
        try:
            probe = _launch(spec, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            continue
        try:
            if probe.wait(timeout=10) == 0:
                return python
        except subprocess.TimeoutExpired:
            probe.kill()
            probe.wait()
    raise GraderError(_("no Python 3 interpreter that the server's user can run: "
                        "install python3, or set LAB_PYTHON to one"))


class OutputBuffer:
    """Drains a pipe in a thread, so a chatty server never blocks; keeps
    the head and the tail of what it printed."""

    def __init__(self, pipe):
        self.head = bytearray()
        self.tail = collections.deque()
        self.tail_size = 0
        self.total = 0
        self._pipe = pipe
        self._thread = threading.Thread(target=self._drain, daemon=True,
                                        name="server-output")
        self._thread.start()

    def _drain(self):
        while True:
            try:
                chunk = os.read(self._pipe.fileno(), 65536)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            room = OUTPUT_HEAD - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail.append(chunk)
                self.tail_size += len(chunk)
                while self.tail_size - len(self.tail[0]) >= OUTPUT_TAIL:
                    self.tail_size -= len(self.tail.popleft())

    def join(self, timeout=2.0):
        self._thread.join(timeout)
        self._pipe.close()

    def caught_up(self) -> bool:
        """Whether text() holds all that was written to the pipe until now:
        the pipe is empty and the draining thread is back in read() (so it
        has stored what it read before)."""
        try:
            unread = struct.unpack("i", fcntl.ioctl(self._pipe.fileno(), termios.FIONREAD,
                                                    b"\0\0\0\0"))[0]
        except (OSError, ValueError):
            return True         # closed: the thread has ended
        if unread:
            return False
        if not self._thread.is_alive():
            return True
        return any(t.tid == self._thread.native_id and t.blocked and t.syscall in observe.READS
                   for t in observe.threads(os.getpid()))

    def text(self) -> str:
        """What the server printed, head and tail, escaped for humans."""
        tail = b"".join(self.tail)[-OUTPUT_TAIL:]
        skipped = self.total - len(self.head) - len(tail)
        text = self.head.decode("utf-8", "replace")
        if skipped > 0:
            text += "\n[... %d bytes of output left out ...]\n" % skipped
        text += tail.decode("utf-8", "replace")
        return printable(text.replace("\r\n", "\n"))


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % number


class Server:
    """One running server under test."""

    def __init__(self, sandbox, popen, namespace, port):
        self.sandbox = sandbox
        self.popen = popen
        self.pid = popen.pid
        self.netns = namespace
        self.port = port
        self.output = OutputBuffer(popen.stdout)
        # what the checks ask it, and what its answer must contain
        self.request_path = sandbox.launch.request_path
        self.request = sandbox.launch.request
        self.answer = sandbox.launch.answer.encode("utf-8")
        self.started = time.monotonic()
        self.address = None
        self._process = psutil.Process(self.pid)

    @property
    def process(self):
        """The listening process (psutil)."""
        return self._process

    # -- state -------------------------------------------------------------
    def alive(self) -> bool:
        return self.popen.poll() is None

    def exit_description(self) -> str:
        code = self.popen.poll()
        if code is None:
            return _("still running")
        if code < 0:
            return _("killed by %s") % _signal_name(-code)
        return _("exited with status %d") % code

    def children(self):
        """The server's direct children, zombies included."""
        try:
            return self._process.children()
        except psutil.NoSuchProcess:
            return []

    def num_fds(self) -> int:
        return self._process.num_fds()

    def listening(self):
        """{(address, port)} the server listens on (TCP, IPv4 and IPv6)."""
        if self.netns is not None:
            # psutil reads the grader's own /proc/net, which is another
            # namespace: read the server's view of the network instead,
            # once the launcher has entered the namespace.
            try:
                entered = (os.stat("/proc/%d/ns/net" % self.pid).st_ino
                           == os.fstat(self.netns.fd).st_ino)
            except OSError:
                entered = False
            return _listening_in_netns_of(self.pid) if entered else set()
        found = set()
        try:
            procs = [self._process] + self._process.children(recursive=True)
        except psutil.NoSuchProcess:
            return found
        for proc in procs:
            try:
                for conn in proc.connections("inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        found.add((conn.laddr.ip, conn.laddr.port))
            except psutil.NoSuchProcess:
                pass
            except psutil.AccessDenied:
                # an exiting process's /proc/PID/fd is closed even to root
                time.sleep(0.05)
                if not processes.alive(proc):
                    continue
                raise GraderError(
                    _("the grader may not inspect the server's sockets (/proc/%d/fd: permission "
                      "denied); in a container, add the SYS_PTRACE capability (compose.yaml has "
                      "it)") % proc.pid)
        return found

    def wait_listening(self, timeout: float):
        """Wait until the server listens on its port; return the address to
        connect to, or None (it exited, or did not listen in time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            ports = self.listening()
            mine = sorted(ip for ip, port in ports if port == self.port)
            if mine:
                self.address = (_connect_address(mine), self.port)
                return self.address
            time.sleep(0.01)
        return None

    # -- clients -----------------------------------------------------------
    def new_socket(self, family=None):
        family = family or (socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET)
        if self.netns is None:
            return socket.socket(family, socket.SOCK_STREAM)
        return self.netns.run(lambda: socket.socket(family, socket.SOCK_STREAM))

    def new_sockets(self, count):
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        make = lambda: [socket.socket(family, socket.SOCK_STREAM) for _ in range(count)]
        return make() if self.netns is None else self.netns.run(make)

    def connect(self, timeout: float):
        sock = self.new_socket()
        sock.settimeout(timeout)
        try:
            sock.connect(self.address)
        except BaseException:
            sock.close()
            raise
        return sock

    def connect_eagerly(self, budget: float, attempt: float = 0.05):
        """Connect, re-sending the SYN every `attempt` seconds for up to
        `budget`: when the listen backlog is full the kernel drops the SYN,
        and the kernel's own retry would wait a whole second."""
        deadline = time.monotonic() + budget
        while True:
            try:
                return self.connect(min(attempt, max(0.001, deadline - time.monotonic())))
            except socket.timeout:
                if time.monotonic() >= deadline:
                    raise

    # -- the end -----------------------------------------------------------
    def stop(self):
        self.sandbox.kill_all(self)
        self.sandbox.remove_traces()    # the next check's server starts afresh
        self.output.join()
        if self.netns is not None:
            self.netns.close()


def _connect_address(listening_ips):
    for ip in listening_ips:
        if ip in ("0.0.0.0", "::", "::ffff:0.0.0.0"):
            return "127.0.0.1" if ip == "0.0.0.0" else "::1"
    for ip in listening_ips:
        if ip.startswith("::ffff:"):
            return ip[len("::ffff:"):]
        return ip


def _listening_in_netns_of(pid):
    return {(sock.ip, sock.port) for sock in observe.tcp_sockets(pid, observe.LISTEN)}


class Sandbox:
    """Where one submission runs. Use as a context manager."""

    def __init__(self, submission: Path, port: int = 8888, isolate_network=None, source=None,
                 launch: Launch = None):
        self.submission = Path(submission)
        self.port = port
        self.launch = launch or Launch()
        self._claim = identity.claim_server_uid() if identity.is_root() else None
        self.uid = self._claim.uid if self._claim else None
        self.python = python_for(self.uid)
        self.use_netns = netns.available() if isolate_network is None else isolate_network
        processes.become_subreaper()
        self._children_before = {p.pid for p in psutil.Process().children()}
        if self.uid is not None:
            self.kill_all()     # whatever a crashed grader left under this uid
            self.remove_traces()
        self.workdir = Path(tempfile.mkdtemp(prefix="lab-check-"))
        self.server_file = self.workdir / self.submission.name
        if source is None:
            shutil.copyfile(self.submission, self.server_file)
        else:                   # read with the learner's rights (grader/userfiles.py)
            self.server_file.write_bytes(source)
        beside = []
        for app in self.launch.files:       # the stage's apps, for __import__
            if app.name != self.server_file.name:
                shutil.copyfile(app, self.workdir / app.name)
                beside.append(self.workdir / app.name)
        if self.uid is not None:
            for path in [self.workdir, self.server_file] + beside:
                os.chown(path, self.uid, self.uid)
        os.chmod(self.workdir, 0o755)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.kill_all()
            self.remove_traces()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self._claim:
                self._claim.release()

    def remove_traces(self):
        """Remove what the server's uid left in the world-writable places
        and its SysV IPC objects (its processes are dead by now): they
        outlive the server. (Where the launcher could give the server an IPC
        namespace of its own, there are none.)"""
        if self.uid is None:
            return
        _remove_ipc_of(self.uid)
        for place in SHARED_DIRS:
            try:
                entries = list(os.scandir(place))
            except OSError:
                continue
            for entry in entries:
                try:
                    if (entry.stat(follow_symlinks=False).st_uid != self.uid
                            or entry.path == str(getattr(self, "workdir", ""))):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                except OSError:
                    pass

    # -- starting ------------------------------------------------------------
    def _limits(self, nofile):
        nproc = NPROC_LIMIT
        if self.uid is None:
            # RLIMIT_NPROC counts every task (thread) of the real uid: leave
            # room for the ones the user already has.
            me = os.getuid()
            nproc += sum(p.info["num_threads"] or 1
                         for p in psutil.process_iter(["uids", "num_threads"])
                         if p.info["uids"] and p.info["uids"].real == me)
        return {
            "RLIMIT_NOFILE": (nofile, nofile),
            "RLIMIT_NPROC": (nproc, nproc),
            "RLIMIT_AS": (MEMORY_LIMIT, MEMORY_LIMIT),
            "RLIMIT_STACK": (STACK_LIMIT, STACK_LIMIT),
            "RLIMIT_FSIZE": (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT),
            "RLIMIT_CPU": (CPU_SECONDS_LIMIT, CPU_SECONDS_LIMIT + 5),
            "RLIMIT_CORE": (0, 0),
        }

    def port_owner(self):
        """Who else listens on our port on the host (when not isolated)."""
        if self.use_netns:
            return None
        for conn in psutil.net_connections("inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == self.port:
                try:
                    proc = psutil.Process(conn.pid) if conn.pid else None
                    return "PID %d (%s)" % (proc.pid, " ".join(proc.cmdline())) if proc else _("another process")
                except psutil.Error:
                    return "PID %s" % conn.pid
        return None

    def start(self, nofile: int = 1024, extra_env=None, pass_fds=(), args=None) -> Server:
        """Launch the server. `extra_env` and `pass_fds` reach it as they are
        (lab trace's recording hook uses them); `args`, after the file, in
        place of the stage's."""
        namespace = netns.NetNamespace() if self.use_netns else None
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PORT": str(self.port),
        }
        env.update(extra_env or {})
        spec = {
            "netns_fd": namespace.fd if namespace else None,
            "limits": self._limits(nofile),
            "cwd": str(self.workdir),
            "uid": self.uid,
            "argv": [self.python, "-u", self.server_file.name,
                     *(self.launch.args if args is None else args)],
            "env": env,
        }
        try:
            popen = _launch(spec, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            pass_fds=((namespace.fd,) if namespace else ()) + tuple(pass_fds))
        except BaseException:
            if namespace:
                namespace.close()
            raise
        return Server(self, popen, namespace, self.port)

    # -- stopping ------------------------------------------------------------
    def own_processes(self, server=None):
        """Every live process this sandbox started (zombies included).

        With a server uid of its own, that is every process of the uid, and
        the server (and its children) while the launcher has not dropped to
        the uid yet: other sandboxes of this grader, running at the same
        time, are left alone. Without one, every new descendant of the
        grader (sandboxes then run one at a time)."""
        found = {}
        if self.uid is not None:
            for proc in psutil.process_iter(["uids"]):
                uids = proc.info["uids"]
                if uids and self.uid in (uids.real, uids.effective, uids.saved):
                    found[proc.pid] = proc
            if server is not None:
                try:
                    for proc in [server.process] + server.process.children(recursive=True):
                        found.setdefault(proc.pid, proc)
                except psutil.NoSuchProcess:
                    pass
        else:
            for proc in psutil.Process().children(recursive=True):
                if proc.pid not in self._children_before:
                    found.setdefault(proc.pid, proc)
        for pid in self._children_before:
            found.pop(pid, None)
        return list(found.values())

    def kill_all(self, server: Server = None, timeout: float = 10.0):
        """Kill and reap everything the submission started; bounded."""
        deadline = time.monotonic() + timeout
        while True:
            if server is not None:
                try:
                    os.killpg(server.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if self.uid is not None:
                processes.kill_uid(self.uid)
            left = [p for p in self.own_processes(server) if processes.alive(p)]
            for proc in left:
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            self._reap(server)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        if left:
            raise GraderError(_("could not kill the server's processes: %s")
                              % ", ".join(str(p.pid) for p in left))

    def _reap(self, server):
        if server is not None:
            try:
                server.popen.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        # The orphans of this sandbox that re-parented to the grader: of its
        # uid. (A zombie of another sandbox's server is that sandbox's to
        # reap: its Popen needs the exit status.) Killed already: reap them.
        keep = set(self._children_before) | ({server.pid} if server is not None else set())
        processes.reap_strays(keep=keep, kill=False, timeout=0,
                              belongs=None if self.uid is None else lambda p: self.uid in p.uids())


def _remove_ipc_of(uid):
    """IPC_RMID every SysV shared memory segment, semaphore set and message
    queue that `uid` owns: as `uid` itself, in a child (root in a container
    may lack CAP_IPC_OWNER, and the owner may always remove its own)."""
    found = []
    for kind, key in (("shm", "shmid"), ("sem", "semid"), ("msg", "msqid")):
        try:
            with open("/proc/sysvipc/" + kind) as f:
                rows = f.read().splitlines()
        except OSError:
            continue
        header = rows[0].split() if rows else []
        for row in rows[1:]:
            values = dict(zip(header, row.split()))
            if values.get("uid") == str(uid) and key in values:
                found.append((kind, int(values[key])))
    if not found:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    IPC_RMID = 0

    def remove():
        for kind, ipc_id in found:
            if kind == "shm":
                libc.shmctl(ipc_id, IPC_RMID, None)
            elif kind == "sem":
                libc.semctl(ipc_id, 0, IPC_RMID)
            else:
                libc.msgctl(ipc_id, IPC_RMID, None)
    processes.as_uid(uid, remove)
