#####################################################################
# Test client - client3.py                                          #
#                                                                   #
# Let's Build A Web Server, Part 3, in Python 3                     #
#                                                                   #
# Forks --max-clients processes; each opens --max-conns connections #
# to the server, sends GET /hello on each, and keeps them open      #
# until it has opened them all.                                     #
#                                                                   #
# The article's version called os._exit(0) inside the inner loop,   #
# so every client exited after its first connection and            #
# --max-conns did nothing. Here it works, and its default is 1:     #
# that is how the article's own runs behaved.                       #
#####################################################################
import argparse
import os
import socket
import sys

SERVER_ADDRESS = 'localhost', 8888
REQUEST = b"""\
GET /hello HTTP/1.1
Host: localhost:8888

"""
MAX_CLIENTS_LIMIT = 2000  # each client is a process: keep forks bounded


def run_client(address, max_conns):
    socks = []
    for connection_num in range(max_conns):
        try:
            sock = socket.create_connection(address, timeout=10)
            sock.sendall(REQUEST)
        except OSError as e:
            print('connection {n}: {err}'.format(n=connection_num, err=e),
                  file=sys.stderr)
            return 1
        socks.append(sock)
        print(connection_num)
    return 0


def main(max_clients, max_conns, address):
    children = []
    for client_num in range(max_clients):
        try:
            pid = os.fork()
        except OSError as e:
            print('fork failed after {n} clients: {err}'.format(
                n=client_num, err=e), file=sys.stderr)
            break
        if pid == 0:  # child: one client
            sys.stdout.flush()
            os._exit(run_client(address, max_conns))
        children.append(pid)

    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    if failed:
        print('{f} of {n} clients failed'.format(f=failed, n=len(children)),
              file=sys.stderr)
    return 1 if failed else 0


def positive(limit):
    def parse(text):
        value = int(text)
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(
                'must be between 1 and {limit}'.format(limit=limit))
        return value
    return parse


if __name__ == '__main__':
    parser = argparse.ArgumentParser(
        description='Test client for LSBAWS.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        '--max-conns',
        type=positive(1024),
        default=1,
        help='Maximum number of connections per client.'
    )
    parser.add_argument(
        '--max-clients',
        type=positive(MAX_CLIENTS_LIMIT),
        default=1,
        help='Maximum number of clients.'
    )
    parser.add_argument(
        '--port',
        type=positive(65535),
        default=SERVER_ADDRESS[1],
        help='Server port.'
    )
    args = parser.parse_args()
    sys.exit(main(args.max_clients, args.max_conns,
                  (SERVER_ADDRESS[0], args.port)))
