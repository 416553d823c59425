"""Hostile: tries to take over the grader, then serves like webserver3g.py.

It attaches to the grader (its parent) with ptrace, opens the grader's
/proc/PID/mem for writing, and sends it SIGINT, SIGTERM and SIGHUP (which
the grader handles: Ctrl-C, kill, a closed terminal). As root the server's
uid is not the grader's; not root, the grader is init of a PID namespace of
its own, not dumpable, and takes those signals only from outside it. The
grader must go on unharmed, and the server (which serves correctly) pass.
"""
import ctypes
import os
import signal
import socket

PTRACE_ATTACH = 16
GRADER = os.getppid()
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(PTRACE_ATTACH, GRADER, None, None) == 0:
    print("ptrace attached to the grader", flush=True)
else:
    print("ptrace failed: %s" % os.strerror(ctypes.get_errno()), flush=True)
try:
    with open("/proc/%d/mem" % GRADER, "r+b", buffering=0):
        print("opened the grader's memory", flush=True)
except OSError as e:
    print("/proc/%d/mem: %s" % (GRADER, e.strerror), flush=True)
for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    try:
        os.kill(GRADER, signum)
    except OSError as e:
        print("kill failed: %s" % e.strerror, flush=True)


def grim_reaper(signum, frame):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except OSError:
            return
        if pid == 0:
            return


listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen_socket.bind(('', 8888))
listen_socket.listen(1024)
signal.signal(signal.SIGCHLD, grim_reaper)
while True:
    conn, _ = listen_socket.accept()
    if os.fork() == 0:
        listen_socket.close()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
        conn.close()
        os._exit(0)
    conn.close()
