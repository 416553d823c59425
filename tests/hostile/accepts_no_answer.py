"""Hostile: accepts every connection, reads the request, never answers."""
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(5)
kept = []
while True:
    conn, _ = s.accept()
    conn.recv(1024)
    kept.append(conn)       # never answered, never closed
