"""lab demo 3b: the listen backlog.

The server sleeps 60 s after each response. A second curl connects anyway:
the kernel completes the TCP handshake and queues the connection in the
listen backlog, but nobody accept()s it, so curl hangs.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

FAST_SLEEP = 8


def body(demo):
    demo.step(_("start the server that sleeps after each response"))
    server = demo.server_terminal("server")
    if demo.fast:
        demo.note(_("--fast: LAB_SLEEP={} shortens the server's 60-second sleep.").format(FAST_SLEEP))
        command = "LAB_SLEEP={} python3 webserver3b.py".format(FAST_SLEEP)
    else:
        command = "python3 webserver3b.py"
    server_proc = demo.start_server(server, command, "webserver3b.py")

    demo.step(_("first curl: answered at once"))
    first = demo.client_terminal("client1")
    first.start("curl http://localhost:8888/hello")
    first.expect(r"Hello, World!", 5, _("the first curl to print Hello, World! at once"))
    server.expect(r"GET /hello HTTP/1.1", 5, _("the server to print the first request"))
    demo.ok(_("the first curl got \"Hello, World!\" at once"))
    demo.explain(_("curl does not return to its prompt yet: the response has no "
                   "Content-Length, so curl reads until the server closes the connection, "
                   "and the server is now sleeping before close()."))

    demo.step(_("second curl, within the sleep: it hangs"))
    second = demo.client_terminal("client2")
    second.start("curl http://localhost:8888/hello")
    curl = second.find(name="curl")
    second.expect_nothing(r"Hello, World!", 3, _("the second curl to hang (no output)"))
    server.expect_nothing(r"GET /hello", 0.2, _("the server not to see a second request"))
    conns = demolib.established_to_port(curl)
    demo.check(conns, _("the second curl's connection to be ESTABLISHED"),
               _("curl has no established connection to 8888"))
    port = conns[0].laddr.port
    server_ports = {c.raddr.port for c in server_proc.connections(kind="tcp") if c.raddr}
    demo.check(port not in server_ports,
               _("the server process not to hold curl's connection (never accepted)"),
               _("the server holds a socket to port {}").format(port))
    demo.ok(_("3 s and no output, no request printed by the server; yet curl's connection "
              "(local port {}) is ESTABLISHED and the server holds no socket for it").format(port))
    observer = demo.observer_terminal()
    observer.run("ss -tn 'dport = :8888'")
    observer.run("ss -ltn 'sport = :8888'")
    queue = demolib.ss_listen_queue()
    if queue is not None:
        demo.check(queue[0] >= 1, _("Recv-Q >= 1 on the listening socket"),
                   _("Recv-Q {}").format(queue[0]))
        demo.ok(_("listening socket: Recv-Q {} (completed, not accepted), Send-Q {} "
                  "(the backlog, REQUEST_QUEUE_SIZE)").format(*queue))
    demo.explain(_("The listen backlog: listen(REQUEST_QUEUE_SIZE) lets the kernel finish "
                   "the TCP handshake for up to that many connections and queue them until "
                   "the process calls accept(). So curl's connect() succeeded, it sent its "
                   "request, and it waits: the server is asleep, not accepting."))

    if demo.fast:
        demo.step(_("the sleep ends: the server accepts the queued connection"))
        first.wait_prompt(FAST_SLEEP + 5, _("the first curl to end when the server closes"))
        second.expect(r"Hello, World!", FAST_SLEEP + 5,
                      _("the second curl to be served after the server's sleep"))
        demo.ok(_("after the sleep the first curl ended and the second got \"Hello, World!\""))
        demo.explain(_("One client at a time: the queued connection was served only when "
                       "the server came back to accept(). Stopping the server now."))
        server.interrupt()
        second.wait_prompt(5, _("the second curl to end"))
    else:
        demo.step(_("we do not wait out 60 s: stop the server"))
        server.interrupt()
        first.wait_prompt(5, _("the first curl to end when the server's socket closes"))
        second.expect(r"curl: \(\d+\)[^\n]*", 5,
                      _("the second curl to fail when the server exits"))
        second.wait_prompt(5, _("the second curl to end"))
        demo.ok(_("the first curl ended (its connection closed); the queued one was reset: "
                  "it was never accepted"))
        demo.explain(_("Waiting 60 s instead, you would see the first curl end and the second "
                       "print \"Hello, World!\" (try --fast, or by hand: see README.md)."))


if __name__ == "__main__":
    demolib.Demo("3b").run(body)
