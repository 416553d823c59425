"""Hostile (but correct as a server): writes files, bounded, then serves.

It writes one file past RLIMIT_FSIZE (16 MiB: Python ignores SIGXFSZ, so
the write fails with EFBIG), then eight 16 MiB files in its work dir and
two of 8 MiB in /dev/shm (memory; 64 MiB in all in a Docker container),
then serves like webserver3g.py. Every check starts it afresh: nothing of
a check's run may be left for the next one, nor once it is graded.
(Bounded here; in a real one nothing but time bounds how much it writes.)
"""
import os
import signal
import socket

BLOCK = b"\0" * (1 << 20)


def write(path, mib):
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(BLOCK)


try:
    write("too-big", 17)
    print("wrote 17 MiB: RLIMIT_FSIZE did not stop it", flush=True)
except OSError as e:
    print("17 MiB: %s" % e, flush=True)
for n in range(8):
    write("fill-%d" % n, 16)
for n in range(2):
    write("/dev/shm/lab-hostile-fill-%d-%d" % (os.getpid(), n), 8)

signal.signal(signal.SIGCHLD, signal.SIG_IGN)
listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen_socket.bind(('', 8888))
listen_socket.listen(1024)
while True:
    conn, _ = listen_socket.accept()
    if os.fork() == 0:
        listen_socket.close()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
        conn.close()
        os._exit(0)
    conn.close()
