"""lab demo 1: a minimal web server.

Part 1's server reads one request, prints it, and sends the same answer
whatever the request said: curl, a request line typed by hand into nc, and
plain garbage all get "Hello, World!".
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

HELLO = "Hello, World!"


def typed(demo, client, line, what):
    """Open nc to the server, type `line` and Enter; the server's answer
    shows in the terminal. The server has closed the connection; nc ends
    at Ctrl-D (the end of what we type)."""
    client.start("nc localhost 8888")
    demo.pause(0.5)
    client.child.sendline(line)
    client.expect(HELLO, 10, _("the answer to {}").format(what))
    demo.pause(0.3)
    client.child.sendeof()
    return client.wait_prompt(10, _("nc to end at Ctrl-D"))


def body(demo):
    demo.step(_("start the server"))
    server = demo.server_terminal("server")
    demo.start_server(server, "python3 webserver1.py", "webserver1.py")

    client = demo.client_terminal("client")
    demo.step(_("a client: curl"))
    out = client.run("curl -v http://localhost:8888/hello", timeout=15, what="curl")
    demo.check(HELLO in out, _("curl to print Hello, World!"), out[-300:])
    server.expect(r"b'GET /hello HTTP/1\.1", 5, _("the server to print curl's request"))
    demo.ok(_("curl got Hello, World!, and the server printed the request it read"))
    demo.explain(_("In a browser on your machine, http://localhost:8888/hello gives the same "
                   "(in the container: docker compose run --rm --service-ports lab1)."))

    demo.step(_("a request typed by hand: nc localhost 8888, then GET /hello HTTP/1.1"))
    typed(demo, client, "GET /hello HTTP/1.1", _("a typed request line"))
    server.expect(r"b'GET /hello HTTP/1\.1\\n'", 5, _("the server to print the typed line"))
    demo.ok(_("the answer came as soon as the request line was typed: the server reads once "
              "(recv(1024)) and does not wait for the headers or the blank line"))

    demo.step(_("garbage instead of a request"))
    typed(demo, client, "hello? is anybody there", _("garbage"))
    server.expect(r"b'hello\? is anybody there\\n'", 5, _("the server to print the garbage"))
    demo.ok(_("garbage got Hello, World! too: the server never looks at what it read"))
    demo.explain(_("Part 1's server answers whatever it reads, one client at a time. Part 2 "
                   "parses the request line and hands the request to a web framework; Part 3 "
                   "serves many clients at once."))
    server.interrupt()


if __name__ == "__main__":
    demolib.Demo("1").run(body)
