"""lab demo 3g: the waitpid loop: no zombies, ever.

The SIGCHLD handler loops over os.waitpid(-1, os.WNOHANG) until no exited
child is left, so one handler call reaps every child that exited, however
many signals were merged. The same bursts that left zombies in 3f leave 0.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

CLIENTS = 128
BURSTS = 3
SERVER_LOG = demolib.BURST_OUTPUT_NOTE
CLIENT3_LINES = demolib.CLIENT3_LINES


def body(demo):
    demo.step(_("start the server"))
    server = demo.server_terminal("server")
    server_proc = demo.start_server(server, "python3 webserver3g.py > server.log",
                                    "webserver3g.py", banner=False)
    demo.explain(_(SERVER_LOG))

    client = demo.client_terminal("client", squash=CLIENT3_LINES)
    observer = demo.observer_terminal()
    demo.bursts_leave_no_zombie(server_proc, client, observer, BURSTS, CLIENTS)
    demo.ok(_("0 zombies after each of {} bursts of {} clients ({} children in all)").format(
        BURSTS, CLIENTS, BURSTS * CLIENTS))
    demo.explain(_("One SIGCHLD may stand for many exited children. grim_reaper() now calls "
                   "waitpid(-1, WNOHANG) until it returns 0 (children left, none exited) or "
                   "raises ChildProcessError (no children at all): every exited child is "
                   "reaped, however many signals were merged. WNOHANG keeps the handler from "
                   "blocking on children that are still running."))
    server.interrupt()

    counts = demo.trace_every_child_reaped("webserver3g.py", CLIENTS)
    if counts["handler_runs"] < counts["exited"]:
        demo.explain(_("Fewer handler runs than children: signals merged, and still no zombie, "
                       "because each run reaps every child that has exited by then."))


if __name__ == "__main__":
    demolib.Demo("3g").run(body)
