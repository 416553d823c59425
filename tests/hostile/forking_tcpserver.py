"""A correct server on socketserver.ForkingTCPServer (a child per request;
serve_forever reaps the children every poll_interval, 0.5 s)."""
import socketserver


class Hello(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(1024)
        self.request.sendall(b"HTTP/1.1 200 OK\r\n\r\nHello, World!\n")


class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 1024


if __name__ == '__main__':
    with Server(('', 8888), Hello) as server:
        print('Serving HTTP on port 8888 ...', flush=True)
        server.serve_forever()
