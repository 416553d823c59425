"""A correct forking server that reaps by ignoring SIGCHLD (POSIX: the
kernel then reaps every child at once, no zombie ever). It passes 3g."""
import os
import signal
import socket

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
