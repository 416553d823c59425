"""Hostile: answers its first request, then spins in a busy loop forever.

RLIMIT_CPU (60 s) is far beyond any check's bound: the checks' own bounds
must end it.
"""
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(5)
conn, _ = s.accept()
conn.recv(1024)
conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
conn.close()
n = 0
while True:
    n += 1
