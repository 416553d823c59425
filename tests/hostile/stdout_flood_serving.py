"""Hostile: a correct 3g server whose every process prints without end.

A grandchild of the server (in a session of its own) floods the shared
stdout pipe from the start, and every request's child prints its request
1000 times: the grader must keep
draining the pipe (or the server blocks in write) and keep only a bounded
head and tail of it.
"""
import os
import signal
import socket
import sys

LINE = ("flood " * 100 + "\n").encode()


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
if os.fork() == 0:
    listen_socket.close()
    os.setsid()
    if os.fork() == 0:
        while True:
            os.write(1, LINE * 100)
    os._exit(0)
os.wait()
signal.signal(signal.SIGCHLD, grim_reaper)
while True:
    conn, _ = listen_socket.accept()
    if os.fork() == 0:
        listen_socket.close()
        request = conn.recv(1024)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
        conn.close()
        sys.stdout.write(request.decode("latin-1") * 1000)
        sys.stdout.flush()
        os._exit(0)
    conn.close()
