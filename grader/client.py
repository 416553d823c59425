"""The grader's HTTP client: raw sockets, every wait bounded.

curl is not used: with a Content-Length curl stops at the end of the body
even if the connection stays open, and the checks must see the connection
itself close (EOF).
"""

import errno
import re
import selectors
import socket
import struct
import time
from dataclasses import dataclass

from .i18n import N_

# Part 3's request and answer; a stage may declare others (stage.toml's
# request_path and answer), which its Server carries (sandbox.Launch).
REQUEST = b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\nUser-Agent: lab-check\r\n\r\n"
BODY = b"Hello, World!"
PATH = "/hello"


def question(server):
    """(request, request path, answer) the checks use with `server`."""
    return (getattr(server, "request", REQUEST), getattr(server, "request_path", PATH),
            getattr(server, "answer", BODY))
_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})")
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)


def close(sock):
    """Close a client socket without leaving the server's port in TIME_WAIT.

    When the server closed first, its side of the connection would linger in
    TIME_WAIT for a minute, and a server that does not set SO_REUSEADDR
    (socketserver's default) could not bind its port again for the next
    check. Closing with a reset (SO_LINGER 0) ends both sides at once.
    """
    try:
        sock.setblocking(False)
        if sock.recv(1, socket.MSG_PEEK) == b"":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def split_response(raw: bytes):
    """(head, body), or (None, None) if the head has not ended yet."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep, 1)   # from 1: a leading blank line is no separator
        if at != -1:
            return raw[:at], raw[at + len(sep):]
    return None, None


def response_complete(raw: bytes, answer: bytes = BODY) -> bool:
    """The whole response is here (its body, by Content-Length or by text)."""
    head, body = split_response(raw)
    if head is None:
        return False
    length = _CONTENT_LENGTH.search(head)
    if length:
        return len(body) >= int(length.group(1))
    return answer in body


_CHUNKED = re.compile(rb"^transfer-encoding:[^\r\n]*chunked", re.I | re.M)


def framed(raw: bytes) -> bool:
    """The response says where it ends (Content-Length, or chunked), so a
    client need not wait for the connection to close."""
    head, _ = split_response(raw)
    return head is not None and bool(_CONTENT_LENGTH.search(head) or _CHUNKED.search(head))


def status_code(raw: bytes):
    match = _STATUS.match(raw)
    return int(match.group(1)) if match else None


def starts_with_blank_line(raw: bytes) -> bool:
    stripped = raw.lstrip(b"\r\n")
    return stripped != raw and stripped.startswith(b"HTTP/")


@dataclass
class Exchange:
    """One request and what came back."""
    raw: bytes = b""
    complete: bool = False      # the whole response arrived
    closed: bool = False        # EOF or reset: the server closed the connection
    error: str = ""             # connect or socket error
    seconds: float = 0.0        # until complete (or until we gave up)
    gave_up: str = ""           # why we stopped waiting early (see read's give_up)
    path: str = PATH            # what was asked
    answer: bytes = BODY        # ... and what the body must contain


GIVE_UP_POLL = 0.1


def read(sock, exchange: Exchange, deadline: float, until_closed=False, give_up=None):
    """Read into exchange until complete (or closed, with until_closed) or
    the deadline. `give_up()`, asked every 0.1 s while nothing comes, may end
    the wait early: it returns why the answer cannot come (evidence that
    the server is stuck), or "" to go on waiting."""
    start = time.monotonic()
    while not (exchange.closed or (exchange.complete and not until_closed)):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(min(left, GIVE_UP_POLL) if give_up else left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            if give_up:
                exchange.gave_up = give_up() or ""
                if not exchange.gave_up:
                    continue
            break
        except ConnectionResetError:
            exchange.closed = True
            break
        except OSError as e:
            exchange.error = str(e)
            break
        if not chunk:
            exchange.closed = True
            break
        exchange.raw += chunk
        if not exchange.complete and response_complete(exchange.raw, exchange.answer):
            exchange.complete = True
            exchange.seconds = time.monotonic() - start
    return exchange


def fetch(server, timeout: float, until_closed=False, sock=None, give_up=None) -> Exchange:
    """GET /hello (the stage's request) on a new connection (or on `sock`,
    already connected); `give_up` as for read()."""
    start = time.monotonic()
    deadline = start + timeout
    request, path, answer = question(server)
    exchange = Exchange(path=path, answer=answer)
    own = sock is None
    try:
        if own and give_up:
            sock = _connect_unless(server, deadline, give_up, exchange)
        elif own:
            sock = server.connect(timeout)
        if sock is not None:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            sock.sendall(request)
            read(sock, exchange, deadline, until_closed, give_up)
    except socket.timeout:
        exchange.error = N_("timed out")
    except OSError as e:
        exchange.error = e.strerror or str(e)
    finally:
        if own and sock is not None:
            close(sock)
    if not exchange.complete:
        exchange.seconds = time.monotonic() - start
    return exchange


def _connect_unless(server, deadline, give_up, exchange):
    """Connect by the deadline, asking give_up() twice a second meanwhile (a
    full listen queue drops the SYN: connect() would wait it out)."""
    while True:
        try:
            return server.connect(max(0.01, min(0.5, deadline - time.monotonic())))
        except socket.timeout:
            if time.monotonic() >= deadline:
                raise
            exchange.gave_up = give_up() or ""
            if exchange.gave_up:
                exchange.error = N_("not connected")
                return None


def burst(server, count: int, timeout: float, resend: float = 0.05, give_up=None):
    """`count` clients connect at once, each sends GET /hello and reads its
    response; returns how many got a whole response within `timeout` (or
    before `give_up()`, asked twice a second, says the rest cannot come).

    A SYN that finds the listen backlog full is dropped, and the kernel would
    re-send it only after a second: a connection still pending after
    `resend` seconds is tried again on a new socket instead.
    """
    deadline = time.monotonic() + timeout
    request, _, answer = question(server)
    sel = selectors.DefaultSelector()
    connecting = {}             # socket -> when its connect started
    received = {}               # socket -> bytes so far
    spare = []
    answered = 0

    def start_connect():
        if not spare:
            spare.extend(server.new_sockets(32))
        sock = spare.pop()
        sock.setblocking(False)
        if sock.connect_ex(server.address) not in (0, errno.EINPROGRESS):
            sock.close()
            return
        connecting[sock] = time.monotonic()
        sel.register(sock, selectors.EVENT_WRITE)

    def drop(sock):
        sel.unregister(sock)
        connecting.pop(sock, None)
        received.pop(sock, None)
        close(sock)

    asked = time.monotonic()
    try:
        for _ in range(count):
            start_connect()
        while (connecting or received) and time.monotonic() < deadline:
            if give_up and time.monotonic() - asked > 0.5:
                asked = time.monotonic()
                if give_up():
                    break
            for key, events in sel.select(timeout=0.01):
                sock = key.fileobj
                if sock in connecting:
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        drop(sock)      # refused: the server is gone
                        continue
                    del connecting[sock]
                    try:
                        sock.send(request)     # small: fits the socket buffer
                    except OSError:
                        drop(sock)
                        continue
                    received[sock] = b""
                    sel.modify(sock, selectors.EVENT_READ)
                    continue
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                received[sock] += chunk
                if response_complete(received[sock], answer):
                    answered += 1
                    drop(sock)
                elif not chunk:
                    drop(sock)
            now = time.monotonic()
            for sock, started in list(connecting.items()):
                if now - started > resend:
                    drop(sock)
                    start_connect()
        return answered
    finally:
        sel.close()
        for sock in list(connecting) + list(received) + spare:
            close(sock)
