"""A correct threaded server: a thread per connection, no fork.

It has no children, so the checks about children (reaps, reaps-burst,
survives-child-kill) do not apply; every other check must pass on its
merits, so it passes 3g.
"""
import socket
import threading

RESPONSE = b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n"


def handle(conn):
    with conn:
        conn.recv(1024)
        conn.sendall(RESPONSE)


def serve_forever():
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen_socket.bind(('', 8888))
    listen_socket.listen(1024)
    print('Serving HTTP on port 8888 ...', flush=True)
    while True:
        conn, _ = listen_socket.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == '__main__':
    serve_forever()
