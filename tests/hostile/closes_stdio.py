"""Hostile (but correct): closes stdin, stdout and stderr, then serves like
webserver3g.py without printing. The grader sees EOF on the output pipe
at once and must still grade it: it passes.
"""
import os
import signal
import socket

for fd in (0, 1, 2):
    os.close(fd)


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
