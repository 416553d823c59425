"""Hostile: tries to kill the grader, then serves like webserver3g.py.

os.kill(os.getppid(), SIGKILL) aims at the grader (the server's parent),
kill(-1, SIGKILL) at every process it may signal, kill(1) at init; every
child tries the grader (and its process group) again after answering. As
a dedicated uid it may signal none but its own processes: the grader must
survive, and the server (which serves correctly) pass.
"""
import os
import signal
import socket

GRADER = os.getppid()
for attempt in (lambda: os.kill(os.getppid(), signal.SIGKILL),
                lambda: os.kill(-1, signal.SIGKILL),
                lambda: os.kill(1, signal.SIGKILL)):
    try:
        attempt()
    except OSError as e:
        print("kill failed: %s" % e, flush=True)


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
        # and once more, from every child: kill the grader
        for attempt in (lambda: os.kill(GRADER, signal.SIGKILL),
                        lambda: os.killpg(os.getpgid(GRADER), signal.SIGKILL)):
            try:
                attempt()
            except OSError:
                pass
        os._exit(0)
    conn.close()
