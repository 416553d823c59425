"""A correct 3g server that listens on IPv6 only ([::]:8888, V6ONLY)."""
import os
import signal
import socket

signal.signal(signal.SIGCHLD, signal.SIG_IGN)
listen_socket = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen_socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
listen_socket.bind(('::', 8888))
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
