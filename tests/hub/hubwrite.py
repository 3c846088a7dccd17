"""The write half of the local Hub (tests/hub/hubserver.py): repo creation, preupload, the Git LFS batch
API with basic and multipart transfers to a storage host (the "cdn" server, which records a violation
for any Authorization header), verify, and the NDJSON commit with its parent-commit check, as
huggingface_hub's hf_api.py, _commit_api.py and lfs.py drive them (docs: hub-upload-protocol.md).
Commits live in memory: the read side (revision info, tree, resolve, CDN) serves them at once, so a
`pteflow fetch` of the new revision works.

Faults (POST /_control), each a count (-1: always) unless said otherwise:
  write_forbidden     403 on every write call (a read-only token)
  write_fail          answer write_fail_status (default 503) with Retry-After: retry_after, on
                      write_fail_target: "preupload", "batch", "part", "complete", "verify", "commit"
  cut_part            close the connection halfway through the body of the next part PUT (of part
                      cut_part_number only, when set)
  bump_head           before checking a commit, move the branch on (someone pushed meanwhile)
  chunk_size          multipart part size for objects larger than it (switch; default 8 MiB)
"""
import base64
import hashlib
import json
import re
import time
import urllib.parse

LFS_JSON = "application/vnd.git-lfs+json"


def new_commit_id(*parts):
    h = hashlib.sha1()
    for p in parts:
        h.update(str(p).encode() + b"\0")
    h.update(str(time.time_ns()).encode())
    return h.hexdigest()


class WriteMixin:
    """Methods of the request handler (self.state, self.role, self.ports are set by hubserver)."""

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def write_fault(self, target):
        st = self.state
        if st.faults.get("write_fail_target") == target and st.take("write_fail"):
            status = int(st.faults.get("write_fail_status", 503))
            self.error(status, None, "try again later", {"Retry-After": str(st.faults.get("retry_after", 1))})
            return True
        return False

    def write_gate(self, repo=None, need_repo=True):
        a = self.auth()
        if a == "bad":
            self.error(401, None, "Invalid credentials in Authorization header")
            return True
        if a == "none":
            self.error(401, None, "You must be authenticated to write to the Hub")
            return True
        if self.state.on("write_forbidden"):
            self.error(403, None, "You don't have the rights to write to this repository")
            return True
        if need_repo and repo is None:
            self.error(404, "RepoNotFound", "Repository Not Found for url: %s" % self.path)
            return True
        return False

    # ---- hub: POST routes ----
    def hub_write(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path == "/api/repos/create":
            return self.create_repo()
        if path == "/api/validate-yaml":
            self.read_body()
            return self.send(200, body=b'{"errors": [], "warnings": []}')
        m = re.match(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/(preupload|commit)/(.+)$", path)
        if m:
            tdir, repo_id, what, rev = m.group(1), m.group(2), m.group(3), urllib.parse.unquote(m.group(4))
            repo = self.state.repos.get((tdir, repo_id))
            body = self.read_body()
            if self.write_gate(repo):
                return
            if self.write_fault(what):
                return
            return self.preupload(repo, rev, body) if what == "preupload" else self.commit(repo, rev, body)
        m = re.match(r"^/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/(batch|verify)$", path)
        if m:
            tdir = {"datasets/": "datasets", "spaces/": "spaces"}.get(m.group(1) or "", "models")
            repo = self.state.repos.get((tdir, m.group(2)))
            body = self.read_body()
            if self.write_gate(repo):
                return
            if self.write_fault(m.group(3)):
                return
            return self.lfs_batch(body) if m.group(3) == "batch" else self.lfs_verify(body)
        self.read_body()
        return self.error(404, None, "Sorry, we can't find the page you are looking for.")

    def create_repo(self):
        body = json.loads(self.read_body() or b"{}")
        if self.write_gate(need_repo=False):
            return
        name, org = body.get("name"), body.get("organization")
        rtype = body.get("type") or "model"
        if not name or not isinstance(name, str):
            return self.error(400, None, "name is required")
        repo_id = "%s/%s" % (org, name) if org else name
        tdir = rtype + "s"
        url = "http://127.0.0.1:%d/%s%s" % (self.ports["hub"], "" if tdir == "models" else tdir + "/", repo_id)
        with self.state.lock:  # nothing is sent while holding it: send() logs under the same lock
            exists = (tdir, repo_id) in self.state.repos
            if not exists:
                private = bool(body.get("private")) or body.get("visibility") == "private"
                self.state.repos[(tdir, repo_id)] = self.state.make_empty_repo(tdir, repo_id, private=private)
        if exists:
            return self.send(409, body=json.dumps({"error": "You already created this model repo",
                                                   "url": url}).encode())
        self.send(200, body=json.dumps({"url": url, "name": repo_id, "id": repo_id}).encode())

    def preupload(self, repo, rev, body):
        req = json.loads(body or b"{}")
        commit, files = repo.resolve(rev)
        if commit is None:
            return self.error(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
        out = []
        for f in req.get("files", []):
            path, size = f["path"], int(f["size"])
            lfs = size > 0 and (size >= 10 * 1024 * 1024 or repo.is_lfs_path(path))
            entry = {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            have = files.get(path)
            if have is not None:
                entry["oid"] = have.sha256 if have.lfs else have.oid
            out.append(entry)
        self.send(200, body=json.dumps({"files": out, "commitOid": commit}).encode())

    def lfs_batch(self, body):
        req = json.loads(body or b"{}")
        st = self.state
        chunk = int(st.faults.get("chunk_size") or 8 * 1024 * 1024)
        storage = "http://127.0.0.1:%d" % self.ports["cdn"]
        objects, multipart = [], False
        for o in req.get("objects", []):
            oid, size = o["oid"], int(o["size"])
            if oid in st.lfs_store:
                objects.append({"oid": oid, "size": size})
                continue
            upload = {"href": "%s/upload/%s?size=%d" % (storage, oid, size), "expires_in": 3600}
            if size > chunk:
                multipart = True
                n = (size + chunk - 1) // chunk
                header = {"chunk_size": str(chunk)}
                for i in range(1, n + 1):
                    header["%05d" % i] = "%s/upload/%s/part/%d" % (storage, oid, i)
                upload["header"] = header
            verify = {"href": "http://127.0.0.1:%d%s" % (self.ports["hub"], self.path.replace("/batch", "/verify"))}
            objects.append({"oid": oid, "size": size, "authenticated": True,
                            "actions": {"upload": upload, "verify": verify}})
        answer = {"transfer": "multipart" if multipart else "basic", "objects": objects, "hash_algo": "sha256"}
        self.send(200, body=json.dumps(answer).encode(), ctype=LFS_JSON)

    def lfs_verify(self, body):
        req = json.loads(body or b"{}")
        data = self.state.lfs_store.get(req.get("oid"))
        if data is None or len(data) != int(req.get("size", -1)):
            return self.error(404, None, "object %s not found or of another size" % req.get("oid"))
        self.send(200, body=b"{}")

    def commit(self, repo, rev, body):
        st = self.state
        lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
        if not lines or lines[0].get("key") != "header":
            return self.error(400, None, "the first line must be the header")
        header = lines[0]["value"]
        if not header.get("summary"):
            return self.error(400, None, "summary is required")
        with st.lock:  # nothing is sent while holding it: send() logs under the same lock
            failure, commit = self.apply_commit(repo, rev, header, lines[1:])
        if failure:
            return self.error(*failure)
        prefix = "" if repo.type == "models" else repo.type + "/"
        url = "http://127.0.0.1:%d/%s%s/commit/%s" % (self.ports["hub"], prefix, repo.id, commit)
        self.send(200, body=json.dumps({"success": True, "commitOid": commit, "commitUrl": url,
                                        "hookOutput": ""}).encode())

    def apply_commit(self, repo, rev, header, ops):
        """(error arguments, None) or (None, new commit id); called with the state lock held."""
        st = self.state
        head, files = repo.resolve(rev)
        if head is None:
            return (404, "RevisionNotFound", "Invalid rev id: %s" % rev), None
        if st.faults.get("bump_head"):
            if st.faults["bump_head"] > 0:
                st.faults["bump_head"] -= 1
            # someone else pushed to the branch meanwhile
            files = dict(files)
            files["OTHER.md"] = st.file_class("OTHER.md", data=b"pushed by someone else\n", lfs=False)
            head = new_commit_id(head, "other")
            repo.set_branch(rev, head, files)
        parent = header.get("parentCommit")
        if parent and parent != head:
            return (412, None, "A commit has happened since. Please refresh and try again."), None
        new_files = dict(files)
        for line in ops:
            k, v = line.get("key"), line.get("value", {})
            path = v.get("path", "")
            if not path or path.startswith("/") or ".." in path.split("/") or ".git" in path.split("/"):
                return (400, None, "invalid path %r" % path), None
            if k == "file":
                new_files[path] = st.file_class(path, data=base64.b64decode(v["content"]), lfs=False)
            elif k == "lfsFile":
                data = st.lfs_store.get(v.get("oid"))
                if data is None or ("size" in v and len(data) != int(v["size"])):
                    return (400, None, "LFS object %s was not uploaded" % v.get("oid")), None
                new_files[path] = st.file_class(path, data=data, lfs=True)
            elif k == "deletedFile":
                new_files.pop(path, None)
            else:
                return (400, None, "unknown key %r" % k), None
        commit = new_commit_id(head, header.get("summary"), sorted(new_files))
        repo.set_branch(rev, commit, new_files)
        return None, commit

    # ---- storage (the cdn server): PUT parts and objects, POST completion ----
    def storage_write(self):
        st = self.state
        url = urllib.parse.urlsplit(self.path)
        m = re.match(r"^/upload/([0-9a-f]{64})/part/(\d+)$", url.path)
        if m and self.command == "PUT":
            if st.faults.get("write_fail_target") == "part" and st.take("write_fail"):
                self.read_body()
                return self.error(int(st.faults.get("write_fail_status", 503)), None, "SlowDown",
                                  {"Retry-After": str(st.faults.get("retry_after", 1))})
            n = int(self.headers.get("Content-Length") or 0)
            if st.faults.get("cut_part_number", 0) in (0, int(m.group(2))) and st.take("cut_part"):
                self.record(0)  # logged (and checked for an Authorization header) although never answered
                self.rfile.read(n // 2)
                self.close_connection = True
                self.connection.shutdown(2)
                return
            data = self.rfile.read(n)
            etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
            with st.lock:
                st.parts.setdefault(m.group(1), {})[int(m.group(2))] = (etag, data)
                st.part_puts.append(int(m.group(2)))
            return self.send(200, {"ETag": '"%s"' % etag}, b"", ctype="text/plain")
        m = re.match(r"^/upload/([0-9a-f]{64})$", url.path)
        if m and self.command == "PUT":
            data = self.read_body()
            if hashlib.sha256(data).hexdigest() != m.group(1):
                return self.error(400, None, "BadDigest")
            with st.lock:
                st.lfs_store[m.group(1)] = data
            return self.send(200, {"ETag": '"x"'}, b"", ctype="text/plain")
        if m and self.command == "POST":
            if st.faults.get("write_fail_target") == "complete" and st.take("write_fail"):
                self.read_body()
                return self.error(int(st.faults.get("write_fail_status", 503)), None, "SlowDown",
                                  {"Retry-After": str(st.faults.get("retry_after", 1))})
            req = json.loads(self.read_body() or b"{}")
            oid = m.group(1)
            parts = st.parts.get(oid, {})
            chunks = []
            for i, p in enumerate(req.get("parts", []), start=1):
                if p.get("partNumber") != i or i not in parts or p.get("etag", "").strip('"') != parts[i][0]:
                    return self.error(400, None, "InvalidPart %d" % i)
                chunks.append(parts[i][1])
            data = b"".join(chunks)  # one copy, not one per part (a 1 GiB object in 128 parts)
            if req.get("oid") != oid or hashlib.sha256(data).hexdigest() != oid:
                return self.error(400, None, "BadDigest")
            with st.lock:
                st.lfs_store[oid] = data
                st.parts.pop(oid, None)
            return self.send(200, body=b"{}")
        self.read_body()
        return self.error(404, None, "NoSuchUpload")
