"""Hostile: a syntax error (Python never starts the server)."""
import socket

def serve_forever()
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
