"""The standard library's http.server (ThreadingHTTPServer, a thread per
connection), serving a file named hello from its folder, as
`python3 -m http.server 8888` does."""
import functools
import http.server
import os

with open("hello", "w") as f:
    f.write("Hello, World!\n")
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.getcwd())
http.server.ThreadingHTTPServer(("", 8888), handler).serve_forever()
