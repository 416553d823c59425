"""nginx (Debian's nginx-light), a master and 2 workers on port 8888, as an
unprivileged user (every path in its own folder). Its workers are
pre-forked and event-driven; it keeps an HTTP/1.1 connection alive after a
response with Content-Length. It must pass 3g on its merits."""
import os

CONF = """
daemon off;
master_process on;
worker_processes 2;
pid %(dir)s/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    server {
        listen 8888;
        location / { default_type text/plain; return 200 "Hello, World!\\n"; }
    }
}
"""

here = os.getcwd()
with open("nginx.conf", "w") as f:
    f.write(CONF % {"dir": here})
os.execv("/usr/sbin/nginx", ["nginx", "-p", here, "-c", os.path.join(here, "nginx.conf"),
                             "-e", "stderr"])
