"""Hostile (but correct as a server): leaves traces outside its work dir.

At start-up it writes a file in /tmp, /var/tmp and /dev/shm, and creates
a SysV shared memory segment (4 MiB, touched) that it never removes; then
it serves like webserver3g.py. Processes die with the server; these do
not, unless the grader removes them.
"""
import ctypes
import os
import signal
import socket

for d in ("/tmp", "/var/tmp", "/dev/shm"):
    try:
        with open(os.path.join(d, "lab-hostile-%d" % os.getpid()), "w") as f:
            f.write("left behind\n")
    except OSError as e:
        print("cannot write in %s: %s" % (d, e), flush=True)

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
IPC_PRIVATE, IPC_CREAT = 0, 0o1000
shmid = libc.shmget(IPC_PRIVATE, 4 << 20, IPC_CREAT | 0o600)
if shmid >= 0:
    addr = libc.shmat(shmid, None, 0)
    if addr not in (None, ctypes.c_void_p(-1).value):
        ctypes.memset(addr, 1, 4 << 20)
        libc.shmdt(ctypes.c_void_p(addr))

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
