"""Hostile: serves correctly on its first run only.

It counts its runs in a file of its work dir, which lives as long as the
submission is graded where the checks run one at a time (where they run at
once, each check has a work dir of its own, and every run is a first run:
tests/test_one_at_a_time.py grades it one at a time). From the second run on it listens with a backlog
of 0 and fills the queue itself, so the grader's connect() times out
(the kernel drops SYNs to a full accept queue). A check whose first
connect fails must fail, not crash the grader.
"""
import os
import socket
import time

runs = 1
try:
    with open(".runs") as f:
        runs = int(f.read()) + 1
except (OSError, ValueError):
    pass
with open(".runs", "w") as f:
    f.write(str(runs))

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(0)
if runs > 1:
    fillers = []
    for _ in range(3):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        c.connect_ex(('127.0.0.1', 8888))
        fillers.append(c)
    time.sleep(300)
while True:
    conn, _ = s.accept()
    conn.recv(1024)
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
    conn.close()
