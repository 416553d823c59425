"""lab demo 3f: lost signals.

One curl: the SIGCHLD handler reaps the child, no zombie. But a burst of
128 clients (client3.py) brings zombies back: standard signals are not
queued, so many children exiting at once produce fewer SIGCHLD handler
calls than children, and the handler reaps only one child per call.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

CLIENTS = 128
MAX_BURSTS = 3        # more bursts (bounded) if, against the odds, one left none
SERVER_LOG = demolib.BURST_OUTPUT_NOTE
CLIENT3_LINES = demolib.CLIENT3_LINES


def body(demo):
    demo.step(_("start the server"))
    server = demo.server_terminal("server")
    server_proc = demo.start_server(server, "python3 webserver3f.py > server.log",
                                    "webserver3f.py", banner=False)
    demo.explain(_(SERVER_LOG))

    demo.step(_("one curl: reaped, no zombie"))
    client = demo.client_terminal("client", squash=CLIENT3_LINES)
    client.run("curl http://localhost:8888/hello", timeout=10)
    zombies = demo.settle(server_proc)
    demo.check(not zombies, _("no zombie after a single curl"),
               _("{} zombies").format(len(zombies)))
    demo.ok(_("one client, one SIGCHLD, one os.wait(): 0 zombies"))

    observer = demo.observer_terminal()
    for burst in range(1, MAX_BURSTS + 1):
        demo.step((_("a burst of {} clients") if burst == 1 else
                   _("a burst of {} clients (again)")).format(CLIENTS))
        client.run("python3 client3.py --max-clients {} > /dev/null".format(CLIENTS), timeout=60,
                   what=_("client3.py to finish"))
        zombies = demo.settle(server_proc)
        observer.run("ps -o pid,ppid,stat,cmd --ppid {} | head -n 6".format(server_proc.pid))
        observer.run("ps -o stat= --ppid {} | grep -c Z".format(server_proc.pid))
        demo.note(_("zombie children of the server after burst {}: {} of {}").format(
            burst, len(zombies), CLIENTS))
        if zombies:
            break
        demo.note(_("no zombie this time: the children happened to exit one by one. "
                    "Trying another burst."))
    demo.check(zombies, _("zombies (<defunct>) after a burst of {} clients").format(CLIENTS),
               _("0 zombies after {} bursts").format(MAX_BURSTS))
    demo.ok(_("ZOMBIES: {} of the {} children are <defunct>").format(len(zombies), CLIENTS))
    demo.explain(_("Many children exited at almost the same moment. A standard signal is not "
                   "queued: while SIGCHLD is already pending, more child exits just leave it "
                   "pending, so the kernel delivers fewer SIGCHLD than children (and Python "
                   "runs its handler once for all the signals that arrived since it last "
                   "checked). grim_reaper() calls os.wait() once per call: one child reaped "
                   "per handler call, the rest stay zombies. Stage 3g loops over "
                   "waitpid(-1, WNOHANG) instead."))
    server.interrupt()

    demo.step(_("the same burst, traced: who exited, which signals came, who was reaped"))
    for attempt in range(1, MAX_BURSTS + 1):
        counts = demo.trace("webserver3f.py", CLIENTS)
        if counts["zombies"]:
            break
        demo.note(_("no zombie in this trace: the children happened to exit one by one. "
                    "Tracing again."))
    demo.check(1 <= counts["handler_runs"] < counts["exited"] and counts["zombies"] > 0,
               _("fewer SIGCHLD handler runs than exits, and zombies"),
               _("{handler_runs} handler runs for {exited} exits, {zombies} zombies").format(
                   **counts))
    demo.ok(_("{exited} children exited, the handler ran {handler_runs} times and reaped "
              "{reaped}: {zombies} zombies").format(**counts))


if __name__ == "__main__":
    demolib.Demo("3f").run(body)
