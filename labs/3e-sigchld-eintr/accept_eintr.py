#####################################################################
# accept_eintr.py - see the interrupted system call Python 3 hides  #
#                                                                   #
# Let's Build A Web Server, Part 3: on Python 2, webserver3e.py     #
# crashed with "[Errno 4] Interrupted system call": SIGCHLD arrived #
# while the parent was blocked in accept(). Since Python 3.5 (PEP   #
# 475) the interpreter runs the signal handler and calls accept()   #
# again by itself, so the error never reaches your code.            #
#                                                                   #
# This script calls the C library's accept() directly (ctypes), as  #
# Python 2 did, then Python's own socket.accept(), with the same    #
# SIGCHLD handler as webserver3e.py. It listens on a free port of   #
# 127.0.0.1 (not 8888) and ends by itself within a few seconds.     #
#                                                                   #
#     python3 accept_eintr.py                                       #
#     strace -e trace=accept,accept4,wait4 -e signal=SIGCHLD \      #
#         python3 accept_eintr.py                                   #
#####################################################################
import ctypes
import ctypes.util
import errno
import os
import signal
import socket
import sys
import time

libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',
                   use_errno=True)


def grim_reaper(signum, frame):
    pid, status = os.wait()
    print('  SIGCHLD handler: child {pid} terminated with status {status}'
          .format(pid=pid, status=status))


def too_slow(signum, frame):
    raise SystemExit('accept_eintr.py: gave up after 10 s (no EINTR seen)')


def child_exits_after(seconds, connect_to=None):
    """Fork a child that sleeps, optionally connects to us, and exits."""
    pid = os.fork()
    if pid == 0:
        time.sleep(seconds)
        if connect_to is not None:
            socket.create_connection(connect_to).close()
        os._exit(0)
    return pid


def main():
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.bind(('127.0.0.1', 0))
    listen_socket.listen(5)
    address = listen_socket.getsockname()

    # Python installs its handlers without SA_RESTART: a blocking system
    # call interrupted by the signal returns -1 with errno EINTR.
    signal.signal(signal.SIGCHLD, grim_reaper)
    signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(10)

    print('1. libc accept(), as Python 2 called it')
    pid = child_exits_after(1)
    print('  parent {me}: blocked in accept(); child {pid} exits in 1 s'
          .format(me=os.getpid(), pid=pid))
    ret = libc.accept(listen_socket.fileno(), None, None)
    err = ctypes.get_errno()
    print('  libc accept() returned {ret}, errno {err} ({name}: {text})'.format(
        ret=ret, err=err, name=errno.errorcode.get(err, '?'),
        text=os.strerror(err)))
    interrupted = ret == -1 and err == errno.EINTR
    if interrupted:
        print('  -> the SIGCHLD interrupted accept(). Python 2 turned this into\n'
              '     socket.error: [Errno 4] Interrupted system call')

    print('2. Python 3 socket.accept()')
    child_exits_after(1)
    child_exits_after(2, connect_to=address)
    print('  parent: blocked in accept(); one child exits in 1 s, '
          'another connects in 2 s')
    connection, peer = listen_socket.accept()
    print('  socket.accept() returned a connection from {peer}: the SIGCHLD '
          'at 1 s interrupted it\n  too, but Python ran the handler and '
          'retried accept() (PEP 475)'.format(peer=peer))
    connection.close()
    time.sleep(0.5)                 # the second child's SIGCHLD
    signal.alarm(0)
    return 0 if interrupted else 1


if __name__ == '__main__':
    sys.exit(main())
