"""lab demo 3h: the concurrent WSGI server: Flask behind it, 128 clients at
once, no zombie.

Part 2's WSGI server forks a child per request, as 3g does, and its SIGCHLD
handler loops over waitpid(-1, WNOHANG): the application (the article's
Flask app) runs in each child, and every child is reaped.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

CLIENTS = 128
BURSTS = 2
FLASK = "Hello world from Flask!"


def body(demo):
    demo.step(_("start the server with the Flask application"))
    server = demo.server_terminal("server")
    server_proc = demo.start_server(server, "python3 webserver3h.py flaskapp:app > server.log",
                                    "webserver3h.py", banner=False)
    demo.explain(_("python3 webserver3h.py flaskapp:app: the server imports the module flaskapp "
                   "(flaskapp.py, beside it) and calls its `app` for every request. {}").format(
                       _(demolib.BURST_OUTPUT_NOTE)))

    client = demo.client_terminal("client", squash=demolib.CLIENT3_LINES)
    observer = demo.client_terminal("observer")
    demo.step(_("one request: Flask answers through the WSGI server"))
    out = client.run("curl -sv http://localhost:8888/hello", timeout=15, what="curl")
    demo.check(FLASK in out, _("Flask's answer through the server"),
               _("curl printed: {}").format(out[-300:]))
    demo.ok(_('curl got "{}" from the Flask application').format(FLASK))

    demo.bursts_leave_no_zombie(server_proc, client, observer, BURSTS, CLIENTS)
    demo.ok(_("0 zombies after each of {} bursts of {} clients, each answered by Flask in a "
              "child of its own").format(BURSTS, CLIENTS))
    demo.explain(_("The application does not know it runs in a forked child: the server calls "
                   "it once per request, in the child made for that request. grim_reaper() is "
                   "3g's: one SIGCHLD may stand for many children, and waitpid(-1, WNOHANG) in "
                   "a loop reaps them all."))
    server.interrupt()

    demo.trace_every_child_reaped("webserver3h.py", CLIENTS)


if __name__ == "__main__":
    demolib.Demo("3h").run(body)
