"""Hostile: a correct 3g server that first floods forks (bounded).

A grandchild in a session of its own forks as fast as it can until 800
processes sleep (3000 forks at most in all; each sleeps 120 s), leaving
the server enough of RLIMIT_NPROC (1024) for its own children; the
server then serves like webserver3g.py. Every check starts a fresh
server, so every check's clean-up has to kill some 800 processes that
left the server's session.
"""
import os
import signal
import socket
import time

FLOOD = 800


def flood():
    alive = 0
    for _ in range(3000):
        if alive >= FLOOD:
            break
        try:
            pid = os.fork()
        except OSError:
            continue
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        alive += 1
    time.sleep(120)
    os._exit(0)


def grim_reaper(signum, frame):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except OSError:
            return
        if pid == 0:
            return


def main():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            flood()
        os._exit(0)
    os.wait()
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen_socket.bind(('', 8888))
    listen_socket.listen(1024)
    signal.signal(signal.SIGCHLD, grim_reaper)
    while True:
        conn, _ = listen_socket.accept()
        pid = os.fork()
        if pid == 0:
            listen_socket.close()
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")
            conn.close()
            os._exit(0)
        conn.close()


main()
