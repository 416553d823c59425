# A WSGI application without a framework (Part 2): a callable that takes the
# environ and start_response, and returns an iterable of bytes.
# Serve it with: python3 webserver2.py wsgiapp:app


def app(environ, start_response):
    """A barebones WSGI application.

    This is a starting point for your own Web framework :)
    """
    status = '200 OK'
    response_headers = [('Content-Type', 'text/plain')]
    start_response(status, response_headers)
    return [b'Hello world from a simple WSGI application!\n']
