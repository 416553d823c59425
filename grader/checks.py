"""The checks. Each is a small function whose docstring is its description.

A check gets a `Run` (see runner.py) that starts a fresh server for it, and
either returns (pass), or raises Fail (with what was seen and a hint that
teaches), or Skip (with the reason it does not apply). Every wait is bounded.
"""

import time

import psutil

from .client import REQUEST, close, burst, fetch, read, Exchange, status_code, starts_with_blank_line

CHECKS = {}


class Fail(Exception):
    def __init__(self, message, hint=""):
        super().__init__(message)
        self.message = message
        self.hint = hint


class Skip(Exception):
    def __init__(self, reason, credited=True):
        super().__init__(reason)
        self.reason = reason
        self.credited = credited   # False: skipped because another check failed


def check(check_id, bound, reproduce):
    """Register a check: its id, its time bound in seconds, and the shell
    commands that reproduce it by hand ({file}, {client3}, {port})."""
    def register(fn):
        fn.id = check_id
        fn.bound = bound
        fn.reproduce = reproduce.strip("\n")
        fn.description = " ".join(fn.__doc__.split())
        CHECKS[check_id] = fn
        return fn
    return register


HELLO = "curl -v --max-time 5 http://localhost:{port}/hello"
START = "python3 {file} &          # the server, in the background"
SILENT_CLIENT = ("python3 -c 'import socket, time; "
                 "s = socket.create_connection((\"localhost\", {port})); time.sleep(30)' &")


def describe(raw: bytes, limit=120) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    text = text.encode("unicode_escape").decode("ascii")
    return '"%s%s"' % (text, "..." if len(raw) > limit else "")


def expect_response(exchange: Exchange, what="the response"):
    """Fail unless the exchange carries a whole 200 response."""
    if exchange.complete and status_code(exchange.raw) == 200:
        return
    if exchange.error and not exchange.raw:
        raise Fail("no response to GET /hello: %s after %.1f s" % (exchange.error, exchange.seconds))
    if not exchange.raw:
        raise Fail("no response to GET /hello within %.1f s%s" % (
            exchange.seconds, " (the connection was closed without a byte)" if exchange.closed else ""))
    if starts_with_blank_line(exchange.raw):
        raise Fail(
            "the response starts with a blank line: %s" % describe(exchange.raw),
            'curl rejects it ("Received HTTP/0.9 when not allowed"): the status line must '
            'come first. The translated article writes b""" followed by a newline; write '
            'b"""\\ (a backslash right after the quotes) or put HTTP/1.1 200 OK on the '
            'first line of the string.')
    code = status_code(exchange.raw)
    if code is None:
        raise Fail("%s does not start with an HTTP/1.x status line: %s" % (what, describe(exchange.raw)),
                   'Start the response with "HTTP/1.1 200 OK", then a blank line, then the body.')
    if code != 200:
        raise Fail("expected status 200, not %d: %s" % (code, describe(exchange.raw)),
                   'Answer GET /hello with "HTTP/1.1 200 OK".')
    raise Fail('expected a body containing "Hello, World!" within %.1f s, got %s'
               % (exchange.seconds, describe(exchange.raw)),
               "Send a blank line after the status line, then Hello, World!")


# ---------------------------------------------------------------------------

@check("serves", bound=12, reproduce=START + "\n" + HELLO)
def serves(run):
    """GET /hello gets an HTTP/1.x 200 status line and a body containing
    "Hello, World!" within 5 s."""
    server = run.start()
    expect_response(fetch(server, timeout=5))


@check("closes", bound=12, reproduce=START + "\n" + HELLO + """
echo "curl exit status: $?   (28: curl timed out: the server never closed the connection)"
""")
def closes(run):
    """The server closes the connection within 1 s after its response, so curl
    terminates (judged by reading until EOF)."""
    server = run.start()
    sock = server.connect(5)
    try:
        exchange = fetch(server, timeout=5, sock=sock)
        expect_response(exchange)
        read(sock, exchange, time.monotonic() + 1.0, until_closed=True)
    finally:
        close(sock)
    if not exchange.closed:
        raise Fail(
            "the response arrived, but the connection was still open 1 s later (no EOF)",
            "curl waits for the server to close the connection. The kernel sends FIN only "
            "when every descriptor of the socket is closed: the parent must close its copy "
            "after fork() (stage 3d), and a child must close it before any sleep "
            "(stages 3b, 3c, 3e sleep with it open).")


@check("concurrent", bound=12, reproduce=START + "\n" + SILENT_CLIENT + "\n" + HELLO)
def concurrent(run):
    """While one client is connected and silent, a second client gets its full
    response within 3 s."""
    server = run.start()
    silent = server.connect(5)
    try:
        time.sleep(0.2)     # let the server take the silent client first
        exchange = fetch(server, timeout=3)
    finally:
        close(silent)
    if not exchange.complete:
        raise Fail(
            "while one client was connected and silent, a second client got %s within 3 s"
            % ("an incomplete response" if exchange.raw else "no response"),
            "An iterative server waits in recv() for the first client and serves nobody else "
            "meanwhile. Handle each client in its own process: fork() after accept() "
            "(stage 3c).")
    expect_response(exchange, "the second client's response")


@check("no-fd-leak", bound=30, reproduce="""
python3 {file} &  pid=$!
sleep 1; ls /proc/$pid/fd | wc -l                 # descriptors before
python3 {client3} --max-clients 100
sleep 1; ls /proc/$pid/fd | wc -l                 # ... and after 100 requests
""")
def no_fd_leak(run):
    """After 100 requests, each read until its body arrives, the listening
    process holds no more descriptors than before (±2)."""
    server = run.start()
    expect_response(fetch(server, timeout=3))       # warm up: lazy imports
    before = server.num_fds()
    for n in range(100):
        exchange = fetch(server, timeout=3)
        if not exchange.complete:
            raise Fail("request %d of 100 got %s within 3 s" % (
                n + 1, "an incomplete response" if exchange.raw else "no response"),
                "The server must go on answering, one request after another. Does it "
                "sleep after each answer (stage 3b)?")
    deadline = time.monotonic() + 1.0
    after = server.num_fds()
    while after > before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        after = server.num_fds()
    if after > before + 2:
        raise Fail(
            "the server held %d descriptors before 100 requests and %d after" % (before, after),
            "Every accepted connection is a descriptor. After fork() the parent must close "
            "its copy of the client socket (the child has its own): stage 3d keeps them all, "
            "until accept() fails with Too many open files.")


@check("fd-limit", bound=30, reproduce="""
(ulimit -Sn 256; exec python3 {file}) &          # 256 descriptors, for the server only
python3 {client3} --max-clients 300
""" + HELLO)
def fd_limit(run):
    """Started under `ulimit -n 256`, the server survives 300 simultaneous client
    connections and goes on serving."""
    server = run.start(nofile=256)
    clients = []
    refused = ""
    try:
        while len(clients) < 300:
            try:
                sock = server.connect_eagerly(budget=2)
                clients.append(sock)
                sock.sendall(REQUEST)
            except OSError as e:
                refused = e.strerror or "timed out"
                break
        opened = len(clients)
        time.sleep(0.3)
        if not server.alive():
            raise Fail(
                "the server died after %d of 300 connections (%s)%s"
                % (opened, server.exit_description(), run.last_error()),
                "Under ulimit -n 256 every descriptor counts: the parent must close each "
                "client socket after fork() (stage 3d keeps them, and accept() fails with "
                "[Errno 24] Too many open files).")
        exchange = fetch(server, timeout=5)
    finally:
        for sock in clients:
            close(sock)
    if not exchange.complete:
        raise Fail(
            "with %d connections open%s, a new request got %s within 5 s"
            % (opened, " (connection %d: %s)" % (opened + 1, refused) if refused else "",
               "an incomplete response" if exchange.raw else "no response"),
            "The server must go on accepting and answering while many clients are connected.")
    expect_response(exchange)


# How long after accept() a child may take to show. A fork takes a few ms,
# but far longer on a loaded machine: a skip here would credit the check.
FORK_GRACE = 1.5


def connect_silent_client(server):
    """Connect and send nothing: (socket, the child process that took the
    connection, or None if the server accepted it without a new child)."""
    before = {p.pid for p in server.children()}
    sock = server.connect(5)
    accepted = None
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for proc in server.children():
            if proc.pid not in before:
                return sock, proc
        now = time.monotonic()
        if accepted is None and server.waiting_to_be_accepted() == 0:
            accepted = now
        if accepted is not None and now - accepted > FORK_GRACE:
            break       # accepted, and no child came
        time.sleep(0.005)
    return sock, None


def state(proc):
    """"running", "zombie" (exited, not reaped) or "gone" (reaped)."""
    try:
        return "zombie" if proc.status() == psutil.STATUS_ZOMBIE else "running"
    except psutil.NoSuchProcess:
        return "gone"


NO_CHILD = ("the server answered without a child process (no fork per "
            "connection): there is no child to %s")


@check("reaps", bound=20, reproduce="""
python3 {file} &  pid=$!
""" + HELLO + """
sleep 2; ps -o pid,ppid,stat,cmd --ppid $pid     # Z / <defunct>: exited, never reaped
""")
def reaps(run):
    """The child that served a request is reaped within 1 s of exiting (waiting
    up to 10 s for it to exit)."""
    server = run.start()
    sock, child = connect_silent_client(server)
    try:
        expect_response(fetch(server, timeout=5, sock=sock))
    finally:
        close(sock)
    if child is None:
        raise Skip(NO_CHILD % "reap")
    deadline = time.monotonic() + 10
    while state(child) == "running":
        if time.monotonic() > deadline:
            raise Fail(
                "the child (PID %d) that served the request was still running 10 s after "
                "its response" % child.pid,
                "A child should exit as soon as it has answered; a long sleep in the child "
                "(stage 3c sleeps 60 s) keeps it, and its client, waiting.")
        time.sleep(0.01)
    exited = time.monotonic()
    while state(child) == "zombie" and time.monotonic() < exited + 1.0:
        time.sleep(0.01)
    if state(child) == "zombie":
        raise Fail(
            "the child (PID %d) exited but was still a zombie 1 s later: nobody called "
            "wait() for it" % child.pid,
            "An exited child stays a zombie (<defunct> in ps; even kill -9 cannot remove "
            "it) until its parent collects its status. Install a SIGCHLD handler that "
            "calls os.wait() (stage 3e).")


@check("reaps-burst", bound=40, reproduce="""
python3 {file} &  pid=$!
python3 {client3} --max-clients 128
sleep 2; ps -o pid,stat,cmd --ppid $pid | grep -c defunct   # zombies left
""")
def reaps_burst(run):
    """128 simultaneous clients leave no zombie children 2 s after the last child
    exited."""
    server = run.start()
    sock, child = connect_silent_client(server)
    try:
        expect_response(fetch(server, timeout=5, sock=sock))
    finally:
        close(sock)
    if child is None:
        second = fetch(server, timeout=5)
        if not second.complete:
            raise Fail(
                "after its first answer the server did not answer another request within "
                "5 s: 128 clients at once would wait in line",
                "An iterative server that sleeps after each answer (stage 3b) serves one "
                "client a minute. Fork a child per client (stage 3c).")
        raise Skip(NO_CHILD % "reap")
    answered = burst(server, 128, timeout=10)
    if answered < 128:
        raise Fail("only %d of 128 simultaneous clients were answered within 10 s" % answered,
                   "Every client must get its answer: the parent should go straight back "
                   "to accept() after fork().")
    deadline = time.monotonic() + 10
    while any(state(p) == "running" for p in server.children()):
        if time.monotonic() > deadline:
            running = sum(state(p) == "running" for p in server.children())
            raise Fail("%d children were still running 10 s after 128 simultaneous clients "
                       "had their answers" % running,
                       "A child should exit as soon as it has answered (stage 3c's children "
                       "sleep 60 s).")
        time.sleep(0.02)
    # No new child can come now: once no zombie is left, none will be.
    deadline = time.monotonic() + 2
    zombies = [p.pid for p in server.children() if state(p) == "zombie"]
    while zombies and time.monotonic() < deadline:
        time.sleep(0.05)
        zombies = [p.pid for p in server.children() if state(p) == "zombie"]
    if zombies:
        raise Fail(
            "after 128 simultaneous clients, %d children were still zombies 2 s after "
            "the last one exited" % len(zombies),
            "Standard signals are not queued: when many children exit at once, several "
            "SIGCHLD collapse into one handler call, and one os.wait() per call leaves the "
            "rest as zombies. Loop over os.waitpid(-1, os.WNOHANG) until it returns 0 "
            "(stage 3g).")


@check("survives-child-kill", bound=15, reproduce="""
python3 {file} &  pid=$!
""" + SILENT_CLIENT + """
sleep 1; ps -o pid,cmd --ppid $pid              # the child serving that client
kill -9 CHILD_PID
""" + HELLO)
def survives_child_kill(run):
    """`kill -9` of a child in mid-request leaves the server alive and serving."""
    server = run.start()
    sock, child = connect_silent_client(server)
    try:
        if child is None:
            raise Skip(NO_CHILD % "kill")
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.3)
    finally:
        close(sock)
    if not server.alive():
        raise Fail("the server died when its child was killed (%s)%s"
                   % (server.exit_description(), run.last_error()),
                   "A child's death sends SIGCHLD to the parent; the handler must not fail "
                   "(catch ChildProcessError from waitpid when nothing is left).")
    exchange = fetch(server, timeout=5)
    if not exchange.complete:
        raise Fail("after its child was killed, the server did not answer a new request "
                   "within 5 s",
                   "The parent must go on accepting whatever happens to a child.")
    expect_response(exchange)
