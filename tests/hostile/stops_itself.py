"""Hostile: listens, then stops itself with SIGSTOP (a stopped process
ignores everything but SIGKILL and SIGCONT)."""
import os
import signal
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(5)
os.kill(os.getpid(), signal.SIGSTOP)
while True:
    conn, _ = s.accept()
    conn.recv(1024)
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
    conn.close()
