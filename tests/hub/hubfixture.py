"""Start and stop tests/hub/hubserver.py for pytest (import it from any test
folder after adding tests/hub to sys.path).

    hub = LocalHub(fixtures_root, token="hf_x").start()
    hub.control(cut=1, cut_after=1000)
    ... env = hub.env(cache_dir) ...
    hub.stop()
"""
import json
import os
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class LocalHub:
    def __init__(self, root, token=None, approved=(), token_required=False, page_size=50, cdn_base=None,
                 python=None, extra_args=()):
        self.root = root
        self.token = token
        self.args = [python or sys.executable, os.path.join(HERE, "hubserver.py"), "--root", root,
                     "--page-size", str(page_size)]
        if token:
            self.args += ["--token", token]
        for a in approved:
            self.args += ["--approved", a]
        if token_required:
            self.args.append("--token-required")
        if cdn_base:
            self.args += ["--cdn-base", cdn_base]
        self.args += list(extra_args)
        self.proc = None
        self.url = self.cdn_url = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise RuntimeError("hubserver did not start: %s" % err)
        info = json.loads(line)
        self.port, self.cdn_port = info["hub"], info["cdn"]
        self.url, self.cdn_url = info["hub_url"], info["cdn_url"]
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.proc.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def control(self, **faults):
        req = urllib.request.Request(self.url + "/_control", data=json.dumps(faults).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def state(self):
        with urllib.request.urlopen(self.url + "/_control", timeout=10) as r:
            return json.loads(r.read())

    def log(self):
        return self.state()["log"]

    def violations(self):
        return self.state()["violations"]

    def env(self, base=None, token=None, **extra):
        """Environment for a client of this hub: no real HF_HOME, no stray token."""
        env = dict(base if base is not None else os.environ)
        for k in list(env):
            if k.startswith("HF_") or k.startswith("HUGGING") or k in ("TRANSFORMERS_OFFLINE",):
                del env[k]
        env["HF_ENDPOINT"] = self.url
        env["HF_HUB_DISABLE_TELEMETRY"] = "1"
        env["HF_HUB_DISABLE_XET"] = "1"
        if token:
            env["HF_TOKEN"] = token
        env.update({k: str(v) for k, v in extra.items()})
        return env


def write_repo(root, repo_id, files, branch="main", repo_type="model", meta=None):
    """Create a fixture repo: files is {path: bytes or str}."""
    base = os.path.join(root, repo_type + "s", *repo_id.split("/"))
    for path, data in files.items():
        p = os.path.join(base, branch, *path.split("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    if meta is not None:
        with open(os.path.join(base, "repo.json"), "w") as f:
            json.dump(meta, f)
    return base
