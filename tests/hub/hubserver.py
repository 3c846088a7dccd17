#!/usr/bin/env python3
"""A local stand-in for the Hugging Face Hub, for tests and benchmarks.

Standard library only. Two HTTP servers on 127.0.0.1 (port 0): the "hub"
(API, /resolve/ URLs, errors exactly as the real Hub sends them) and a "CDN"
that serves LFS file bytes behind absolute 302 redirects and records a
violation whenever a request reaches it with an Authorization header. The
first stdout line is JSON: {"hub": port, "cdn": port, "hub_url": ..., "cdn_url": ...}.

Fixtures (see tests/hub/README.md): <root>/<type>s/<org>/<name>/<branch>/<files...>
plus an optional <root>/<type>s/<org>/<name>/repo.json:
  {"private": false, "gated": false | "manual", "lfs": ["*.safetensors", ...],
   "refs": {"v1.0": "main", "refs/pr/1": "main"}, "renamed_from": "old-org/old-name",
   "extra_files": {"main": {"../evil.txt": "text"}}}

Faults are switched with command-line flags (--token, --page-size, --cdn-base...)
or at run time with POST /_control (JSON, merged into the fault state); GET
/_control returns the state, the request log and the violations.
"""
import argparse
import fnmatch
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hubwrite import WriteMixin  # noqa: E402  (the write half: repo creation, LFS uploads, commits)

LFS_DEFAULT = ["*.safetensors", "*.bin", "*.onnx", "*.pt", "*.pth", "*.h5", "*.msgpack", "*.ot",
               "*.model", "*.tflite", "*.gguf", "*.pte", "*.ptd", "*.npz"]
TYPES = {"models": "", "datasets": "datasets/", "spaces": "spaces/"}
CHUNK = 1 << 20


class File:
    def __init__(self, path, disk=None, data=None, lfs=False):
        self.path = path
        self.disk = disk
        self.data = data
        self.size = os.path.getsize(disk) if disk else len(data)
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % self.size)
        for chunk in self.chunks(0, self.size):
            sha256.update(chunk)
            if not lfs:
                sha1.update(chunk)
        self.sha256 = sha256.hexdigest()
        self.lfs = lfs
        self._md5 = None
        if lfs:
            self.pointer = ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
                            % (self.sha256, self.size)).encode()
            self.oid = hashlib.sha1(b"blob %d\0" % len(self.pointer) + self.pointer).hexdigest()
        else:
            self.oid = sha1.hexdigest()

    @property
    def md5(self):
        """MD5 of the content (what a plain S3 mirror puts in its ETag); computed on first use."""
        if self._md5 is None:
            h = hashlib.md5(usedforsecurity=False)
            for chunk in self.chunks(0, self.size):
                h.update(chunk)
            self._md5 = h.hexdigest()
        return self._md5

    def chunks(self, start, end):
        if self.data is not None:
            for i in range(start, end, CHUNK):
                yield self.data[i:min(end, i + CHUNK)]
            return
        with open(self.disk, "rb") as f:
            f.seek(start)
            left = end - start
            while left > 0:
                b = f.read(min(CHUNK, left))
                if not b:
                    break
                left -= len(b)
                yield b


class Repo:
    def __init__(self, rtype, repo_id, folder):
        self.type = rtype
        self.id = repo_id
        meta_path = os.path.join(folder, "repo.json")
        self.meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
        self.private = bool(self.meta.get("private"))
        self.gated = self.meta.get("gated", False)
        lfs_globs = self.meta.get("lfs", LFS_DEFAULT)
        self.branches = {}   # name -> (commit, {path: File})
        self.commits = {}    # commit -> files
        for branch in sorted(os.listdir(folder)):
            bdir = os.path.join(folder, branch)
            if not os.path.isdir(bdir):
                continue
            files = {}
            for dirpath, dirnames, filenames in os.walk(bdir, followlinks=True):
                dirnames.sort()
                for fn in sorted(filenames):
                    disk = os.path.join(dirpath, fn)
                    rel = os.path.relpath(disk, bdir).replace(os.sep, "/")
                    lfs = any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(fn, g) for g in lfs_globs)
                    files[rel] = File(rel, disk=disk, lfs=lfs)
            for rel, text in self.meta.get("extra_files", {}).get(branch, {}).items():
                data = text.encode()
                files[rel] = File(rel, data=data, lfs=False)
            h = hashlib.sha1(("%s\0%s\0%s" % (rtype, repo_id, branch)).encode())
            for rel in sorted(files):
                h.update(("%s\0%s\0" % (rel, files[rel].oid)).encode())
            commit = h.hexdigest()
            self.branches[branch] = (commit, files)
            self.commits[commit] = files
        self.refs = dict(self.meta.get("refs", {}))

    @classmethod
    def empty(cls, rtype, repo_id, private=False):
        """A repo made by POST /api/repos/create: one commit holding .gitattributes, as the Hub makes it."""
        repo = cls.__new__(cls)
        repo.type, repo.id, repo.meta = rtype, repo_id, {"private": private}
        repo.private, repo.gated, repo.refs = private, False, {}
        repo.branches, repo.commits = {}, {}
        ga = File(".gitattributes", data=b"*.pte filter=lfs diff=lfs merge=lfs -text\n", lfs=False)
        commit = hashlib.sha1(("%s\0%s\0initial" % (rtype, repo_id)).encode()).hexdigest()
        repo.set_branch("main", commit, {".gitattributes": ga})
        return repo

    def is_lfs_path(self, path):
        fn = path.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(path, g) or fnmatch.fnmatchcase(fn, g)
                   for g in self.meta.get("lfs", LFS_DEFAULT))

    def set_branch(self, branch, commit, files):
        self.branches[branch] = (commit, files)
        self.commits[commit] = files

    def resolve(self, rev):
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.refs and self.refs[rev] in self.branches:
            return self.branches[self.refs[rev]]
        if rev in self.commits:
            return rev, self.commits[rev]
        return None, None


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.root = args.root
        self.token = args.token
        self.approved = set(args.approved or [])
        self.page_size = args.page_size
        self.cdn_base = args.cdn_base
        self.faults = {"token_required": args.token_required, "ignore_range": False, "rate_limit": 0,
                       "rate_limit_style": "retry-after", "retry_after": 1, "fail500": 0, "fail500_target": "get",
                       "cut": 0, "cut_after": 0, "cut_path": "*", "corrupt": 0, "corrupt_path": "*", "slow_bps": 0,
                       "slow_path": "*", "stall": 0, "stall_s": 0, "latency_ms": 0, "no_tree": False, "resolve_cache": True,
                       "rate_limit_target": "all", "cdn_expired": 0, "cdn_redirect": 0,
                       "cdn_redirect_style": "absolute", "canonical_redirect": 0,
                       "canonical_redirect_target": "resolve", "canonical_redirect_style": "absolute",
                       "wrong_range": 0, "md5_etag": False, "huge_header": False, "huge_header_target": "all",
                       "error_message_template": ""}
        self.log = []
        self.violations = []
        self.lfs_store = {}   # oid -> bytes uploaded through the LFS batch API
        self.parts = {}       # oid -> {part number: (etag, bytes)}
        self.part_puts = []   # part numbers in the order they were PUT (tests read it)
        self.file_class = File
        self.repos = {}
        self.aliases = {}
        self.load()

    def load(self):
        repos, aliases = {}, {}
        for tdir in TYPES:
            base = os.path.join(self.root, tdir)
            if not os.path.isdir(base):
                continue
            for org in sorted(os.listdir(base)):
                for name in sorted(os.listdir(os.path.join(base, org))):
                    folder = os.path.join(base, org, name)
                    if not os.path.isdir(folder):
                        continue
                    repo = Repo(tdir, "%s/%s" % (org, name), folder)
                    repos[(tdir, repo.id)] = repo
                    if repo.meta.get("renamed_from"):
                        aliases[(tdir, repo.meta["renamed_from"])] = repo.id
        self.repos, self.aliases = repos, aliases

    def take(self, key):
        """Consume one unit of a counted fault; -1 means forever."""
        with self.lock:
            n = self.faults.get(key, 0)
            if not n:
                return False
            if n > 0:
                self.faults[key] = n - 1
            return True

    def make_empty_repo(self, tdir, repo_id, private=False):
        return Repo.empty(tdir, repo_id, private)

    def on(self, key):
        """A fault that is either a switch (true: always) or a count (take one)."""
        if self.faults.get(key) is True:
            return True
        return self.take(key)


def make_handler(state, role, ports):
    class Handler(WriteMixin, BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "hubserver/1"

        kind = None  # "api", "resolve" or "cdn" once dispatched: which faults apply

        def log_message(self, fmt, *args):
            pass

        def setup(self):
            super().setup()
            # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms per answer
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        # ---- plumbing ----
        def record(self, status):
            entry = {"server": role, "method": self.command, "path": self.path, "status": status,
                     "range": self.headers.get("Range"), "host": self.headers.get("Host"),
                     "auth": self.headers.get("Authorization") is not None,
                     "user_agent": self.headers.get("User-Agent")}
            with state.lock:
                state.log.append(entry)
                if role == "cdn" and self.headers.get("Authorization") is not None:
                    state.violations.append("the CDN received an Authorization header: %s %s"
                                            % (self.command, self.path))

        def huge_header(self):
            """A 10 KB header line (fault huge_header): more than any client should buffer per line."""
            target = state.faults.get("huge_header_target", "all")
            if self.kind and target in ("all", self.kind) and state.on("huge_header"):
                self.send_header("X-Padding", "a" * 10240)

        def send(self, status, headers=None, body=b"", ctype="application/json"):
            self.record(status)
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.huge_header()
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def error(self, status, code, message, extra=None):
            template = state.faults.get("error_message_template")
            if template:
                # a careless mirror: its own words around the hub's, even the credentials it got
                message = template.replace("{message}", message).replace(
                    "{auth}", self.headers.get("Authorization") or "")
            headers = {"X-Error-Message": message, "X-Request-Id": "local-%d" % time.time_ns()}
            if code:
                headers["X-Error-Code"] = code
            headers.update(extra or {})
            self.send(status, headers, json.dumps({"error": message}).encode())

        def auth(self):
            """'none', 'ok' or 'bad' for the request's bearer token."""
            h = self.headers.get("Authorization")
            if not h:
                return "none"
            if state.token and h == "Bearer " + state.token:
                return "ok"
            return "bad"

        # ---- dispatch ----
        def do_HEAD(self):
            self.dispatch()

        def do_GET(self):
            self.dispatch()

        def do_POST(self):
            self.kind = None
            if role == "hub" and self.path.startswith("/_control"):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with state.lock:
                    if body.pop("reload", False):
                        state.load()
                    if body.pop("clear_log", False):
                        state.log.clear()
                        state.violations.clear()
                    for k in ("token", "page_size"):
                        if k in body:
                            setattr(state, k, body.pop(k))
                    if "approved" in body:
                        state.approved = set(body.pop("approved"))
                    state.faults.update(body)
                self.send(200, body=b"{}")
                return
            try:
                return self.storage_write() if role == "cdn" else self.hub_write()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_PUT(self):
            self.kind = None
            if role == "cdn":
                try:
                    return self.storage_write()
                except (BrokenPipeError, ConnectionResetError):
                    return
            self.error(405, None, "method not allowed")

        def dispatch(self):
            self.kind = None  # one handler serves every request of a kept-alive connection
            try:
                if role == "cdn":
                    return self.cdn()
                url = urllib.parse.urlsplit(self.path)
                path = url.path
                query = urllib.parse.parse_qs(url.query)
                if path == "/_control":
                    with state.lock:
                        body = json.dumps({"faults": state.faults, "log": state.log,
                                       "violations": state.violations, "part_puts": state.part_puts}).encode()
                    return self.send(200, body=body)
                if state.faults.get("latency_ms"):
                    time.sleep(state.faults["latency_ms"] / 1000.0)  # a network round trip to a far Hub
                if state.faults.get("stall_s") and state.take("stall"):
                    time.sleep(state.faults["stall_s"])
                self.kind = "api" if path.startswith("/api/") and not path.startswith("/api/resolve-cache/") \
                    else "resolve"
                if self.canonical_redirect():
                    return
                if path.startswith("/api/resolve-cache/"):
                    return self.resolve_cache(path)
                if path.startswith("/api/"):
                    return self.api(path, query)
                return self.resolve(path)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def canonical_redirect(self):
            """A mirror sending clients to its canonical host: 301 to the same path on localhost (another
            origin than 127.0.0.1), without X-Repo-Commit. Requests already on localhost are answered."""
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            target = state.faults.get("canonical_redirect_target", "resolve")
            if host == "localhost" or target not in ("all", self.kind) or not state.take("canonical_redirect"):
                return False
            loc = "//localhost:%d%s" % (ports["hub"], self.path)
            if state.faults.get("canonical_redirect_style") != "protocol":
                loc = "http:" + loc
            self.send(301, {"Location": loc}, ctype="text/plain")
            return True

        # ---- repos and auth ----
        def find_repo(self, tdir, repo_id, rest_for_redirect):
            repo = state.repos.get((tdir, repo_id))
            if repo is None and (tdir, repo_id) in state.aliases:
                new = state.aliases[(tdir, repo_id)]
                return None, rest_for_redirect(new)
            return repo, None

        def gate(self, repo, for_bytes):
            """Send the Hub's auth error and return True when access is refused."""
            a = self.auth()
            if a == "bad":
                self.error(401, None, "Invalid credentials in Authorization header")
                return True
            if (repo is None or repo.private or state.faults.get("token_required")) and a == "none":
                self.error(401, "RepoNotFound", "Repository not found")
                return True
            if repo is None:
                self.error(404, "RepoNotFound", "Repository not found")
                return True
            if repo.gated and for_bytes:
                if a == "none":
                    self.error(401, "GatedRepo", "Access to model %s is restricted. You must have access to it "
                               "and be authenticated to access it. Please log in." % repo.id)
                    return True
                if repo.id not in state.approved:
                    self.error(403, "GatedRepo", "Access to model %s is restricted and you are not in the "
                               "authorized list. Visit http://127.0.0.1:%d/%s to ask for access."
                               % (repo.id, ports["hub"], repo.id))
                    return True
            return False

        def rate_limited(self):
            if state.faults.get("rate_limit_target", "all") in ("all", self.kind) and state.take("rate_limit"):
                t = str(state.faults.get("retry_after", 1))
                if state.faults.get("rate_limit_style") == "ratelimit":
                    h = {"RateLimit": '"resolvers";r=0;t=%s' % t,
                         "RateLimit-Policy": '"fixed window";"resolvers";q=3000;w=300'}
                else:
                    h = {"Retry-After": t}
                self.error(429, None, "rate limited", h)
                return True
            return False

        # ---- API ----
        def api(self, path, query):
            m = re.match(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+|[^/]+)(?:/(revision|tree)/(.*))?$", path)
            if not m:
                return self.error(404, None, "Sorry, we can't find the page you are looking for.")
            tdir, repo_id, kind, rest = m.group(1), m.group(2), m.group(3), m.group(4)
            repo, redirect = self.find_repo(tdir, repo_id, lambda new: path.replace(repo_id, new, 1))
            if redirect:
                return self.send(307, {"Location": redirect + ("?" + urllib.parse.urlsplit(self.path).query
                                                               if "?" in self.path else "")})
            if self.rate_limited():
                return
            if state.faults.get("fail500_target") == "api" and state.take("fail500"):
                return self.error(500, None, "Internal Error")
            if self.gate(repo, False):
                return
            if kind == "tree":
                if state.faults.get("no_tree"):
                    return self.error(404, None, "Not Found")
                rev, _, sub = rest.partition("/")
                return self.tree(repo, urllib.parse.unquote(rev), urllib.parse.unquote(sub), query)
            rev = urllib.parse.unquote(rest) if kind == "revision" else "main"
            commit, files = repo.resolve(rev)
            if commit is None:
                return self.error(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = []
            for p in sorted(files):
                f = files[p]
                s = {"rfilename": p}
                if blobs:
                    s["size"] = f.size
                    s["blobId"] = f.oid
                    if f.lfs:
                        s["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": len(f.pointer)}
                siblings.append(s)
            info = {"_id": "x", "id": repo.id, "modelId": repo.id, "sha": commit, "private": repo.private,
                    "gated": repo.gated, "disabled": False, "tags": [], "siblings": siblings,
                    "lastModified": "2026-01-01T00:00:00.000Z"}
            self.send(200, body=json.dumps(info).encode())

        def tree(self, repo, rev, sub, query):
            commit, files = repo.resolve(rev)
            if commit is None:
                return self.error(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            prefix = sub.strip("/") + "/" if sub.strip("/") else ""
            entries, dirs = [], set()
            for p in sorted(files):
                if not p.startswith(prefix):
                    continue
                rest = p[len(prefix):]
                parts = rest.split("/")
                for i in range(1, len(parts)):
                    d = prefix + "/".join(parts[:i])
                    if (recursive or i == 1) and d not in dirs:
                        dirs.add(d)
                        entries.append({"type": "directory", "path": d, "oid": hashlib.sha1(d.encode()).hexdigest(),
                                        "size": 0})
                if not recursive and len(parts) > 1:
                    continue
                f = files[p]
                e = {"type": "file", "path": p, "size": f.size, "oid": f.oid}
                if f.lfs:
                    e["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": len(f.pointer)}
                entries.append(e)
            if prefix and not entries:
                return self.error(404, "EntryNotFound", "%s does not exist on \"%s\"" % (sub, rev),
                                  {"X-Repo-Commit": commit})
            cursor = int(query.get("cursor", ["0"])[0] or 0)
            page = entries[cursor:cursor + state.page_size]
            headers = {}
            if cursor + state.page_size < len(entries):
                q = dict((k, v[0]) for k, v in query.items())
                q["cursor"] = str(cursor + state.page_size)
                nxt = "http://127.0.0.1:%d%s?%s" % (ports["hub"], urllib.parse.urlsplit(self.path).path,
                                                     urllib.parse.urlencode(q))
                headers["Link"] = '<%s>; rel="next"' % nxt
            self.send(200, headers, json.dumps(page).encode())

        # ---- resolve ----
        def resolve(self, path):
            m = re.match(r"^/(datasets/|spaces/)?([^/]+/[^/]+|[^/]+)/resolve/([^/]+)/(.+)$", path)
            if not m:
                return self.error(404, None, "Sorry, we can't find the page you are looking for.")
            tdir = {"datasets/": "datasets", "spaces/": "spaces"}.get(m.group(1) or "", "models")
            repo_id, rev, fpath = m.group(2), urllib.parse.unquote(m.group(3)), urllib.parse.unquote(m.group(4))
            repo, redirect = self.find_repo(tdir, repo_id, lambda new: path.replace("/" + repo_id + "/",
                                                                                    "/" + new + "/", 1))
            if redirect:
                return self.send(307, {"Location": redirect})
            if self.rate_limited():
                return
            target = "head" if self.command == "HEAD" else "get"
            if state.faults.get("fail500_target") == target and state.take("fail500"):
                return self.error(500, None, "Internal Error")
            if self.gate(repo, True):
                return
            commit, files = repo.resolve(rev)
            if commit is None:
                return self.error(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
            f = files.get(fpath)
            if f is None:
                return self.error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
            if f.lfs:
                base = state.cdn_base or "http://127.0.0.1:%d" % ports["cdn"]
                loc = "%s/lfs/%s?X-Amz-Expires=3600&sig=%d" % (base.rstrip("/"), f.sha256, time.time_ns())
                # a mirror on plain S3 may name LFS objects by the MD5 its storage reports
                etag = f.md5 if state.faults.get("md5_etag") else f.sha256
                return self.send(302, {"Location": loc, "X-Linked-Etag": '"%s"' % etag,
                                       "X-Linked-Size": str(f.size), "X-Repo-Commit": commit,
                                       "ETag": '"%s"' % f.oid, "Accept-Ranges": "bytes",
                                       "RateLimit": '"resolvers";r=2999;t=100'}, ctype="text/plain")
            if state.faults.get("resolve_cache"):
                # the real Hub answers small git files with a relative 307 to its resolve cache
                q = urllib.parse.quote(fpath)
                return self.send(307, {"Location": "/api/resolve-cache/%s/%s/%s/%s" % (tdir, repo.id, commit, q),
                                       "X-Repo-Commit": commit}, ctype="text/plain")
            self.serve_bytes(f, {"ETag": '"%s"' % f.oid, "X-Repo-Commit": commit})

        def resolve_cache(self, path):
            m = re.match(r"^/api/resolve-cache/(models|datasets|spaces)/([^/]+/[^/]+|[^/]+)/([0-9a-f]{40})/(.+)$",
                         path)
            if not m:
                return self.error(404, None, "Not Found")
            repo = state.repos.get((m.group(1), m.group(2)))
            if self.gate(repo, True):
                return
            files = repo.commits.get(m.group(3))
            f = files.get(urllib.parse.unquote(m.group(4))) if files else None
            if f is None:
                return self.error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": m.group(3)})
            target = "head" if self.command == "HEAD" else "get"
            if state.faults.get("fail500_target") == target and state.take("fail500"):
                return self.error(500, None, "Internal Error")
            self.serve_bytes(f, {"ETag": '"%s"' % f.oid, "X-Repo-Commit": m.group(3)})

        # ---- CDN ----
        def cdn(self):
            self.kind = "cdn"
            m = re.match(r"^/lfs/([0-9a-f]{64})(\?.*)?$", self.path)
            f = None
            if m:
                for repo in state.repos.values():
                    for files in repo.commits.values():
                        for cand in files.values():
                            if cand.sha256 == m.group(1) and cand.lfs:
                                f = cand
            if f is None:
                self.record(404)
                return self.error(404, None, "NoSuchKey")
            if "moved=1" not in self.path and state.take("cdn_redirect"):
                # the bytes moved (another bucket, another edge): same object, "&moved=1" marks the hop
                moved = self.path + "&moved=1"
                style = state.faults.get("cdn_redirect_style", "absolute")
                loc = {"absolute": "http://127.0.0.1:%d%s" % (ports["cdn"], moved),
                       "protocol": "//127.0.0.1:%d%s" % (ports["cdn"], moved),
                       "relative": moved,
                       "path": moved[len("/lfs/"):]}[style]
                return self.send(302, {"Location": loc}, ctype="text/plain")
            if self.headers.get("Range") and state.take("cdn_expired"):
                # a signed URL that expired between the first GET and the resume (S3's answer)
                body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                        b"<Message>Request has expired</Message></Error>")
                return self.send(403, {}, body, ctype="application/xml")
            if state.faults.get("fail500_target") == "cdn" and state.take("fail500"):
                return self.error(500, None, "Internal Error")
            self.serve_bytes(f, {"ETag": '"cdn-%s"' % f.sha256[:16]})

        # ---- bytes with Range and faults ----
        def serve_bytes(self, f, headers):
            total = f.size
            start, end, status = 0, total, 200
            rng = self.headers.get("Range")
            if rng and not state.faults.get("ignore_range"):
                m = re.match(r"^bytes=(\d+)-(\d*)$", rng.strip())
                if not m:
                    return self.error(416, None, "Invalid range", {"Content-Range": "bytes */%d" % total})
                start = int(m.group(1))
                end = min(total, int(m.group(2)) + 1) if m.group(2) else total
                if start >= total or start >= end:
                    return self.error(416, None, "Requested Range Not Satisfiable",
                                      {"Content-Range": "bytes */%d" % total})
                status = 206
                if start > 0 and state.take("wrong_range"):
                    # a broken cache or proxy: as many bytes as asked, but from the start (honestly labelled)
                    start, end = 0, end - start
                headers["Content-Range"] = "bytes %d-%d/%d" % (start, end - 1, total)
            self.record(status)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start))
            self.huge_header()
            self.end_headers()
            if self.command == "HEAD":
                return
            corrupt = fnmatch.fnmatchcase(f.path, state.faults.get("corrupt_path", "*")) and state.take("corrupt")
            cut_after = int(state.faults.get("cut_after", 0))
            cut = (end - start > cut_after and fnmatch.fnmatchcase(f.path, state.faults.get("cut_path", "*"))
                   and state.take("cut"))
            slow = int(state.faults.get("slow_bps", 0)) if fnmatch.fnmatchcase(
                f.path, state.faults.get("slow_path", "*")) else 0
            sent = 0
            step = CHUNK if not slow else max(1, slow // 10)
            pos = start
            for chunk in f.chunks(start, end):
                for i in range(0, len(chunk), step):
                    piece = chunk[i:i + step]
                    if corrupt and pos == start:
                        piece = bytes([piece[0] ^ 0xFF]) + piece[1:]
                    if cut and sent + len(piece) > cut_after:
                        self.wfile.write(piece[:max(0, cut_after - sent)])
                        self.wfile.flush()
                        self.close_connection = True
                        try:
                            self.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        return
                    self.wfile.write(piece)
                    sent += len(piece)
                    pos += len(piece)
                    if slow:
                        self.wfile.flush()
                        time.sleep(len(piece) / slow)

    Handler.state, Handler.ports, Handler.role = state, ports, role
    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="fixtures folder")
    ap.add_argument("--token", help="the one token the hub accepts")
    ap.add_argument("--approved", action="append", help="gated repo ids the token is approved for")
    ap.add_argument("--token-required", action="store_true", help="every request needs the token")
    ap.add_argument("--page-size", type=int, default=50, help="tree entries per page (Link pagination)")
    ap.add_argument("--cdn-base", help="LFS redirects go here instead of the built-in CDN (benchmarks: nginx)")
    ap.add_argument("--latency-ms", type=int, default=0, help="sleep this long before each hub answer (RTT)")
    ap.add_argument("--no-resolve-cache", action="store_true",
                    help="answer git files directly instead of a relative 307 to /api/resolve-cache/")
    args = ap.parse_args()
    state = State(args)
    state.faults["latency_ms"] = args.latency_ms
    if args.no_resolve_cache:
        state.faults["resolve_cache"] = False
    ports = {}
    # the default listen backlog of 5 drops SYNs when 8 clients connect at once (1 s retransmits)
    ThreadingHTTPServer.request_queue_size = 128
    hub = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state, "hub", ports))
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state, "cdn", ports))
    hub.daemon_threads = cdn.daemon_threads = True
    ports["hub"], ports["cdn"] = hub.server_address[1], cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    print(json.dumps({"hub": ports["hub"], "cdn": ports["cdn"], "hub_url": "http://127.0.0.1:%d" % ports["hub"],
                      "cdn_url": "http://127.0.0.1:%d" % ports["cdn"]}), flush=True)
    try:
        hub.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
