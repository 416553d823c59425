"""Hostile: a forking server whose children answer, then stream the body
without end and never close: the grader's reads must stay bounded in time
and in memory."""
import os
import signal
import socket

signal.signal(signal.SIGCHLD, signal.SIG_IGN)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(1024)
while True:
    conn, _ = s.accept()
    if os.fork() == 0:
        s.close()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
        chunk = b"x" * 65536
        try:
            while True:
                conn.sendall(chunk)
        except OSError:
            os._exit(0)
    conn.close()
