"""gunicorn with a single sync worker: one connection at a time, so not
concurrent (a silent client holds the only worker)."""
import sys


def app(environ, start_response):
    body = b"Hello, World!\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    from gunicorn.app.wsgiapp import run
    module = __file__.rsplit("/", 1)[-1][:-3]
    sys.argv = ["gunicorn", "--workers", "1", "--bind", "0.0.0.0:8888",
                "--worker-tmp-dir", ".", "%s:app" % module]
    run()
