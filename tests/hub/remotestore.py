"""Servers for the remote store's tests (tests/cli/test_remote_store.py) and
bench: nginx with WebDAV PUT on 127.0.0.1 (a real Bazel-style HTTP cache, as
the README's setup describes it), and a small Python server that injects
faults (5xx, 507, slow answers, redirects) into the same protocol."""
import http.server
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_has_dav():
    if not os.path.exists(NGINX):
        return False
    r = subprocess.run([NGINX, "-V"], capture_output=True, text=True)
    return "--with-http_dav_module" in r.stderr + r.stdout


class Nginx:
    """nginx serving <dir>/root with PUT (create_full_put_path on) on a free loopback port."""

    def __init__(self, dir):
        self.dir = pathlib.Path(dir)
        self.root = self.dir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        (self.dir / "body").mkdir(exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.dir / "nginx.conf"
        conf.write_text(f"""
            {user}
            daemon off;
            worker_processes 1;
            pid {self.dir}/nginx.pid;
            error_log {self.dir}/error.log;
            events {{ worker_connections 64; }}
            http {{
                access_log {self.dir}/access.log;
                client_body_temp_path {self.dir}/body;
                proxy_temp_path {self.dir}/body;
                fastcgi_temp_path {self.dir}/body;
                uwsgi_temp_path {self.dir}/body;
                scgi_temp_path {self.dir}/body;
                server {{
                    listen 127.0.0.1:{self.port};
                    root {self.root};
                    location / {{
                        dav_methods PUT DELETE;
                        create_full_put_path on;
                        dav_access user:rw group:r all:r;
                        client_max_body_size 0;
                    }}
                }}
            }}
        """)
        self.proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(self.dir), "-e", str(self.dir / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("nginx did not start: " + self.proc.stderr.read().decode())
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def keys(self, ns):
        d = self.root / ns
        return sorted(p.name for p in d.iterdir()) if d.exists() else []


class FaultServer:
    """An in-memory Bazel HTTP cache. `faults` is a list of (method, prefix, action) tried in order;
    an action is ("status", code, times) -> answer code `times` times, ("sleep", seconds) -> stall
    before answering, ("redirect", url_base) -> 307 to url_base + path, ("truncate",) -> a GET
    answered with half its body and the connection closed. Records every request with
    its Authorization header in `seen`."""

    def __init__(self):
        self.blobs = {}
        self.faults = []
        self.seen = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def fault(self):
                server.seen.append((self.command, self.path, self.headers.get("Authorization")))
                for f in server.faults:
                    method, prefix, action = f
                    if method not in (self.command, "*") or not self.path.startswith(prefix):
                        continue
                    if action[0] == "status" and action[2] > 0:
                        f[2] = ("status", action[1], action[2] - 1)
                        return action[1]
                    if action[0] == "sleep":
                        time.sleep(action[1])
                    if action[0] == "truncate" and self.command == "GET" and self.path in server.blobs:
                        body = server.blobs[self.path]
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return 0
                    if action[0] == "redirect":
                        self.send_response(307)
                        self.send_header("Location", action[1] + self.path)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return 0
                return None

            def answer(self, code, body=b""):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                code = self.fault()
                if code == 0:
                    return
                if code:
                    return self.answer(code)
                body = server.blobs.get(self.path)
                self.answer(200, body) if body is not None else self.answer(404)

            def do_HEAD(self):
                self.do_GET()

            def do_PUT(self):
                n = int(self.headers.get("Content-Length", "0"))
                code = self.fault()
                body = self.rfile.read(n)
                if code == 0:
                    return
                if code:
                    return self.answer(code)
                server.blobs[self.path] = body
                self.answer(201)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def fault(self, method, prefix, *action):
        self.faults.append([method, prefix, tuple(action)])

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def keys(self, ns):
        return sorted(k.rsplit("/", 1)[1] for k in self.blobs if k.startswith(f"/{ns}/"))
