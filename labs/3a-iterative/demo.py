"""lab demo 3a: an iterative server serves one client at a time.

A first client connects and says nothing; the server is stuck in recv() for
it, so a second client's curl hangs. When the first client goes away, the
server moves on and the curl completes.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

IDLE_CLIENT = ("python3 -c 'import socket, time; "
               "s = socket.create_connection((\"localhost\", 8888)); "
               "print(\"connected to the server, sending nothing\"); time.sleep(60)'")


def body(demo):
    demo.step(_("start the iterative server"))
    server = demo.server_terminal("server")
    demo.start_server(server, "python3 webserver3a.py", "webserver3a.py")
    demo.explain(_("webserver3a.py accepts one connection, recv()s the request, sends "
                   "\"Hello, World!\", closes, and only then accepts the next one."))

    demo.step(_("a first client connects and stays silent"))
    first = demo.client_terminal("client1")
    first.start(IDLE_CLIENT)
    first.expect(r"connected to the server, sending nothing", 10, _("the silent client to connect"))
    demo.pause(0.5)
    demo.explain(_("The server accepted this connection and now waits in recv() for a "
                   "request that never comes."))

    demo.step(_("a second client: curl hangs"))
    second = demo.client_terminal("client2")
    second.start("curl http://localhost:8888/hello")
    curl = second.find(name="curl")
    second.expect_nothing(r"Hello, World!", 3,
                          _("curl to hang while the server is busy with client1"))
    conns = demolib.established_to_port(curl)
    demo.check(conns, _("curl's connection ESTABLISHED (the kernel accepted the handshake)"),
               _("curl has no established connection to 8888"))
    demo.ok(_("after 3 s curl has printed nothing; its connection {}:{} -> :8888 is "
              "ESTABLISHED, waiting in the listen queue").format(conns[0].laddr.ip, conns[0].laddr.port))
    observer = demo.observer_terminal()
    observer.run("ss -tn '( sport = :8888 or dport = :8888 )'")
    observer.run("ss -ltn 'sport = :8888'")
    queue = demolib.ss_listen_queue()
    if queue is not None:
        demo.check(queue[0] >= 1, _("Recv-Q >= 1 on the listening socket"),
                   _("Recv-Q {}").format(queue[0]))
        demo.ok(_("the listening socket's Recv-Q is {}: one connection is complete "
                  "but not accept()ed (Send-Q {} is the backlog)").format(*queue))
    demo.explain(_("One process, one client at a time: while the server is blocked on "
                   "client1, nobody calls accept() for curl."))

    demo.step(_("client1 goes away: the server moves on to curl"))
    first.interrupt()
    second.expect(r"Hello, World!", 10, _("curl to get Hello, World! once client1 left"))
    second.wait_prompt(10, _("curl to finish"))
    server.expect(r"GET /hello HTTP/1.1", 5, _("the server to print curl's request"))
    demo.ok(_("curl got \"Hello, World!\" as soon as the server was free"))
    demo.explain(_("That is an iterative server. Stage 3b makes the wait visible with a "
                   "60-second sleep, stage 3c fixes it with fork()."))
    server.interrupt()


if __name__ == "__main__":
    demolib.Demo("3a").run(body)
