"""lab demo 2: a WSGI server.

One server, any WSGI framework: webserver2.py serves the article's Flask,
Pyramid and Django applications, unchanged, and `curl -v` shows each answer;
then the grader's probe application shows the environ the server builds.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import demolib  # noqa: E402
from demolib import _  # noqa: E402

APPS = (("flaskapp:app", "Hello world from Flask!"),
        ("pyramidapp:app", "Hello world from Pyramid!"),
        ("djangoapp:app", "Hello world from Django!"))


def body(demo):
    server = demo.server_terminal("server")
    client = demo.client_terminal("client")
    for app, answer in APPS:
        demo.step(_("the server with {}").format(app))
        demo.start_server(server, "python3 webserver2.py {}".format(app), "webserver2.py")
        out = client.run("curl -v http://localhost:8888/hello", timeout=15, what="curl")
        demo.check(answer in out, _('"{}" through the server').format(answer), out[-300:])
        server.expect(r"> Server: WSGIServer 0\.2", 5, _("the server to print its response"))
        demo.ok(_('curl got "{}": the same server, another framework').format(answer))
        server.interrupt()
    demo.explain(_("python3 webserver2.py MODULE:CALLABLE imports the module and calls the "
                   "callable for each request: application(environ, start_response). The "
                   "framework never sees the socket, and the server never sees the framework."))

    demo.step(_("the environ: what the server gives the application"))
    demo.start_server(server, "python3 webserver2.py labprobe:app", "webserver2.py")
    out = client.run("curl -s 'http://localhost:8888/environ?lab=probe' | head -1 | "
                     "python3 -m json.tool", timeout=15, what="curl")
    for key in ("REQUEST_METHOD", "PATH_INFO", "wsgi.input", "SERVER_PORT"):
        demo.check('"{}"'.format(key) in out, _("{} in the environ").format(key), out[-300:])
    demo.check('"/environ?lab=probe"' in out and '"QUERY_STRING"' not in out,
               _("PATH_INFO with the query in it, and no QUERY_STRING"), out[-600:])
    demo.ok(_("the environ has the keys the article's get_environ() sets; PATH_INFO keeps the "
              "query (?lab=probe), and QUERY_STRING, SERVER_PROTOCOL and the HTTP_ headers are "
              "missing: lab check 2 says what PEP 3333 asks"))
    server.interrupt()


if __name__ == "__main__":
    demolib.Demo("2").run(body)
