"""A pre-fork server whose workers start late, as gunicorn's do on a busy
machine: two workers at once, then one more after each 10 requests served
past the 20th, up to 6. Its supervisor keeps one descriptor per worker
(the pipe on which the worker reports each request served), as gunicorn's
arbiter keeps a file per worker, so it gains descriptors between the 20th
and the 100th request without leaking any. Like gunicorn's arbiter, it
reaps with waitpid(-1, WNOHANG) in its loop (the SIGCHLD handler only
wakes it) and replaces a worker that dies. It must pass 3g on its merits."""
import os
import select
import signal
import socket

SERVER_ADDRESS = '', 8888
FIRST_WORKERS, MOST_WORKERS = 2, 6
LATE_AFTER, LATE_EVERY = 20, 10
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\n"
            b"Hello, World!\n")


def work(listen_socket, report):
    while True:
        client, _ = listen_socket.accept()
        client.recv(1024)
        client.sendall(RESPONSE)
        client.close()
        os.write(report, b".")


def main():
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen_socket.bind(SERVER_ADDRESS)
    listen_socket.listen(1024)

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    reports = {}   # worker pid -> the read end of its report pipe
    served = 0

    def spawn():
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in [read_end, wake_read, wake_write] + list(reports.values()):
                os.close(fd)
            try:
                work(listen_socket, write_end)
            finally:
                os._exit(0)
        os.close(write_end)
        reports[pid] = read_end

    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            os.close(reports.pop(pid))
        wanted = min(MOST_WORKERS,
                     FIRST_WORKERS + max(0, served - LATE_AFTER) // LATE_EVERY)
        while len(reports) < wanted:
            spawn()
        ready, _, _ = select.select([wake_read] + list(reports.values()), [], [])
        for fd in ready:
            news = os.read(fd, 4096)
            if fd != wake_read:
                served += len(news)   # a worker's dead pipe reads b"" until reaped


if __name__ == '__main__':
    main()
