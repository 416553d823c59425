"""The checks. Each is a small function whose docstring is its description,
declared with its time bound, the checks it depends on and the shell
commands that reproduce it by hand (check50's `@check(dependency=...)`).

A check gets a `Run` (see runner.py) that starts a fresh server for it, and
either returns (pass), or raises Fail (with what was seen and a hint that
teaches), or Skip (with the reason it does not apply). Every wait is bounded,
and no verdict comes from a wait running out where evidence can be had: who
serves a connection and what a child is doing are read from /proc
(observe.py).
"""

import json
import re
import signal
import time

import psutil

from . import observe
from .processes import RUNNING, ZOMBIE, count_children, state
from .client import (question, close, burst, fetch, framed, read, Exchange, status_code,
                     split_response, starts_with_blank_line)
from .i18n import _, N_, ngettext

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


def check(check_id, bound, reproduce, depends=("serves",), solo=False, everywhere=True,
          unmet=None):
    """Register a check: its id, its time bound in seconds, the checks that
    must pass before it runs (it is skipped, with the reason, when one did
    not), and the shell commands that reproduce it by hand ({file},
    {client3}, {port}). `solo`: it loads the machine (hundreds of
    connections or forks), so no other solo check runs beside it.
    `everywhere`: it runs at a stage that does not list its checks (Part
    3's); False: only where a stage.toml names it. `unmet`: what its
    failure means, in the words a skipped dependent gives as its reason
    (%s: the stage's request path); else the dependent names it."""
    def register(fn):
        if check_id in CHECKS:
            raise ValueError("two checks are called %r" % check_id)
        fn.id = check_id
        fn.bound = bound
        fn.depends = tuple(depends)
        fn.solo = solo
        fn.everywhere = everywhere
        fn.unmet = unmet
        fn.reproduce = reproduce.strip("\n")
        fn.description = " ".join(fn.__doc__.split())
        CHECKS[check_id] = fn
        return fn
    return register


# {args}: the stage's arguments after the file; {path}: its request path
HELLO = "curl -v --max-time 5 http://localhost:{port}{path}"
START = "python3 {file}{args} &          # the server, in the background"
SILENT_CLIENT = ("python3 -c 'import socket, time; "
                 "s = socket.create_connection((\"localhost\", {port})); time.sleep(30)' &")


def describe(raw: bytes, limit=120) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    text = text.encode("unicode_escape").decode("ascii")
    return '"%s%s"' % (text, "..." if len(raw) > limit else "")


def expect_response(exchange: Exchange, what=N_("the response")):
    """Fail unless the exchange carries a whole 200 response."""
    if exchange.complete and status_code(exchange.raw) == 200:
        return
    if exchange.error and not exchange.raw:
        raise Fail(_("no response to GET %s: %s after %.1f s") % (exchange.path, _(exchange.error),
                                                                  exchange.seconds))
    if not exchange.raw:
        raise Fail(_("no response to GET %s within %.1f s%s") % (
            exchange.path, exchange.seconds,
            _(" (the connection was closed without a byte)") if exchange.closed else ""))
    if starts_with_blank_line(exchange.raw):
        raise Fail(
            _("the response starts with a blank line: %s") % describe(exchange.raw),
            _('curl rejects it ("Received HTTP/0.9 when not allowed"): the status line must '
              'come first. The translated article writes b""" followed by a newline; write '
              'b"""\\ (a backslash right after the quotes) or put HTTP/1.1 200 OK on the '
              'first line of the string.'))
    code = status_code(exchange.raw)
    if code is None:
        raise Fail(_("%s does not start with an HTTP/1.x status line: %s") % (_(what), describe(exchange.raw)),
                   _('Start the response with "HTTP/1.1 200 OK", then a blank line, then the body.'))
    if code != 200:
        raise Fail(_("expected status 200, not %d: %s") % (code, describe(exchange.raw)),
                   _('Answer GET %s with "HTTP/1.1 200 OK".') % exchange.path)
    answer = exchange.answer.decode("utf-8", "replace")
    raise Fail(_('expected a body containing "%s" within %.1f s, got %s')
               % (answer, exchange.seconds, describe(exchange.raw)),
               _("Send a blank line after the status line, then %s") % answer)


# ---------------------------------------------------------------------------

@check("serves", bound=12, reproduce=START + "\n" + HELLO, depends=(),
       unmet=N_("the server does not serve GET %s"))
def serves(run):
    """GET /hello gets an HTTP/1.x 200 status line and a body containing
    "Hello, World!" within 5 s."""
    server = run.start()
    expect_response(fetch(server, timeout=5))


@check("closes", bound=12, reproduce=START + "\n" + HELLO + """
echo "curl exit status: $?   (28: curl timed out: the server never closed the connection)"
""")
def closes(run):
    """The client can tell where the response ends: the server closes the
    connection within 1 s after its response (judged by reading until EOF;
    while whoever holds it is still busy, up to 5 s more), or frames the
    response (Content-Length, or chunked) and may keep the connection open,
    as HTTP/1.1 allows."""
    # Why both: what stage 3d teaches is that a client reading an unframed
    # response waits for EOF, which never comes while any copy of the
    # socket is open. A framed response ends where its length says, so a
    # server that keeps the connection alive after one (nginx, gunicorn
    # with keep-alive) leaves no client waiting.
    server = run.start()
    sock = server.connect(5)
    try:
        exchange = fetch(server, timeout=5, sock=sock)
        expect_response(exchange)
        if framed(exchange.raw):
            return
        # EOF within 1 s; past that, only while a holder of the connection
        # is still busy (a loaded machine), never past 6 s.
        one_second = time.monotonic() + 1.0
        read(sock, exchange, one_second + 5, until_closed=True,
             give_up=lambda: "settled" if time.monotonic() >= one_second
             and connection_settled(server, sock) else "")
    finally:
        close(sock)
    if not exchange.closed:
        raise Fail(
            _("the response arrived, but the connection was still open 1 s later (no EOF), and "
              "the response carries no Content-Length: the client cannot tell it has ended"),
            _("curl waits for the server to close the connection. The kernel sends FIN only "
              "when every descriptor of the socket is closed: the parent must close its copy "
              "after fork() (stage 3d), and whoever serves the client must close it before "
              "any sleep (3b's iterative server, which has no child, sleeps with it open; so do "
              "the children of 3c and 3e). Or "
              "send a Content-Length header, so the client knows where the body ends."))


@check("concurrent", bound=25, reproduce=START + "\n" + SILENT_CLIENT + "\n" + HELLO)
def concurrent(run):
    """While one client is connected and silent, a second client gets its full
    response (within 10 s; at once is the rule, and a server seen unable to
    answer, blocked on the first client, fails at once)."""
    server = run.start()
    silent, holder, _before = take_silent_connection(run, server)
    try:
        exchange = fetch(server, timeout=10, give_up=lambda: stuck(server, holder))
    finally:
        close(silent)
    if not exchange.complete:
        seen = (_("while one client was connected and silent, a second client got %s")
                % (_("an incomplete response") if exchange.raw else _("no response")))
        why = exchange.gave_up
        if why and getattr(why, "kind", "") == "wait":
            raise Fail(seen + _(": ") + why.replace("a child that", "the child that"), _(WAIT_HINT))
        raise Fail(seen + (_(": ") + why if why else _(" within 10 s")),
                   _("An iterative server waits in recv() for the first client and serves "
                     "nobody else meanwhile. Handle each client in its own process: fork() "
                     "after accept() (stage 3c)."))
    expect_response(exchange, N_("the second client's response"))


def stuck(server, silent=None):
    """Why the listening process cannot answer a new client now, from what it
    is blocked in; "" while that is not certain. Only a single-threaded
    process is judged: blocked in wait() (os.waitpid without WNOHANG never
    returns while the child it waits for runs), asleep for seconds yet, or
    reading from the silent client, which will never send."""
    threads = observe.threads(server.pid)
    if len(threads) != 1 or not threads[0].blocked:
        return ""
    call = threads[0].syscall
    if call in observe.WAITS:
        return Why("wait", _("the server was blocked in %s(), waiting for a child that was "
                             "still serving") % call)
    if call in observe.SLEEPS:
        return asleep(server, 2) or ""
    if call in observe.READS and silent is not None and silent.inode and threads[0].args \
            and threads[0].args[0] in observe.socket_fds(server.pid, silent.inode):
        return Why("read", _("the server was reading from the silent client"))
    return ""


class Why(str):
    """Why a server cannot answer (from stuck()): the words, in the
    learner's language, and what it is blocked in: wait, sleep or read."""

    def __new__(cls, kind, words):
        why = super().__new__(cls, words)
        why.kind = kind
        return why


WAIT_HINT = N_("Waiting for a child right after fork() (os.waitpid(pid, 0), os.wait()) serves "
             "one client at a time again. Let the parent go straight back to accept(), and "
             "reap children in a SIGCHLD handler (stage 3e).")


def hint_for(why, otherwise):
    """The hint for a server seen stuck (`why`, from stuck()), or `otherwise`."""
    kind = getattr(why, "kind", "")
    if kind == "wait":
        return _(WAIT_HINT)
    if kind == "sleep":
        return _("An iterative server that sleeps after each answer (stage 3b) leaves every "
                 "other client waiting in the listen queue. Fork a child per client (stage 3c).")
    return otherwise


def asleep(server, longer_than):
    """Words for a listening process that sleeps (time.sleep) for more than
    `longer_than` seconds yet, so cannot answer anyone meanwhile; or None."""
    threads = observe.threads(server.pid)
    if len(threads) != 1 or threads[0].syscall not in observe.SLEEPS:
        return None
    left = observe.sleep_left(server.pid)
    if left is None or left <= longer_than:
        return None
    return Why("sleep", _("the server is asleep (time.sleep), %.0f s left") % left)


@check("no-fd-leak", bound=30, reproduce="""
python3 {file}{args} &  pid=$!
python3 {client3} --max-clients 20
sleep 1; ls /proc/$pid/fd | wc -l                 # descriptors after 20 requests
python3 {client3} --max-clients 80
sleep 1; ls /proc/$pid/fd | wc -l                 # ... and after 100
""")
def no_fd_leak(run):
    """Requests do not cost the listening process descriptors: between its
    20th and its 100th request (each read until its body arrives) it gains
    at most 2 client connections, and no more other descriptors than its
    new worker processes account for."""
    # Why not from the first request: a server may still be starting its
    # workers then (gunicorn's arbiter opens a file for each), which is no
    # leak. Client connections are counted apart from other descriptors
    # because a supervisor may keep a pipe or a file per worker, however
    # late the workers start, but has no reason to keep a client's socket.
    server = run.start()

    def requests(first, last):
        for n in range(first, last + 1):
            exchange = fetch(server, timeout=5, give_up=lambda: stuck(server))
            if not exchange.complete:
                raise Fail(_("request %d of 100 got %s%s") % (
                    n, _("an incomplete response") if exchange.raw else _("no response"),
                    _(": ") + exchange.gave_up if exchange.gave_up else _(" within 5 s")),
                    hint_for(exchange.gave_up,
                             _("The server must go on answering, one request after another. "
                               "Does it sleep after each answer (stage 3b)?")))

    def sample():
        """(its descriptors by kind, its running children)"""
        return observe.descriptors(server.pid), count_children(server.process)[1]

    def gained(before, after):
        """(client connections, other descriptors) gained beyond what is allowed."""
        (held_before, workers_before), (held_after, workers_after) = before, after
        connections = held_after["connection"] - held_before["connection"]
        others = (sum(held_after.values()) - sum(held_before.values())) - connections
        # a supervisor's bookkeeping: up to a pipe per standard stream of each
        # worker it started (subprocess.Popen with stdin, stdout, stderr)
        per_worker = 3 * max(0, workers_after - workers_before)
        return connections - 2, others - 2 - per_worker

    requests(1, 20)
    before = sample()
    requests(21, 100)
    # A connection the client has closed may take the server a moment to close.
    after = last_look(server, time.monotonic() + 1.0, sample,
                      lambda seen: max(gained(before, seen)) <= 0)
    connections, others = gained(before, after)
    held = (sum(before[0].values()), sum(after[0].values()))
    if connections > 0:
        raise Fail(
            _("the server held %d descriptors after 20 requests and %d after 100") % held,
            _("Every accepted connection is a descriptor. After fork() the parent must close "
              "its copy of the client socket (the child has its own): stage 3d keeps them all, "
              "until accept() fails with Too many open files."))
    if others > 0:
        kinds = after[0] - before[0]
        kinds.pop("connection", None)
        raise Fail(
            _("the server held %d descriptors after 20 requests and %d after 100") % held,
            _("The new descriptors are not client connections: %s. Something opened for each "
              "request is never closed; `ls -l /proc/PID/fd` shows what they are.")
            % _(", ").join("%d %s" % (n, _(DESCRIPTOR_KINDS.get(kind, kind)))
                        for kind, n in sorted(kinds.items()) if n > 0))


# The kinds observe.descriptors counts, as a hint names them.
DESCRIPTOR_KINDS = {"listening": N_("listening sockets"), "socket": N_("other sockets"),
                    "pipe": N_("pipes"), "file": N_("files"), "other": N_("others")}


@check("fd-limit", bound=40, solo=True, reproduce="""
(ulimit -Sn 256; exec python3 {file}{args}) &          # 256 descriptors, for the server only
python3 {client3} --max-clients 300
""" + HELLO)
def fd_limit(run):
    """Started under `ulimit -n 256`, the server survives 300 simultaneous client
    connections and goes on serving (a new request answered within 15 s)."""
    server = run.start(nofile=256)
    clients = []
    refused = ""
    try:
        while len(clients) < 300:
            try:
                sock = server.connect_eagerly(budget=2)
                clients.append(sock)
                sock.sendall(question(server)[0])
            except OSError as e:
                refused = e.strerror or _("timed out")
                break
        opened = len(clients)
        time.sleep(0.3)
        sleeping = asleep(server, 5)
        if sleeping:
            raise Fail(_("with %d connections open%s, %s: a new request cannot be answered")
                       % (opened, _(" (connection %d: %s)") % (opened + 1, refused) if refused
                          else "", sleeping),
                       hint_for(sleeping, ""))
        if not server.alive():
            raise Fail(
                _("the server died after %d of 300 connections (%s)%s")
                % (opened, server.exit_description(), run.last_error()),
                _("Under ulimit -n 256 every descriptor counts: the parent must close each "
                  "client socket after fork() (stage 3d keeps them, and accept() fails with "
                  "[Errno 24] Too many open files)."))
        exchange = fetch(server, timeout=15, give_up=lambda: stuck(server))
    finally:
        for sock in clients:
            close(sock)
    if not exchange.complete:
        raise Fail(
            _("with %d connections open%s, a new request got %s%s")
            % (opened, _(" (connection %d: %s)") % (opened + 1, refused) if refused else "",
               _("an incomplete response") if exchange.raw else _("no response"),
               _(": ") + exchange.gave_up if exchange.gave_up else _(" within 15 s")),
            hint_for(exchange.gave_up, _("The server must go on accepting and answering while "
                                         "many clients are connected.")))
    expect_response(exchange)



# -- who serves a connection, and what became of a child ------------------

ACCEPT_BOUND = 5          # for the server to accept a connection
EVIDENCE_BOUND = 10       # for it to show who serves it


def take_silent_connection(run, server):
    """Connect and send nothing; (socket, observe.Holder or None, the pids
    of the server's processes before). The holder is found on evidence:
    a child or worker holding the connection, or the listening process
    serving it itself (see observe.find_holder)."""
    before = {p.pid for p in observe.descendants(server.process)}
    sock = server.connect(5)
    client_port = sock.getsockname()[1]
    started = time.monotonic()
    inode = 0
    while server.alive():
        now = time.monotonic()
        if not inode:
            inode = observe.accepted_inode(server.pid, server.port, client_port)
            if not inode and now - started > ACCEPT_BOUND:
                break
        if inode:
            holder = observe.find_holder(server.process, inode, before, server.port)
            if holder:
                run.saw(holder, len(observe.threads(server.pid)))
                return sock, holder, before
            if now - started > EVIDENCE_BOUND:
                break
        time.sleep(0.003)
    return sock, None, before


def who_served_one(run, server):
    """One request answered on a connection watched from the start: who
    served it (a child, a worker, or the server itself), on evidence."""
    sock, holder, before = take_silent_connection(run, server)
    try:
        expect_response(fetch(server, timeout=5, sock=sock))
    finally:
        close(sock)
    holder = settle(run, server, holder, before)
    if holder is None:
        raise unknown_holder()
    return holder


def settle(run, server, holder, before):
    """After the exchange: a server that read the request itself and only
    then forked shows its child now (running, or a zombie)."""
    if holder is not None and holder.kind != "self":
        return holder
    new = [p for p in server.children() if p.pid not in before]
    if new:
        holder = observe.Holder("child", new[0], N_("a child appeared once the request came"))
        run.saw(holder, 1)
    return holder


def unknown_holder():
    return Fail(_("the server accepted the connection, but within %d s neither a child held it "
                  "nor did the server itself wait on it") % EVIDENCE_BOUND,
                _("Serve each accepted connection at once: fork() a child for it (stage 3c), "
                  "or read from it in the server itself."))


def doing(proc, port):
    """What a running child is doing, as (kind, words): "accept" (back in
    accept() on the listening socket), "sleep" (seconds left, when they can
    be read), "wait", "serving" or "running"."""
    pid = proc.pid
    threads = observe.threads(pid)
    calls = {t.syscall for t in threads if t.blocked}
    if observe.listening_fds(pid, port) and calls & (observe.ACCEPTS | observe.POLLS):
        return "accept", _("it is back in accept() on its copy of the listening socket")
    if calls & observe.SLEEPS:
        left = observe.sleep_left(pid)
        return "sleep", (_("it is sleeping (time.sleep), %.0f s left") % left if left is not None
                         else _("it is sleeping (time.sleep)"))
    if calls & observe.WAITS:
        return "wait", _("it is blocked in wait() for a child of its own")
    if calls & observe.READS:
        return "serving", _("it is waiting to read from a client")
    return "running", _("it is running")


HINTS = {
    "accept": N_("A child that returns from handling its client runs the parent's loop: it "
               "calls accept() on its copy of the listening socket and serves other clients "
               "as a second server. Close the listening socket in the child "
               "(listen_socket.close()) and end it with os._exit(0) after serving."),
    "sleep": N_("A child should exit as soon as it has answered; a long sleep in the child "
              "(stage 3c sleeps 60 s) keeps it, and its client, waiting."),
    "wait": N_("The child waits for processes of its own: it should serve its client and "
             "exit with os._exit(0)."),
    "serving": N_("The child is still waiting to read from a client after answering: serve "
                "one request, close the connection and exit with os._exit(0)."),
    "running": N_("A child should exit with os._exit(0) as soon as it has answered."),
}


def connection_settled(server, sock):
    """Whether waiting longer cannot bring the EOF of the connection `sock`:
    the server's end is still open (ESTABLISHED) and every process holding
    it is parked. Once the last holder has closed it, the end has left
    ESTABLISHED and the EOF is on its way: not settled, read on."""
    try:
        inode = observe.accepted_inode(server.pid, server.port, sock.getsockname()[1])
    except OSError:
        return False
    if not inode:
        return False
    holders = [p for p in [server.process] + observe.descendants(server.process)
               if observe.socket_fds(p.pid, inode)]
    return bool(holders) and all(observe.parked(p.pid) for p in holders)


def last_look(server, deadline, look, enough, interval=0.05):
    """What `look()` sees once `enough(seen)` holds, or once the listening
    process has had its chance (had_its_chance): then a look taken after
    that sighting, so nothing it did just before is missed."""
    seen = look()
    while not enough(seen):
        if had_its_chance(server, deadline):
            return look()
        time.sleep(interval)
        seen = look()
    return seen


def had_its_chance(server, deadline, longest=5.0):
    """Whether the listening process has had its chance to act on what
    happened before `deadline` (reap a child, close a connection):
    `deadline` has passed and it is seen parked (so a SIGCHLD sent before
    has been handled), or, on a machine too loaded to let it run, `longest`
    seconds more have passed."""
    now = time.monotonic()
    return now >= deadline and (observe.parked(server.pid) or now >= deadline + longest)


def wait_for_exit(children, port, bound):
    """Wait (bounded) until none of `children` runs. Returns (running, kind,
    words): what still runs, and what the first of them is doing. Ends early
    on evidence that waiting longer cannot help: a child back in accept(),
    or one whose sleep outlasts the bound."""
    deadline = time.monotonic() + bound
    while True:
        running = [p for p in children if state(p) == RUNNING]
        if not running:
            return [], None, None
        kind, words = doing(running[0], port)
        if kind == "accept":
            return running, kind, words
        if kind == "sleep":
            left = observe.sleep_left(running[0].pid)
            if left is not None and time.monotonic() + left > deadline + 1:
                return running, kind, words
        if time.monotonic() > deadline:
            return running, kind, words
        time.sleep(0.02)


def traceback_line(output: str):
    """The last line of the last traceback the server's processes printed."""
    if "Traceback (most recent call last)" not in output:
        return None
    tail = output[output.rindex("Traceback (most recent call last)"):].splitlines()
    for line in tail[1:]:
        if line and not line.startswith((" ", "\t")):
            return line.strip()
    return tail[-1].strip()


NO_CHILD = N_("the listening process served the connection itself (%s): there is no child "
            "to %s")


# ---------------------------------------------------------------------------

def see_it(run):
    return (_("See it happen: lab trace %s --svg draws each child, each signal and each reap.")
            % run.sandbox.submission.name)


def handler_ran(run, server):
    """Whether the server has a SIGCHLD handler, and whether it ran."""
    if not observe.catches(server.pid, signal.SIGCHLD):
        return _("the server has no SIGCHLD handler")
    counts = run.recorded()
    if counts is None:
        return _("the server has a SIGCHLD handler")
    runs = counts["handler_runs"]
    if not runs:
        return _("the server has a SIGCHLD handler, but it never ran")
    return ngettext("the server has a SIGCHLD handler, and it ran %d time",
                    "the server has a SIGCHLD handler, and it ran %d times", runs) % runs


def reaping_counts(run, zombies, handler):
    """What the server did with its exited children, from the hook's
    records: "130 exited; its SIGCHLD handler ran 42 times and reaped 42"."""
    counts = run.recorded()
    if not counts or not counts["forked"]:
        return _("it has a SIGCHLD handler") if handler else _("it has no SIGCHLD handler")
    exited = max(counts["forked"], counts["reaped"] + zombies)
    if not handler:
        return _("%(exited)d exited, no SIGCHLD handler ran, %(reaped)d were reaped") % {
            "exited": exited, "reaped": counts["reaped"]}
    runs, reaped = counts["handler_runs"], counts["reaped"]
    said = ngettext("%(exited)d exited; its SIGCHLD handler ran %(runs)d time and reaped "
                    "%(reaped)d", "%(exited)d exited; its SIGCHLD handler ran %(runs)d times "
                    "and reaped %(reaped)d", runs) % {"exited": exited, "runs": runs,
                                                      "reaped": reaped}
    return said + (_(", one child each time") if reaped == runs else "")


@check("reaps", bound=20, reproduce="""
python3 {file}{args} &  pid=$!
""" + HELLO + """
sleep 2; ps -o pid,ppid,stat,cmd --ppid $pid     # Z / <defunct>: exited, never reaped
""")
def reaps(run):
    """The child that served a request exits cleanly (no traceback) and is
    reaped within 1 s of exiting (waiting up to 10 s for it to exit); a
    pre-forked worker that dies is reaped within 1 s. A server too busy to
    run then has until it waits again (5 s more at most)."""
    server = run.start(recorded=True)
    holder = who_served_one(run, server)
    if holder.kind == "self":
        raise Skip(_(NO_CHILD) % (_(holder.evidence), _("reap")))
    child = holder.process
    if holder.kind == "worker":
        # Workers live on; judge the parent by a worker's death instead.
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    running, kind, words = wait_for_exit([child], server.port, 10)
    if running:
        raise Fail(_("the child (PID %d) that served the request was still running %safter "
                     "its response: %s") % (child.pid, _("10 s ") if kind not in ("accept", "sleep")
                                            else "", words), _(HINTS[kind]))
    exited = time.monotonic()
    if last_look(server, exited + 1.0, lambda: state(child), lambda seen: seen != ZOMBIE,
                 interval=0.01) == ZOMBIE:
        raise Fail(
            _("the %s (PID %d) exited but was still a zombie 1 s later: nobody called "
              "wait() for it (%s)") % (_("child") if holder.kind == "child" else _("worker, killed,"),
                                       child.pid, handler_ran(run, server)),
            _("An exited child stays a zombie (<defunct> in ps; even kill -9 cannot remove "
              "it) until its parent collects its status. Install a SIGCHLD handler that "
              "calls os.wait() (stage 3e)."))
    died = traceback_line(server.output.text())
    if holder.kind == "child" and died:
        raise Fail(_("the child (PID %d) died with an exception: %s") % (child.pid, died),
                   _("After serving, the child must end with os._exit(0). Without it, the "
                     "child goes on running the parent's loop and fails on its closed "
                     "listening socket (or on whatever comes next)."))


@check("reaps-burst", bound=60, solo=True, reproduce="""
python3 {file}{args} &  pid=$!
python3 {client3} --max-clients 128
sleep 2; ps -o pid,stat,cmd --ppid $pid | grep -c defunct   # zombies left
""")
def reaps_burst(run):
    """128 simultaneous clients leave no zombie children 2 s after the last child
    exited (pre-forked workers may go on running). A server too busy to run
    then has until it waits again (5 s more at most)."""
    server = run.start(recorded=True)
    holder = who_served_one(run, server)
    if holder.kind == "self":
        second = fetch(server, timeout=10, give_up=lambda: stuck(server))
        if not second.complete:
            raise Fail(
                _("after its first answer %s: 128 clients at once would wait in line")
                % (second.gave_up or _("the server did not answer another request within 10 s")),
                _("An iterative server that sleeps after each answer (stage 3b) serves one "
                  "client a minute. Fork a child per client (stage 3c)."))
        raise Skip(_(NO_CHILD) % (_(holder.evidence), _("reap")))
    gave_up = []
    answered = burst(server, 128, timeout=20,
                     give_up=lambda: gave_up.append(stuck(server)) or gave_up[-1])
    if answered < 128:
        why = gave_up[-1] if gave_up and gave_up[-1] else ""
        raise Fail(_("only %d of 128 simultaneous clients were answered%s")
                   % (answered, _(": ") + why if why else _(" within 20 s")),
                   hint_for(why, _("Every client must get its answer: the parent should go "
                                   "straight back to accept() after fork().")))
    children = server.children()
    if holder.kind == "worker":
        # Pre-forked workers live on by design: a worker holds the listening
        # socket (however late it was started). Judge the others.
        children = [p for p in children if not observe.listening_fds(p.pid, server.port)]
    running, kind, words = wait_for_exit(children, server.port, 10)
    if running:
        raise Fail(_("%d children were still running %safter 128 simultaneous clients had "
                     "their answers (the first: %s)")
                   % (len(running), _("10 s ") if kind not in ("accept", "sleep") else "",
                      words), _(HINTS[kind]))
    # No new child can come now: once no zombie is left, none will be.
    zombies = last_look(server, time.monotonic() + 2,
                        lambda: [p.pid for p in server.children() if state(p) == ZOMBIE],
                        lambda seen: not seen)
    if zombies:
        handler = observe.catches(server.pid, signal.SIGCHLD)
        raise Fail(
            _("after 128 simultaneous clients, %d children were still zombies 2 s after the "
              "last one exited: %s") % (len(zombies), reaping_counts(run, len(zombies), handler)),
            _("Standard signals are not queued: when many children exit at once, several "
              "SIGCHLD collapse into one handler call, and one wait per call (os.wait(), or "
              "a single os.waitpid()) leaves the rest as zombies. Loop over "
              "os.waitpid(-1, os.WNOHANG) until it returns (0, 0) (stage 3g).") + " " +
            see_it(run) if handler else
            _("An exited child stays a zombie until its parent waits for it, and nothing here "
              "does. Install a SIGCHLD handler that reaps (stage 3e), looping over "
              "os.waitpid(-1, os.WNOHANG) (stage 3g).") + " " + see_it(run))


@check("survives-child-kill", bound=25, reproduce="""
python3 {file}{args} &  pid=$!
""" + SILENT_CLIENT + """
sleep 1; ps -o pid,cmd --ppid $pid              # the child serving that client
kill -9 CHILD_PID
""" + HELLO)
def survives_child_kill(run):
    """`kill -9` of a child (or worker) in mid-request leaves the server alive
    and serving."""
    server = run.start()
    sock, holder, before = take_silent_connection(run, server)
    try:
        if holder is None:
            raise unknown_holder()
        if holder.kind == "self":
            raise Skip(_(NO_CHILD) % (_(holder.evidence), _("kill")))
        workers = len(server.children())
        try:
            holder.process.kill()
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.3)
    finally:
        close(sock)
    if not server.alive():
        raise Fail(_("the server died when its child was killed (%s)%s")
                   % (server.exit_description(), run.last_error()),
                   _("A child's death sends SIGCHLD to the parent; the handler must not fail "
                     "(catch ChildProcessError from waitpid when nothing is left)."))
    exchange = fetch(server, timeout=10, give_up=lambda: stuck(server))
    if not exchange.complete:
        raise Fail(_("after its child was killed, the server did not answer a new request%s")
                   % (_(": ") + exchange.gave_up if exchange.gave_up else _(" within 10 s")),
                   _("The parent must go on accepting whatever happens to a child."))
    expect_response(exchange)
    if holder.kind == "worker":
        alive = [p for p in server.children() if state(p) == RUNNING]
        run.note(_("the killed worker was replaced") if len(alive) >= workers
                 else _("the killed worker was not replaced"))


@check("accepts-while-reaping", bound=35, depends=("serves", "concurrent"), reproduce="""
python3 {file}{args} &  pid=$!
""" + SILENT_CLIENT + """
""" + HELLO + """          # its child exits: SIGCHLD
sleep 1
""" + HELLO + """          # must still be answered
""")
def accepts_while_reaping(run):
    """While one child still serves a silent client, and another has served
    its client and exited (SIGCHLD), a third client gets its response: the
    SIGCHLD handler must not block in wait() (a server seen blocked there
    fails at once; otherwise the answer may take up to 10 s)."""
    server = run.start()
    silent, holder, before = take_silent_connection(run, server)
    try:
        known = {p.pid for p in server.children()}
        second = fetch(server, timeout=5)
        expect_response(second, N_("the second client's response"))
        # Let the second client's child exit and its SIGCHLD be handled; a
        # child that sleeps for long (stage 3c) will not exit: go on.
        new = [p for p in server.children() if p.pid not in known]
        deadline = time.monotonic() + 3
        while new and time.monotonic() < deadline:
            running = [p for p in new if state(p) == RUNNING]
            if not running or doing(running[0], server.port)[0] == "sleep":
                break
            time.sleep(0.01)
        time.sleep(0.2)
        third = fetch(server, timeout=10, give_up=lambda: stuck(server, holder))
    finally:
        close(silent)
    if not third.complete:
        raise Fail(
            _("a child was still serving a silent client and another child had exited; then a "
              "new client got %s%s")
            % (_("an incomplete response") if third.raw else _("no response"),
               _(": ") + third.gave_up if third.gave_up else _(" within 10 s")),
            _("A blocking wait in the SIGCHLD handler (os.wait(), or os.waitpid(-1, 0)) "
              "reaps the child that exited and then waits for one that is still running, and "
              "the server accepts nobody meanwhile. Call os.waitpid(-1, os.WNOHANG) in a loop "
              "and return when it gives (0, 0) (stage 3g)."))
    expect_response(third, N_("the third client's response"))


GARBAGE = b"\x16\x03\x01\xff\xfe these bytes are no HTTP request\r\n\r\n"


@check("answers-garbage", bound=12, everywhere=False, reproduce=START + """
printf '\\026\\003\\001\\377\\376 these bytes are no HTTP request\\r\\n\\r\\n' | nc -q 5 localhost {port}
""")
def answers_garbage(run):
    """Bytes that are no HTTP request still get the server's fixed answer
    (Part 1's server answers whatever it reads), within 5 s."""
    server = run.start()
    answer = question(server)[2]
    exchange = Exchange(answer=answer)
    sock = server.connect(5)
    try:
        sock.sendall(GARBAGE)
        read(sock, exchange, time.monotonic() + 5)
    finally:
        close(sock)
    if exchange.complete:
        return
    text = answer.decode("utf-8", "replace")
    died = time.monotonic() + 1.0       # a server that crashed closed the connection
    while exchange.closed and server.alive() and time.monotonic() < died:
        time.sleep(0.02)
    if not server.alive():
        raise Fail(_("the server died on bytes that are no HTTP request (%s)%s")
                   % (server.exit_description(), run.last_error()),
                   _("Part 1's server does not parse the request: it reads it, prints it and "
                     "sends its fixed answer. Do not decode or split what recv() returned."))
    raise Fail(_("bytes that are no HTTP request got %s, not the answer with %s")
               % (describe(exchange.raw) if exchange.raw else _("no response"), text),
               _("Part 1's server answers whatever it reads: recv(), print, sendall() the "
                 "fixed response, close()."))


# -- Part 2: a WSGI server, checked against PEP 3333 -------------------------
# The server is started with the grader's probe application (labprobe.py,
# copied beside it with the stage's apps): every body it sends ends with
# PROBE_END, whatever the server does about framing.

PROBE = "labprobe:app"
PROBE_END = b"\nlab-probe-end\n"
PROBE_START = "python3 {file} " + PROBE + " &          # the grader's probe application"
PEP3333 = "PEP 3333 (https://peps.python.org/pep-3333/)"


def ask(server, path, method="GET", body=b"", answer=PROBE_END, timeout=5):
    """One request to the probe on a new connection; (exchange, head, body)."""
    request = ("%s %s HTTP/1.1\r\nHost: localhost:%d\r\nUser-Agent: lab-check\r\n"
               % (method, path, server.port)).encode("ascii")
    if body:
        request += (b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: %d\r\n" % len(body))
    request += b"\r\n" + body
    exchange = Exchange(path=path, answer=answer)
    sock = server.connect(timeout)
    try:
        sock.sendall(request)
        read(sock, exchange, time.monotonic() + timeout)
    finally:
        close(sock)
    head, payload = split_response(exchange.raw)
    if head is not None and _CHUNKED_HEAD.search(head):
        payload = dechunk(payload)
    return exchange, head, payload


_CHUNKED_HEAD = re.compile(rb"^transfer-encoding:[^\r\n]*chunked", re.I | re.M)


def dechunk(payload):
    out = b""
    while payload:
        size, _, rest = payload.partition(b"\r\n")
        try:
            n = int(size.split(b";")[0], 16)
        except ValueError:
            return out + payload
        if n == 0:
            break
        out += rest[:n]
        payload = rest[n + 2:]
    return out


def expect_probe(exchange, what):
    if not exchange.complete:
        raise Fail(_("the probe application's response to %s %s: %s") % (
            what, exchange.path, describe(exchange.raw) if exchange.raw else
            _("none within %.0f s%s") % (exchange.seconds or 5,
                                         _(" (%s)") % _(exchange.error) if exchange.error
                                         else "")),
            _("The server must send the whole body the application returns. Run it by hand "
              "with the probe (python3 YOUR_SERVER labprobe:app) and read what it prints."))


def probe_json(body, unreadable):
    """What the probe application reported: the JSON before PROBE_END.
    Fail(`unreadable`, a message with %s for the body) if it is not whole."""
    try:
        return json.loads(body[:body.rindex(PROBE_END)].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Fail(_(unreadable) % describe(body),
                   _("Send the application's body as it is, bytes for bytes.")) from None


@check("wsgi-frameworks", bound=40, everywhere=False, reproduce="""
python3 {file} pyramidapp:app &      # then Ctrl-C it, and the same with:
python3 {file} djangoapp:app &       # ... and wsgiapp:app (a WSGI app without a framework)
""" + HELLO)
def wsgi_frameworks(run):
    """The article's Pyramid and Django applications, and a WSGI application
    without a framework, each answer GET /hello through the server."""
    for app, answer in (("pyramidapp:app", "Hello world from Pyramid!"),
                        ("djangoapp:app", "Hello world from Django!"),
                        ("wsgiapp:app", "Hello world from a simple WSGI application!")):
        server = run.start(args=[app])
        server.answer = answer.encode()
        exchange = fetch(server, timeout=10)
        try:
            expect_response(exchange)
        except Fail as f:
            raise Fail(_("with %s: %s") % (app, f.message),
                       f.hint or _("The server must call whatever application it is given."))
        body = split_response(exchange.raw)[1]
        if server.answer not in body:       # framed by a Content-Length, but not the app's
            raise Fail(_('with %s: expected a body containing "%s", got %s')
                       % (app, answer, describe(body)),
                       _("Call the application named on the command line (module:callable) "
                         "and send the body it returns."))


ENVIRON_NEEDS = {
    "REQUEST_METHOD": "str", "SERVER_NAME": "str", "SERVER_PORT": "str",
    "SERVER_PROTOCOL": "str", "wsgi.version": "tuple", "wsgi.url_scheme": "str",
    "wsgi.input": None, "wsgi.errors": None, "wsgi.multithread": "bool",
    "wsgi.multiprocess": "bool", "wsgi.run_once": "bool",
}


@check("wsgi-environ", bound=15, everywhere=False, reproduce=PROBE_START + """
curl -s 'http://localhost:{port}/environ?lab=probe' | head -1 | python3 -m json.tool
""")
def wsgi_environ(run):
    """The environ carries what PEP 3333 requires: the CGI variables
    (REQUEST_METHOD, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, PATH_INFO
    without the query, QUERY_STRING), a request header as HTTP_HOST, and
    the wsgi.* keys, checked by the grader's probe application."""
    server = run.start(args=[PROBE])
    exchange, _head, body = ask(server, "/environ?lab=probe")
    expect_probe(exchange, "GET")
    environ = probe_json(body, N_("the probe's environ did not arrive whole: %s"))
    wrong = []
    missing = [k for k in ENVIRON_NEEDS if k not in environ]
    for key, kind in ENVIRON_NEEDS.items():
        if key in environ and kind and environ[key][0] != kind:
            wrong.append(_("%s is %s, not %s") % (key, environ[key][0], kind))
    for key, want in (("REQUEST_METHOD", "GET"), ("PATH_INFO", "/environ"),
                      ("QUERY_STRING", "lab=probe"), ("HTTP_HOST", "localhost:%d" % server.port),
                      ("SERVER_PORT", str(server.port))):
        if key not in environ:
            if key not in missing:
                missing.append(key)
        elif environ[key][1] != want:
            wrong.append(_("%s is %r, not %r") % (key, environ[key][1], want))
    if "wsgi.version" in environ and environ["wsgi.version"][1] != [1, 0]:
        wrong.append(_("wsgi.version is %r, not (1, 0)") % (environ["wsgi.version"][1],))
    if missing or wrong:
        raise Fail(_("for GET /environ?lab=probe, %s") % _("; ").join(
            ([_("the environ lacks %s") % _(", ").join(missing)] if missing else []) + wrong),
            _("%s asks every server for these keys. Split the request target at '?': "
              "PATH_INFO before it, QUERY_STRING after (or ''); SERVER_PROTOCOL is the request "
              "line's third word; each request header becomes HTTP_ and its name in capitals, "
              "dashes as underscores (Host: gives HTTP_HOST).") % PEP3333)


@check("wsgi-status-headers", bound=15, everywhere=False, reproduce=PROBE_START + """
curl -si http://localhost:{port}/status
""")
def wsgi_status_headers(run):
    """The status and headers the application gives start_response go out
    as given: the probe's 404 Not Found, with its X-Lab-Probe header."""
    server = run.start(args=[PROBE])
    exchange, head, _body = ask(server, "/status")
    expect_probe(exchange, "GET")
    code = status_code(exchange.raw)
    if code != 404:
        raise Fail(_("the application answered 404 Not Found, and the client got %s")
                   % (describe(exchange.raw.split(b"\n")[0]) if code is None
                      else _("status %d") % code),
                   _("The status line is 'HTTP/1.1 ' and the status start_response was given, "
                     "as it is."))
    if not re.search(rb"^x-lab-probe:\s*status\s*$", head, re.I | re.M):
        raise Fail(_("the application's header X-Lab-Probe: status is not in the response: %s")
                   % describe(head),
                   _("Send every header of the list start_response was given, one per line "
                     "(name: value), then the server's own."))


@check("wsgi-body-iterable", bound=15, everywhere=False, reproduce=PROBE_START + """
curl -s http://localhost:{port}/chunks              # lab-probe-chunks
""")
def wsgi_body_iterable(run):
    """A body the application returns as a generator of several chunks
    arrives whole and in order."""
    server = run.start(args=[PROBE])
    exchange, _head, body = ask(server, "/chunks")
    expect_probe(exchange, "GET")
    if b"lab-probe-chunks" not in body:
        raise Fail(_("the application yielded lab-, probe- and chunks; the body was %s")
                   % describe(body),
                   _("The application returns an iterable: send each item it yields, in "
                     "order, as it comes (a generator can be iterated once only)."))


@check("wsgi-close", bound=15, everywhere=False, reproduce=PROBE_START + """
curl -s http://localhost:{port}/close   # the server should print: lab-probe: close() called
""")
def wsgi_close(run):
    """When the iterable the application returns has a close() method, the
    server calls it once the response is sent."""
    server = run.start(args=[PROBE])
    exchange = ask(server, "/close")[0]
    expect_probe(exchange, "GET")
    deadline = time.monotonic() + 1.0
    while "lab-probe: close() called" not in server.output.text():
        now = time.monotonic()
        if now > deadline and (observe.settled(server.process) or now > deadline + 5):
            # what it printed before it was seen settled, read to the end
            caught_up = time.monotonic() + 1.0
            while not server.output.caught_up() and time.monotonic() < caught_up:
                time.sleep(0.01)
            if "lab-probe: close() called" in server.output.text():
                break
            raise Fail(_("the probe's iterable has a close() method, and it was not called "
                         "within 1 s of the response"),
                       _("%s: if the iterable has close(), the server must call it when the "
                         "request is done, even if sending failed: iterate in try, call "
                         "close() in finally (frameworks free resources there).") % PEP3333)
        time.sleep(0.05)


@check("wsgi-input", bound=15, everywhere=False, reproduce=PROBE_START + """
curl -s -d 'lab=probe&n=1' http://localhost:{port}/input   # {{"type": "bytes", ...}}
""")
def wsgi_input(run):
    """wsgi.input gives the request's body, as bytes, and CONTENT_LENGTH
    says how long it is (the probe POSTs lab=probe&n=1)."""
    server = run.start(args=[PROBE])
    sent = b"lab=probe&n=1"
    exchange, _head, body = ask(server, "/input", method="POST", body=sent)
    expect_probe(exchange, "POST")
    got = probe_json(body, N_("the probe's report did not arrive whole: %s"))
    if got.get("type") != "bytes":
        raise Fail(_("wsgi.input.read() gave %s, not bytes (%s)") % (
            got.get("type"), describe(got.get("data", "").encode("utf-8"), 60)),
            _("%s: wsgi.input is a binary stream. Give io.BytesIO over the body's bytes "
              "(what follows the blank line), not text.") % PEP3333)
    if got.get("data") != sent.decode():
        raise Fail(_("the body was %s, wsgi.input.read(CONTENT_LENGTH) gave %s")
                   % (describe(sent), describe(got.get("data", "").encode("latin-1"), 80)),
                   _("Give the application the body only, the bytes after the blank line, and "
                     "CONTENT_LENGTH from the request's Content-Length header (read the rest "
                     "of the body if one recv() did not bring it all)."))


@check("wsgi-survives-empty", bound=15, everywhere=False, reproduce=START + """
nc -z localhost {port}                      # connect, and close without a byte
printf 'garbage\\r\\n\\r\\n' | nc -q 2 localhost {port}
""" + HELLO)
def wsgi_survives_empty(run):
    """A client that connects and closes without a byte, and one that sends
    garbage, do not stop the server: the next GET is answered."""
    server = run.start()
    for what, data in ((N_("connected and closed without sending a byte"), b""),
                       (N_("sent garbage instead of a request"), b"garbage\r\n\r\n")):
        sock = server.connect(5)
        try:
            if data:
                sock.sendall(data)
                read(sock, Exchange(), time.monotonic() + 2, until_closed=True)
        finally:
            close(sock)
        deadline = time.monotonic() + 1.0
        while server.alive() and time.monotonic() < deadline:
            if not data:
                time.sleep(0.05)
            else:
                break
        if not server.alive():
            raise Fail(_("the server died when a client %s (%s)%s")
                       % (_(what), server.exit_description(), run.last_error()),
                       _("recv() returns b'' when the client closed without a request (a "
                         "browser opens spare connections and may close them unused): close it "
                         "and go back to accept(). A request that cannot be parsed should get "
                         "'400 Bad Request', not end the server."))
    exchange = fetch(server, timeout=10, give_up=lambda: stuck(server))
    expect_response(exchange)
