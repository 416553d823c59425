"""Hostile: binds port 8888 but never calls listen()."""
import socket
import time

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 8888))
print("bound, not listening", flush=True)
time.sleep(300)
