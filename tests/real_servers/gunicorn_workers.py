"""gunicorn (Debian's python3-gunicorn) with 4 sync workers on port 8888:
pre-forked workers that each serve many connections, and an arbiter that
reaps and replaces any that die. It must pass 3g on its merits."""
import sys

WORKERS = "4"


def app(environ, start_response):
    body = b"Hello, World!\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    from gunicorn.app.wsgiapp import run
    module = __file__.rsplit("/", 1)[-1][:-3]
    sys.argv = ["gunicorn", "--workers", WORKERS, "--bind", "0.0.0.0:8888",
                "--worker-tmp-dir", ".", "%s:app" % module]
    run()
