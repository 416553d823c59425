"""lab demo 3c: a forking server answers many clients at once.

Each client gets its own child process (fork), which sleeps 60 s after the
response; still, two curls are answered at once. PID and PPID show who is
who, and the curls end only when the last copy of their socket is closed.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

FAST_SLEEP = 3
CHILD_LINE = re.compile(r"Child PID: (\d+)\. Parent PID (\d+)")


def body(demo):
    demo.step(_("start the forking server"))
    server = demo.server_terminal("server")
    if demo.fast:
        demo.note(_("--fast: LAB_SLEEP={} shortens the children's 60-second sleep.").format(FAST_SLEEP))
        command = "LAB_SLEEP={} python3 webserver3c.py".format(FAST_SLEEP)
    else:
        command = "python3 webserver3c.py"
    server_proc = demo.start_server(server, command, "webserver3c.py")
    match = server.expect(r"Parent PID \(PPID\): (\d+)", 10, _("the server's banner with its PID"))
    parent_pid = int(match.group(1))
    demo.check(server_proc.pid == parent_pid, _("the banner's PID to be the server's"),
               _("banner {} vs process {}").format(parent_pid, server_proc.pid))
    demo.explain(_("The parent only accept()s and fork()s: each client is handled by a "
                   "child process, which sleeps {} s after answering.").format(
                     FAST_SLEEP if demo.fast else 60))

    demo.step(_("two curls, one after the other: both answered at once"))
    clients, children = [], []
    for n in (1, 2):
        term = demo.client_terminal("client{}".format(n))
        term.start("curl http://localhost:8888/hello")
        term.expect(r"Hello, World!", 3, _("curl #{} to print Hello, World! within 3 s").format(n))
        match = server.expect(CHILD_LINE, 5, _("the child's `Child PID: ... Parent PID ...` line"))
        child_pid, ppid = int(match.group(1)), int(match.group(2))
        demo.check(ppid == parent_pid, _("the child's parent to be the server"),
                   _("Parent PID {} (server is {})").format(ppid, parent_pid))
        clients.append(term)
        children.append(child_pid)
    kids = {p.pid for p in demolib.children(server_proc)}
    demo.check(set(children) <= kids, _("both children alive under the server"),
               _("children {} of server: {}").format(children, sorted(kids)))
    demo.ok(_("both curls printed \"Hello, World!\" at once although each child sleeps; "
              "children {} and {} have PPID {}").format(children[0], children[1], parent_pid))
    observer = demo.observer_terminal()
    observer.run("ps -o pid,ppid,stat,cmd -p {0} --ppid {0}".format(parent_pid))
    demo.explain(_("fork() returned twice: 0 in the child (which handles the client), the "
                   "child's PID in the parent (which closes its copy of the client socket "
                   "and goes back to accept()). Same program, same command line, three "
                   "processes: PPID tells the children from the parent."))

    demo.step(_("when does curl end?"))
    demo.explain(_("curl hangs after \"Hello, World!\": it reads until the connection is "
                   "closed, i.e. until the kernel sends a FIN. The socket is shared by the "
                   "parent and the child (fork duplicated the descriptor); the kernel "
                   "counts references and sends FIN when the last one is closed. The parent "
                   "closed its copy at once, so the child's close() ends the connection."))
    if demo.fast:
        for term in clients:
            term.wait_prompt(FAST_SLEEP + 5, _("curl to end when its child closes the socket"))
        demo.ok(_("both curls ended by themselves when their child woke up and closed the socket"))
        clients = []
    else:
        observer.run("kill {}".format(children[0]))
        clients[0].wait_prompt(5, _("curl #1 to end when its child is killed"))
        demo.check(server_proc.is_running(), _("the server to keep running"),
                   _("the server exited"))
        demo.ok(_("killing child {} closed the last copy of client1's socket: curl #1 ended "
                  "at once; curl #2 still waits for its own child").format(children[0]))
        demo.explain(_("(We do not wait 60 s. Note that the killed child stays in `ps` as "
                       "<defunct>: nobody wait()s for it. That is stage 3d's zombie.)"))
        observer.run("ps -o pid,ppid,stat,cmd -p {0} --ppid {0}".format(parent_pid))
        clients = clients[1:]
    server.interrupt()
    for term in clients:
        term.wait_prompt(5, _("every curl to end once the server is stopped"))


if __name__ == "__main__":
    demolib.Demo("3c").run(body)
