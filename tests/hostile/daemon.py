"""Hostile: double-fork setsid daemon that keeps port 8888, parent exits.

The classic daemon: fork, setsid, fork again, the first two exit at once.
The daemon waits a second (its parent is surely gone by then), then
listens on 8888 and serves (badly: never closes) for 300 s. The grader's
server process exited with status 0 before anything listened, and the
daemon, a grandchild in another session, must be found and killed all
the same.
"""
import os
import socket
import time

if os.fork() > 0:
    os._exit(0)
os.setsid()
if os.fork() > 0:
    os._exit(0)
time.sleep(1)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(5)
end = time.time() + 300
kept = []
while time.time() < end:
    conn, _ = s.accept()
    conn.recv(1024)
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
    kept.append(conn)
