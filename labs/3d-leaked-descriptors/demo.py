"""lab demo 3d: the parent keeps every client socket.

(a) curl never terminates: no FIN, because the parent still holds a copy.
(b) zombies: exited children stay in `ps` as <defunct>, and kill -9 cannot
    remove them.
(c) with `ulimit -n 256`, 300 clients exhaust the descriptors: the server
    dies with "Too many open files".
(d) with `ulimit -u 400` (and -n 500), 500 clients: the zombies use up the
    process limit and fork() fails with "Resource temporarily unavailable".
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402
import psutil  # noqa: E402

PS_CHILDREN = "ps -o pid,ppid,stat,cmd --ppid {0} | head -n 6"


def start_server(demo, server, command):
    return demo.start_server(server, command, "webserver3d.py")


def tasks_of(uid):
    """What RLIMIT_NPROC counts for `uid`, as the kernel does: every task
    (thread) whose real uid it is, zombies included, on the whole host."""
    count = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                count += proc.info["num_threads"] or 1
        except psutil.Error:
            pass
    return count


def body(demo):
    # the server prints len(clients) per client, client3.py a number per
    # connection: show a few of those lines, not hundreds
    server = demo.server_terminal("server", squash=r"\d+")
    client = demo.client_terminal("client", squash=r"\d+|connection \d+: .*")
    observer = demo.observer_terminal()

    # ------------------------------------------------------------ (a) ---
    demo.step(_("curl never terminates"))
    proc = start_server(demo, server, "python3 webserver3d.py")
    client.start('curl --max-time 3 http://localhost:8888/hello; echo "curl exit code: $?"')
    client.expect(r"Hello, World!", 3, _("curl to print Hello, World!"))
    match = client.expect(r"curl exit code: (\d+)", 8, _("curl to end by its --max-time"))
    code = int(match.group(1))
    demo.check(code == 28, _("curl exit code 28 (timeout: it got the body but no FIN)"),
               _("exit code {}").format(code))
    client.wait_prompt(3, _("the client's prompt"))
    held = [c for c in proc.connections(kind="tcp")
            if c.raddr and c.status != psutil.CONN_LISTEN]
    demo.check(held, _("the server to still hold the client's socket"),
               _("the server holds none"))
    demo.ok(_("curl printed \"Hello, World!\" and then hit its 3 s timeout (exit code 28): no "
              "FIN ever came. The server still holds the connection ({}).").format(held[0].status))
    observer.run("ss -tn '( sport = :8888 )'")
    demo.explain(_("fork() duplicated the client socket: parent and child each hold a "
                   "descriptor to it, and the kernel counts them. The child closed its copy and "
                   "exited, but this parent never closes its own (it keeps them in `clients`), so "
                   "the count never reaches 0 and no FIN is sent. curl only notices because the "
                   "response has no Content-Length: it reads until the connection closes."))

    # ------------------------------------------------------------ (b) ---
    demo.step(_("zombies: <defunct>, and kill -9 does nothing"))
    zombies = demo.settle(proc, timeout=5)
    demo.check(zombies, _("the exited child to be a zombie"),
               _("no zombie child of the server"))
    zpid = zombies[0].pid
    observer.run(PS_CHILDREN.format(proc.pid))
    observer.run('kill -9 {0}; echo "kill exit code: $?"'.format(zpid))
    demo.pause(0.5)
    observer.run(PS_CHILDREN.format(proc.pid))
    still = demolib.state(zombies[0]) == demolib.ZOMBIE
    demo.check(still, _("the zombie {} to survive kill -9").format(zpid), _("it is gone"))
    demo.ok(_("child {} is a zombie (Z, <defunct>) and is still there after kill -9").format(zpid))
    demo.explain(_("A zombie has already exited: there is nothing left to kill. The kernel "
                   "keeps its PID and exit status until the parent wait()s for it, and this "
                   "parent never does. Only the parent's death (its orphans are then reaped "
                   "by an ancestor) makes it go away."))
    server.interrupt()
    demo.reap_orphans()

    # ------------------------------------------------------------ (c) ---
    demo.step(_("ulimit -n 256 and 300 clients: Too many open files"))
    demo.explain(_("`ulimit -n 256` in bash lowers both the soft and the hard limit, and an "
                   "unprivileged shell can never raise them again: we lower it in a subshell "
                   "( ... ) that only the server runs in."))
    proc = start_server(demo, server, "( ulimit -n 256; exec python3 webserver3d.py )")
    limit = demolib.soft_limit(proc.pid, "Max open files")
    demo.check(limit == 256, _("the server's descriptor limit to be 256"), str(limit))
    client.start("python3 client3.py --max-clients=300")
    server.expect(r"Traceback", 30, _("the server to die with [Errno 24] Too many open files"))
    served = demolib.last_number(server.child.before)
    server.expect(r"\[Errno 24\] Too many open files", 5,
                  _("the server to die with [Errno 24] Too many open files"))
    server.wait_prompt(10, _("the server to exit"))
    client.wait_prompt(30, _("client3.py to finish"))
    demo.ok(_("the server died with OSError: [Errno 24] Too many open files after {} "
              "clients").format(served))
    demo.explain(_("Every client leaves one more descriptor open in the parent: with 256 "
                   "allowed (0, 1, 2 and the listening socket included), accept() fails when "
                   "there is no descriptor left for the next connection."))
    demo.reap_orphans()

    # ------------------------------------------------------------ (d) ---
    demo.step(_("ulimit -u and 500 clients: fork() fails"))
    if demolib.is_root():
        nproc = 400
        demo.explain(_("RLIMIT_NPROC (`ulimit -u`) counts all processes of the server's real "
                       "uid {} - zombies included - and never limits root. So the server runs "
                       "as that uid, and client3.py runs as another (labclient, uid {}) in the "
                       "other terminal: as the same uid its 500 processes would count "
                       "too.").format(demo.server_uid, demolib.client_uid()))
    else:
        nproc = tasks_of(os.getuid()) + 100
        demo.explain(_("You are not root: the server and client3.py both run as you, and "
                       "RLIMIT_NPROC counts every process and every thread of your real uid on "
                       "the whole machine (your desktop's threads, zombies, and client3's own "
                       "processes, included). Instead of the article's 400 we use the count now "
                       "+ 100 = {}, so fork() fails after at most 100 children (sooner while "
                       "client3's processes are alive, or if your other programs start threads). "
                       "As root the server runs under its own uid and exactly `ulimit -u 400` is "
                       "used.").format(nproc))
    proc = start_server(demo, server,
                        "( ulimit -u {}; ulimit -n 500; exec python3 webserver3d.py )".format(nproc))
    client.start("python3 client3.py --max-clients=500")
    server.expect(r"Traceback", 40,
                  _("fork() to fail with [Errno 11] Resource temporarily unavailable"))
    served = demolib.last_number(server.child.before)
    server.expect(r"\[Errno 11\] Resource temporarily unavailable", 5,
                  _("fork() to fail with [Errno 11] Resource temporarily unavailable"))
    server.wait_prompt(10, _("the server to exit"))
    client.wait_prompt(30, _("client3.py to finish"))
    demo.ok(_("fork() failed with BlockingIOError: [Errno 11] Resource temporarily unavailable "
              "at client {} (limit {}: the children already forked, zombies by now, hold the "
              "slots)").format(served, nproc))
    demo.explain(_("Each exited child stays a zombie and keeps its slot in the process table "
                   "of that uid; when the limit is reached, fork() fails with EAGAIN. A server "
                   "that does not wait() for its children runs out of processes. Stage 3e "
                   "reaps them with a SIGCHLD handler."))
    demo.reap_orphans()


if __name__ == "__main__":
    demolib.Demo("3d").run(body)
