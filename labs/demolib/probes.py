"""What the demos read of the system: who listens on port 8888, the
kernel's queue of a listening socket, a process's limits and connections,
a count in a terminal's output."""

import re
import shutil
import socket
import subprocess

import psutil

from grader.i18n import _

PORT = 8888


def listeners():
    """The pids LISTENing on 8888 (None for another user's, when not root)."""
    found = []
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        conns = []
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == PORT:
            found.append(conn.pid)
    return found


def can_bind():
    """8888 can be bound now (as the servers do, with SO_REUSEADDR)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", PORT))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def describe_processes(pids):
    """`pids` for a message: each one's name, user and command line."""
    names = []
    for pid in pids:
        if pid is None:
            names.append(_("a process of another user (run as root to see it)"))
            continue
        try:
            proc = psutil.Process(pid)
            names.append(_("PID {} ({}, user {}: {})").format(
                pid, proc.name(), proc.username(), " ".join(proc.cmdline())[:120]))
        except psutil.Error:
            names.append("PID {}".format(pid))
    return ", ".join(names) or _("another program")


def ss_listen_queue():
    """(Recv-Q, Send-Q) of the socket listening on 8888, from `ss -ltn`.

    For a listening socket Recv-Q is the number of connections the kernel
    has completed that nobody accepted yet, Send-Q the backlog size.
    None when ss is not installed.
    """
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-Hltn", "sport = :{}".format(PORT)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, timeout=10).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "LISTEN":
            return int(fields[1]), int(fields[2])
    return None


def last_number(text):
    """The last line of `text` that is only a number (3d's client count)."""
    numbers = re.findall(r"^\s*(\d+)\s*$", (text or "").replace("\r", ""), re.M)
    return int(numbers[-1]) if numbers else None


def soft_limit(pid, name):
    """A process's soft limit from /proc/PID/limits ("Max open files",
    "Max processes"), as an int or "unlimited". Reading it needs no
    privilege (prlimit() on another uid's process needs CAP_SYS_RESOURCE)."""
    try:
        with open("/proc/{}/limits".format(pid)) as limits:
            for line in limits:
                if line.startswith(name):
                    value = line[len(name):].split()[0]
                    return int(value) if value.isdigit() else value
    except OSError:
        pass
    return None


def established_to_port(proc):
    """The ESTABLISHED TCP connections of `proc` to port 8888."""
    try:
        return [c for c in proc.connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == PORT]
    except psutil.Error:
        return []
