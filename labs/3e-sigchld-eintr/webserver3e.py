###########################################################################
# Concurrent server - webserver3e.py                                      #
#                                                                         #
# Let's Build A Web Server, Part 3, in Python 3                           #
#                                                                         #
# A SIGCHLD handler reaps children with os.wait().                        #
# (LAB_SLEEP=seconds shortens the child's 3-second sleep)                 #
###########################################################################
import os
import signal
import socket
import time

SERVER_ADDRESS = (HOST, PORT) = '', 8888
REQUEST_QUEUE_SIZE = 5
SLEEP_SECONDS = float(os.environ.get('LAB_SLEEP', 3))


def grim_reaper(signum, frame):
    pid, status = os.wait()
    print(
        'Child {pid} terminated with status {status}'
        '\n'.format(pid=pid, status=status)
    )


def handle_request(client_connection):
    request = client_connection.recv(1024)
    print(request.decode())
    http_response = b"""\
HTTP/1.1 200 OK

Hello, World!
"""
    client_connection.sendall(http_response)
    # sleep to allow the parent to loop over to 'accept' and block there
    time.sleep(SLEEP_SECONDS)


def serve_forever():
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen_socket.bind(SERVER_ADDRESS)
    listen_socket.listen(REQUEST_QUEUE_SIZE)
    print('Serving HTTP on port {port} ...'.format(port=PORT))

    signal.signal(signal.SIGCHLD, grim_reaper)

    while True:
        # On Python 2 this accept() failed with "[Errno 4] Interrupted system
        # call" when SIGCHLD arrived. Since Python 3.5 (PEP 475) the
        # interpreter runs the handler and retries accept() itself.
        client_connection, client_address = listen_socket.accept()
        pid = os.fork()
        if pid == 0:  # child
            listen_socket.close()  # close child copy
            handle_request(client_connection)
            client_connection.close()
            os._exit(0)
        else:  # parent
            client_connection.close()


if __name__ == '__main__':
    serve_forever()
