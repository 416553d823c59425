"""The grader's probe: a WSGI application that tells what the server gave
it (lab check 2 starts the server with labprobe:app). Every body ends with
the line "lab-probe-end".

/environ   the environ, as JSON: for each key, its type and value
/status    404 Not Found, with the header X-Lab-Probe: status
/chunks    a body in three chunks, from a generator
/close     a body whose iterable's close() prints "lab-probe: close() called"
/input     what environ['wsgi.input'] gave for the request's body, as JSON
"""
import json
import sys

END = b"\nlab-probe-end\n"


def describe(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return [type(value).__name__, value]
    if isinstance(value, tuple):
        return [type(value).__name__, list(value)]
    return [type(value).__name__, repr(value)[:80]]


class Closing:
    def __init__(self, parts):
        self.parts = parts

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        print("lab-probe: close() called")
        sys.stdout.flush()


def chunks():
    yield b"lab-"
    yield b"probe-"
    yield b"chunks" + END


def app(environ, start_response):
    where = environ.get("PATH_INFO", "").split("?")[0]
    text = [("Content-Type", "text/plain")]
    if where == "/environ":
        body = json.dumps({k: describe(v) for k, v in environ.items()},
                          sort_keys=True).encode() + END
        start_response("200 OK", text)
        return [body]
    if where == "/status":
        start_response("404 Not Found", text + [("X-Lab-Probe", "status")])
        return [b"lab probe: no such page" + END]
    if where == "/chunks":
        start_response("200 OK", text)
        return chunks()
    if where == "/close":
        start_response("200 OK", text)
        return Closing([b"lab-probe-", b"close" + END])
    if where == "/input":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        stream = environ["wsgi.input"]
        data = stream.read(length) if length else stream.read()
        if isinstance(data, bytes):
            shown = data.decode("latin-1")
        else:
            shown = str(data)
        start_response("200 OK", text)
        return [json.dumps({"type": type(data).__name__, "data": shown[:200]}).encode() + END]
    start_response("200 OK", text)
    return [b"Hello world from the lab's probe!" + END]
