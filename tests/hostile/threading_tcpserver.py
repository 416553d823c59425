"""A correct server on socketserver.ThreadingTCPServer (a thread per request)."""
import socketserver


class Hello(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(1024)
        self.request.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


if __name__ == '__main__':
    with Server(('', 8888), Hello) as server:
        print('Serving HTTP on port 8888 ...', flush=True)
        server.serve_forever()
