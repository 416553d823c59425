# Variant of the article's 3g (tests/mutants/README.md): the child works 2 s after its answer before it closes the connection
###########################################################################
# Concurrent server - webserver3g.py                                      #
#                                                                         #
# Let's Build A Web Server, Part 3, in Python 3                           #
#                                                                         #
# The SIGCHLD handler loops over waitpid(-1, WNOHANG) until no exited     #
# child is left: one signal may stand for many children.                  #
###########################################################################
import errno
import os
import signal
import socket
import time

SERVER_ADDRESS = (HOST, PORT) = '', 8888
REQUEST_QUEUE_SIZE = 1024


def grim_reaper(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(
                -1,          # Wait for any child process
                os.WNOHANG   # Do not block and return EWOULDBLOCK error
                # (the article's words; in fact, while children are left but
                # none has exited yet, waitpid() returns (0, 0): no error)
            )
        except OSError:  # ChildProcessError: no children left at all
            return

        if pid == 0:  # no more zombies
            return


def handle_request(client_connection):
    request = client_connection.recv(1024)
    print(request.decode())
    http_response = b"""\
HTTP/1.1 200 OK

Hello, World!
"""
    client_connection.sendall(http_response)


def serve_forever():
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen_socket.bind(SERVER_ADDRESS)
    listen_socket.listen(REQUEST_QUEUE_SIZE)
    print('Serving HTTP on port {port} ...'.format(port=PORT))

    signal.signal(signal.SIGCHLD, grim_reaper)

    while True:
        try:
            client_connection, client_address = listen_socket.accept()
        except OSError as e:
            # restart 'accept' if it was interrupted (Python 2; since
            # Python 3.5 the interpreter retries it and this never runs)
            if e.errno == errno.EINTR:
                continue
            else:
                raise

        pid = os.fork()
        if pid == 0:  # child
            listen_socket.close()  # close child copy
            handle_request(client_connection)
            busy_until = time.monotonic() + 2  # 2 s of work after the answer
            while time.monotonic() < busy_until:
                pass
            client_connection.close()
            os._exit(0)
        else:  # parent
            client_connection.close()  # close parent copy and loop over


if __name__ == '__main__':
    serve_forever()
