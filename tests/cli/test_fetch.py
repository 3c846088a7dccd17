"""`pteflow fetch` against the local Hub (tests/hub/hubserver.py): cache layout,
tokens, errors, and every fault switch, each checked for the right reason."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

SRC = os.environ.get("PTEFLOW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "hub"))
from hubfixture import LocalHub, write_repo  # noqa: E402
from conftest import small_tmpfs  # noqa: E402

BIN = os.environ.get("PTEFLOW_BIN")
TOKEN = "hf_TestTokenDoNotLeak0123456789"
BIG = 4 * 1024 * 1024
SLOW_SIZE = 2_400_000
WRONG_TOKEN = "hf_WrongTokenAlsoSecret987654"

pytestmark = pytest.mark.skipif(not BIN, reason="PTEFLOW_BIN is not set (run through ctest)")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = str(tmp_path_factory.mktemp("hubroot"))
    rnd = os.urandom
    write_repo(r, "org/tiny", {"config.json": '{"hidden_size": 8}\n', "sub/dir/notes.txt": "hello\n",
                               "model.safetensors": rnd(300_000), "a b#c.txt": "odd name\n"})
    write_repo(r, "org/big", {"config.json": "{}\n", "model.safetensors": rnd(BIG)})
    write_repo(r, "org/slow", {"model.safetensors": rnd(SLOW_SIZE)})
    write_repo(r, "org/private", {"config.json": "{}\n", "weights.bin": rnd(50_000)}, meta={"private": True})
    write_repo(r, "org/gated", {"config.json": "{}\n", "weights.bin": rnd(50_000)}, meta={"gated": "manual"})
    write_repo(r, "org/many", {"f/%03d.txt" % i: "file %d\n" % i for i in range(120)})
    write_repo(r, "org/hostile", {"config.json": "{}\n"}, meta={"extra_files": {"main": {"../../evil.txt": "x"}}})
    write_repo(r, "org/renamed-new", {"config.json": "{}\n"}, meta={"renamed_from": "org/renamed-old"})
    return r


@pytest.fixture
def hub(root):
    h = LocalHub(root, token=TOKEN, page_size=50).start()
    yield h
    try:
        assert h.violations() == [], "the CDN saw an Authorization header"
    finally:
        h.stop()


def fixture_bytes(root, repo, path):
    with open(os.path.join(root, "models", *repo.split("/"), "main", *path.split("/")), "rb") as f:
        return f.read()


def run(hub, args, cache, token=None, timeout=120, extra_env=None, **kw):
    settings = {"PTEFLOW_HUB_BACKOFF_MS": 100, "HF_HUB_DOWNLOAD_TIMEOUT": 3}
    settings.update(extra_env or {})
    env = hub.env(token=token, **settings)
    cmd = [BIN, "fetch"] + list(args) + ["--cache-dir", str(cache)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def repo_dir(cache, repo):
    return os.path.join(str(cache), "models--" + repo.replace("/", "--"))


def no_token(p):
    assert TOKEN not in p.stdout and TOKEN not in p.stderr


# ---- the happy path and the layout ----

def test_fetch_layout_matches_huggingface_hub(hub, root, tmp_path):
    p = run(hub, ["org/tiny", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    rd = repo_dir(tmp_path, "org/tiny")
    commit = open(os.path.join(rd, "refs", "main")).read()
    assert len(commit) == 40 and commit == out["commit"]
    assert out["folder"] == os.path.join(rd, "snapshots", commit)
    files = {f["path"]: f for f in out["files"]}
    assert set(files) == {"config.json", "sub/dir/notes.txt", "model.safetensors", "a b#c.txt"}
    for path, f in files.items():
        data = fixture_bytes(root, "org/tiny", path)
        link = os.path.join(out["folder"], path)
        assert os.path.islink(link)
        target = os.readlink(link)
        assert not os.path.isabs(target)
        blob = os.path.basename(target)
        assert target == "../" * (2 + path.count("/")) + "blobs/" + blob
        want_etag = sha256(data) if path.endswith(".safetensors") else git_sha1(data)
        assert blob == want_etag == f["etag"]
        assert f["sha256"] == sha256(data) and f["size"] == len(data)
        assert f["lfs"] == path.endswith(".safetensors")
        assert open(link, "rb").read() == data
    assert not [n for n in os.listdir(os.path.join(rd, "blobs")) if n.endswith(".incomplete")]
    log = hub.log()
    cdn = [e for e in log if e["server"] == "cdn"]
    assert [e["path"].split("?")[0] for e in cdn if e["method"] == "GET"] == [
        "/lfs/" + files["model.safetensors"]["etag"]]
    assert any(e["path"].startswith("/api/resolve-cache/") for e in log), "relative 307 not followed"


def test_second_fetch_uses_the_cache_without_file_requests(hub, tmp_path):
    assert run(hub, ["org/tiny"], tmp_path).returncode == 0
    hub.control(clear_log=True)
    p = run(hub, ["org/tiny", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert all(f["from_cache"] for f in json.loads(p.stdout)["files"])
    assert not [e for e in hub.log() if "/resolve" in e["path"] or e["server"] == "cdn"]


def test_blob_shared_by_a_new_commit_is_linked_not_fetched(hub, root, tmp_path):
    assert run(hub, ["org/tiny"], tmp_path).returncode == 0
    # a second branch with the same bytes: new commit, same blobs
    for path in ("config.json", "model.safetensors"):
        dst = os.path.join(root, "models", "org", "tiny", "dev", path)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.join(root, "models", "org", "tiny", "main", path), dst)
    hub.control(reload=True, clear_log=True)
    try:
        p = run(hub, ["org/tiny", "--revision", "dev", "--json"], tmp_path)
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert all(f["from_cache"] for f in out["files"])
        assert os.path.exists(os.path.join(repo_dir(tmp_path, "org/tiny"), "refs", "dev"))
        assert not [e for e in hub.log() if e["server"] == "cdn"]
    finally:
        shutil.rmtree(os.path.join(root, "models", "org", "tiny", "dev"))
        hub.control(reload=True)


def test_include_and_exclude_patterns(hub, tmp_path):
    p = run(hub, ["org/tiny", "--include", "*.json", "--include", "sub/", "--exclude", "*notes*", "--json"],
            tmp_path)
    assert p.returncode == 0, p.stderr
    assert [f["path"] for f in json.loads(p.stdout)["files"]] == ["config.json"]
    p = run(hub, ["org/tiny", "--include", "nothing-*"], tmp_path)
    assert p.returncode == 1 and "matches" in p.stderr


def test_tree_pagination_is_followed(hub, tmp_path):
    p = run(hub, ["org/many", "--json", "--jobs", "8"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["files"]) == 120
    pages = [e for e in hub.log() if "/tree/" in e["path"]]
    assert len(pages) >= 3 and any("cursor=" in e["path"] for e in pages)


def test_local_dir_gets_real_files(hub, root, tmp_path):
    env = hub.env(PTEFLOW_HUB_BACKOFF_MS=100)
    out = tmp_path / "local"
    p = subprocess.run([BIN, "fetch", "org/tiny", "--local-dir", str(out)], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    f = out / "sub" / "dir" / "notes.txt"
    assert f.is_file() and not f.is_symlink() and f.read_bytes() == b"hello\n"
    meta = (out / ".cache" / "huggingface" / "download" / "sub" / "dir" / "notes.txt.metadata").read_text()
    assert meta.split("\n")[1] == git_sha1(b"hello\n")


def test_renamed_repo_relative_redirect(hub, tmp_path):
    p = run(hub, ["org/renamed-old"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert any(e["status"] == 307 and "renamed-old" in e["path"] for e in hub.log())


# ---- tokens and errors ----

def test_token_goes_to_the_hub_only_and_never_into_output(hub, tmp_path):
    p = run(hub, ["org/private", "--json"], tmp_path, token=TOKEN)
    assert p.returncode == 0, p.stderr
    no_token(p)
    log = hub.log()
    hub_file_reqs = [e for e in log if e["server"] == "hub" and "/resolve" in e["path"]]
    assert hub_file_reqs and all(e["auth"] for e in hub_file_reqs)
    cdn = [e for e in log if e["server"] == "cdn"]
    assert cdn and not any(e["auth"] for e in cdn)
    assert "HF_TOKEN" in p.stderr  # says which source won, never the value


def test_token_from_hf_home_file(hub, tmp_path):
    home = tmp_path / "hfhome"
    home.mkdir()
    (home / "token").write_text(TOKEN + "\n")
    p = run(hub, ["org/private"], tmp_path / "c", extra_env={"HF_HOME": str(home)})
    assert p.returncode == 0, p.stderr
    no_token(p)
    p = run(hub, ["org/private"], tmp_path / "c2", extra_env={"HF_HOME": str(home),
                                                              "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"})
    assert p.returncode == 3


def test_401_without_token(hub, tmp_path):
    p = run(hub, ["org/private"], tmp_path)
    assert p.returncode == 3
    assert "this repo needs a token: set HF_TOKEN or run `hf auth login`" in p.stderr


def test_401_wrong_token(hub, tmp_path):
    bad = WRONG_TOKEN
    p = run(hub, ["org/private"], tmp_path, token=bad)
    assert p.returncode == 3
    assert "the token was refused" in p.stderr
    assert "(the hub says: Invalid credentials in Authorization header)" in p.stderr
    assert bad not in p.stderr and bad not in p.stdout


def test_token_required_everywhere(root, tmp_path):
    with LocalHub(root, token=TOKEN, token_required=True) as h:
        p = run(h, ["org/tiny"], tmp_path)
        assert p.returncode == 3 and "needs a token" in p.stderr
        p = run(h, ["org/tiny"], tmp_path, token=TOKEN)
        assert p.returncode == 0, p.stderr
        no_token(p)
        assert h.violations() == []


def test_gated_repo_403_then_approved(hub, tmp_path):
    p = run(hub, ["org/gated"], tmp_path, token=TOKEN)
    assert p.returncode == 3
    assert "accept the licence at %s/org/gated then run again" % hub.url in p.stderr
    no_token(p)
    p = run(hub, ["org/gated"], tmp_path)
    assert p.returncode == 3 and "needs a token" in p.stderr
    hub.control(approved=["org/gated"])
    p = run(hub, ["org/gated"], tmp_path, token=TOKEN)
    assert p.returncode == 0, p.stderr


def test_not_found_errors(hub, tmp_path):
    p = run(hub, ["org/nope"], tmp_path, token=TOKEN)
    assert p.returncode == 1 and 'repo "org/nope" not found' in p.stderr
    p = run(hub, ["org/tiny", "--revision", "v9"], tmp_path)
    assert p.returncode == 1 and 'revision "v9" not found' in p.stderr
    p = run(hub, ["org/tiny", "--repo-type", "dataset"], tmp_path, token=TOKEN)
    assert p.returncode == 1 and "--repo-type" in p.stderr


def test_hostile_file_names_are_refused(hub, tmp_path):
    cache = tmp_path / "deep" / "cache"
    p = run(hub, ["org/hostile"], cache)
    assert p.returncode == 2, p.stderr
    assert "escape the cache" in p.stderr
    for dirpath, _, files in os.walk(str(tmp_path)):
        assert "evil.txt" not in files
    assert not [e for e in hub.log() if "/resolve" in e["path"]], "nothing may be requested"


def test_usage_errors(tmp_path):
    env = dict(os.environ)
    assert subprocess.run([BIN, "fetch"], env=env, capture_output=True).returncode == 2
    assert subprocess.run([BIN, "fetch", "a/b", "--jobs", "0"], env=env, capture_output=True).returncode == 2
    assert subprocess.run([BIN, "fetch", "a/b", "--bogus"], env=env, capture_output=True).returncode == 2
    assert subprocess.run([BIN, "fetch", "../x"], env=env, capture_output=True).returncode == 2
    h = subprocess.run([BIN, "fetch", "--help"], env=env, capture_output=True, text=True)
    assert h.returncode == 0 and "--revision" in h.stdout and "--local-dir" in h.stdout


def test_network_down_is_an_environment_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", PTEFLOW_HUB_BACKOFF_MS="10", PTEFLOW_HUB_MAX_RETRIES="1")
    p = subprocess.run([BIN, "fetch", "org/tiny", "--cache-dir", str(tmp_path)], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 3 and "cannot reach the hub" in p.stderr


# ---- fault switches ----

def test_429_retry_after_is_honoured(hub, tmp_path):
    hub.control(rate_limit=2, retry_after=1)
    t0 = time.monotonic()
    p = run(hub, ["org/tiny"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert [e["status"] for e in hub.log()].count(429) == 2
    assert time.monotonic() - t0 >= 3.9, "Retry-After: 1 was not waited for as 1 s + 1 s"


def test_429_ratelimit_header_is_honoured(hub, tmp_path):
    hub.control(rate_limit=1, retry_after=1, rate_limit_style="ratelimit")
    t0 = time.monotonic()
    p = run(hub, ["org/tiny", "--jobs", "1"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert [e["status"] for e in hub.log()].count(429) == 1
    assert time.monotonic() - t0 >= 1.95, "RateLimit t=1 was not waited for as 1 s + 1 s"


def test_429_forever_gives_up_bounded(hub, tmp_path):
    hub.control(rate_limit=-1, retry_after=0)
    p = run(hub, ["org/tiny"], tmp_path, extra_env={"PTEFLOW_HUB_MAX_RETRIES": 2})
    assert p.returncode == 3 and "429" in p.stderr


def test_500_once_is_retried(hub, root, tmp_path):
    hub.control(fail500=1, fail500_target="cdn")
    p = run(hub, ["org/tiny"], tmp_path)
    assert p.returncode == 0, p.stderr
    cdn = [e["status"] for e in hub.log() if e["server"] == "cdn"]
    assert cdn == [500, 200]


def test_cut_connection_resumes_with_range(hub, root, tmp_path):
    hub.control(cut=1, cut_after=1_000_000)
    p = run(hub, ["org/big", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    cdn = [e for e in hub.log() if e["server"] == "cdn" and e["method"] == "GET"]
    assert len(cdn) == 2 and cdn[0]["range"] is None
    start = int(cdn[1]["range"].split("=")[1].rstrip("-"))
    assert 0 < start <= 1_000_000 and cdn[1]["status"] == 206
    data = fixture_bytes(root, "org/big", "model.safetensors")
    f = [f for f in json.loads(p.stdout)["files"] if f["path"] == "model.safetensors"][0]
    assert f["sha256"] == sha256(data)
    assert open(os.path.join(json.loads(p.stdout)["folder"], "model.safetensors"), "rb").read() == data


def test_server_ignoring_range_restarts_from_zero(hub, root, tmp_path):
    hub.control(cut=1, cut_after=1_000_000, ignore_range=True)
    p = run(hub, ["org/big", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    cdn = [e for e in hub.log() if e["server"] == "cdn" and e["method"] == "GET"]
    assert len(cdn) == 2 and cdn[1]["range"] and cdn[1]["status"] == 200
    assert "ignored the Range" in p.stderr
    data = fixture_bytes(root, "org/big", "model.safetensors")
    assert open(os.path.join(json.loads(p.stdout)["folder"], "model.safetensors"), "rb").read() == data


def test_wrong_sha256_never_enters_the_cache(hub, tmp_path):
    hub.control(corrupt=-1, corrupt_path="model.safetensors")
    p = run(hub, ["org/big"], tmp_path)
    assert p.returncode == 1, p.stderr
    assert "does not match its sha256" in p.stderr
    rd = repo_dir(tmp_path, "org/big")
    for dirpath, _, files in os.walk(os.path.join(rd, "snapshots")):
        assert "model.safetensors" not in files
    assert [n for n in os.listdir(os.path.join(rd, "blobs")) if len(n) == 64 or "incomplete" in n] == []
    gets = [e for e in hub.log() if e["server"] == "cdn" and e["method"] == "GET"]
    assert len(gets) == 2, "one bounded retry"


def test_wrong_sha256_once_is_retried(hub, root, tmp_path):
    hub.control(corrupt=1, corrupt_path="model.safetensors")
    p = run(hub, ["org/big", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    data = fixture_bytes(root, "org/big", "model.safetensors")
    assert open(os.path.join(json.loads(p.stdout)["folder"], "model.safetensors"), "rb").read() == data


def test_wrong_git_file_is_refused(hub, tmp_path):
    hub.control(corrupt=-1, corrupt_path="config.json")
    p = run(hub, ["org/big", "--include", "config.json"], tmp_path)
    assert p.returncode == 1 and "git blob id" in p.stderr


def test_stalled_server_times_out_and_retries(hub, tmp_path):
    hub.control(stall=1, stall_s=4)
    t0 = time.monotonic()
    p = run(hub, ["org/tiny", "--jobs", "1"], tmp_path, extra_env={"HF_HUB_DOWNLOAD_TIMEOUT": 1})
    assert p.returncode == 0, p.stderr
    assert "retrying" in p.stderr
    assert time.monotonic() - t0 < 30


def test_resume_across_runs_after_kill(hub, root, tmp_path):
    hub.control(slow_bps=400_000, slow_path="model.safetensors")
    env = hub.env(PTEFLOW_HUB_BACKOFF_MS=100)
    cmd = [BIN, "fetch", "org/big", "--cache-dir", str(tmp_path), "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    blobs = os.path.join(repo_dir(tmp_path, "org/big"), "blobs")
    partial, size = None, 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and size < 600_000:
        time.sleep(0.1)
        if os.path.isdir(blobs):
            inc = [n for n in os.listdir(blobs) if n.endswith(".incomplete")]
            if inc:
                partial = os.path.join(blobs, inc[0])
                size = os.path.getsize(partial)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert partial and size >= 600_000, "no partial file appeared"
    kept = os.path.getsize(partial)
    assert 0 < kept < BIG
    hub.control(slow_bps=0, clear_log=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    gets = [e for e in hub.log() if e["server"] == "cdn" and e["method"] == "GET"]
    assert len(gets) == 1 and gets[0]["range"] == "bytes=%d-" % kept and gets[0]["status"] == 206
    data = fixture_bytes(root, "org/big", "model.safetensors")
    assert open(os.path.join(json.loads(p.stdout)["folder"], "model.safetensors"), "rb").read() == data


def test_offline_mode_uses_refs_and_snapshot(root, tmp_path):
    with LocalHub(root, token=TOKEN) as h:
        p = run(h, ["org/tiny"], tmp_path)
        assert p.returncode == 0, p.stderr
        folder = p.stdout.strip()
    # the hub is gone now: offline must not need it
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_OFFLINE="1")
    q = subprocess.run([BIN, "fetch", "org/tiny", "--cache-dir", str(tmp_path), "--json"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert q.returncode == 0, q.stderr
    out = json.loads(q.stdout)
    assert out["folder"] == folder and len(out["files"]) == 4 and all(f["from_cache"] for f in out["files"])
    q = subprocess.run([BIN, "fetch", "org/tiny", "--offline", "--cache-dir", str(tmp_path), "--include",
                        "missing.bin"], env=env, capture_output=True, text=True, timeout=30)
    assert q.returncode == 1 and '"missing.bin"' in q.stderr
    os.unlink(os.path.join(folder, "config.json"))
    q = subprocess.run([BIN, "fetch", "org/tiny", "--offline", "--cache-dir", str(tmp_path), "--include",
                        "*.json"], env=env, capture_output=True, text=True, timeout=30)
    assert q.returncode == 1 and '"config.json"' in q.stderr
    q = subprocess.run([BIN, "fetch", "org/other", "--offline", "--cache-dir", str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=30)
    assert q.returncode == 1 and "refs/main" in q.stderr


def test_disk_full_leaves_nothing_half_written(hub, tmp_path):
    with small_tmpfs(tmp_path / "small", "1m") as mnt:
        p = run(hub, ["org/big"], mnt)
        assert p.returncode == 3, p.stderr
        assert "No space left" in p.stderr
        rd = repo_dir(mnt, "org/big")
        leftovers = [n for n in os.listdir(os.path.join(rd, "blobs")) if "incomplete" in n or len(n) == 64]
        assert leftovers == []
        for dirpath, _, files in os.walk(os.path.join(rd, "snapshots")):
            assert "model.safetensors" not in files


def test_siblings_fallback_when_the_tree_api_is_missing(hub, tmp_path):
    hub.control(no_tree=True)
    p = run(hub, ["org/tiny", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["files"]) == 4
    assert "no tree listing" in p.stderr


def test_progress_plain_lines_quiet_and_tty(hub, tmp_path):
    p = run(hub, ["org/big"], tmp_path / "a")
    assert p.returncode == 0 and "files]" in p.stderr and "\r" not in p.stderr
    env = hub.env(PTEFLOW_HUB_BACKOFF_MS=100)
    q = subprocess.run([BIN, "--quiet", "fetch", "org/big", "--cache-dir", str(tmp_path / "b")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 0 and q.stderr == ""
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen([BIN, "fetch", "org/big", "--cache-dir", str(tmp_path / "c")], env=env,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    proc.wait(timeout=60)
    os.close(master)
    out = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "\r\x1b[K" in out and "eta" in out


# ---- long downloads, file servers, mirrors ----

def cdn_gets(hub):
    return [e for e in hub.log() if e["server"] == "cdn" and e["method"] == "GET"]


def range_start(entry):
    return int(entry["range"].split("=")[1].rstrip("-"))


def file_out(p, path):
    out = json.loads(p.stdout)
    f = [f for f in out["files"] if f["path"] == path][0]
    with open(os.path.join(out["folder"], path), "rb") as fh:
        return f, fh.read()


def test_second_drop_long_after_the_first_still_resumes(hub, root, tmp_path):
    # each request is cut after 1 MB at 400 kB/s: 2.5 s apart, more than the 2 s retry time limit, but
    # bytes arrived in between, so the limit starts again at each drop
    hub.control(slow_bps=400_000, slow_path="model.safetensors", cut=2, cut_after=1_000_000,
                cut_path="model.safetensors")
    t0 = time.monotonic()
    p = run(hub, ["org/slow", "--json"], tmp_path,
            extra_env={"PTEFLOW_HUB_RETRY_BUDGET_S": 2, "PTEFLOW_HUB_BACKOFF_MS": 50})
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - t0 < 20
    gets = cdn_gets(hub)
    assert [e["range"] for e in gets] == [None, "bytes=1000000-", "bytes=2000000-"]
    f, data = file_out(p, "model.safetensors")
    want = fixture_bytes(root, "org/slow", "model.safetensors")
    assert data == want and f["sha256"] == sha256(want)


def test_expired_signed_url_gets_a_fresh_location_and_resumes(hub, root, tmp_path):
    hub.control(cut=1, cut_after=1_000_000, cut_path="model.safetensors", cdn_expired=1)
    p = run(hub, ["org/big", "--json", "--include", "model.safetensors"], tmp_path)
    assert p.returncode == 0, p.stderr
    log = hub.log()
    heads = [i for i, e in enumerate(log) if e["method"] == "HEAD" and "/resolve/" in e["path"]]
    refused = [i for i, e in enumerate(log) if e["server"] == "cdn" and e["status"] == 403]
    gets = cdn_gets(hub)
    assert [e["status"] for e in gets] == [200, 403, 206]
    assert len(heads) == 2, "the resolve URL was not asked again for a fresh location"
    assert heads[1] > refused[0], "the second HEAD must follow the refusal"
    assert gets[0]["range"] is None and gets[2]["range"] == gets[1]["range"]
    assert 0 < range_start(gets[2]) <= 1_000_000, "the resume must not download the first bytes again"
    assert gets[2]["path"] != gets[1]["path"], "the resume must use the fresh signed URL"
    f, data = file_out(p, "model.safetensors")
    want = fixture_bytes(root, "org/big", "model.safetensors")
    assert data == want and f["sha256"] == sha256(want)


def test_file_server_refusing_forever_fails_bounded(hub, tmp_path):
    hub.control(cut=1, cut_after=1_000_000, cut_path="model.safetensors", cdn_expired=-1)
    t0 = time.monotonic()
    p = run(hub, ["org/big", "--include", "model.safetensors"], tmp_path, timeout=60)
    assert p.returncode == 3, p.stderr
    assert time.monotonic() - t0 < 30
    assert "the file server %s answered 403" % hub.cdn_url in p.stderr
    heads = [e for e in hub.log() if e["method"] == "HEAD" and "/resolve/" in e["path"]]
    assert len(heads) == 2, "one fresh location only, then give up"
    assert [e["status"] for e in cdn_gets(hub)] == [200, 403, 403]
    # what arrived stays for the next run to resume
    blobs = os.path.join(repo_dir(tmp_path, "org/big"), "blobs")
    assert [os.path.getsize(os.path.join(blobs, n)) for n in os.listdir(blobs) if n.endswith(".incomplete")] \
        == [1_000_000]


@pytest.mark.parametrize("style", ["absolute", "protocol", "relative", "path"])
def test_file_server_redirect_is_followed_without_the_token(hub, root, tmp_path, style):
    hub.control(cdn_redirect=1, cdn_redirect_style=style)
    p = run(hub, ["org/private", "--json"], tmp_path, token=TOKEN)
    assert p.returncode == 0, p.stderr
    no_token(p)
    gets = cdn_gets(hub)
    assert [e["status"] for e in gets] == [302, 200]
    assert "moved=1" not in gets[0]["path"] and "moved=1" in gets[1]["path"], "the Location was not followed"
    assert not any(e["auth"] for e in gets)
    assert hub.violations() == []
    f, data = file_out(p, "weights.bin")
    assert data == fixture_bytes(root, "org/private", "weights.bin")


@pytest.mark.parametrize("style", ["absolute", "protocol"])
def test_mirror_redirect_to_its_canonical_host_is_followed(hub, root, tmp_path, style):
    hub.control(canonical_redirect=-1, canonical_redirect_style=style)
    p = run(hub, ["org/tiny", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    log = [e for e in hub.log() if e["server"] == "hub" and "/resolve" in e["path"]]
    moved = [e for e in log if e["status"] == 301]
    assert moved and all(e["host"].startswith("127.0.0.1:") for e in moved)
    assert any(e["host"].startswith("localhost:") and e["method"] == "HEAD" and e["status"] == 302 for e in log)
    for path in ("config.json", "model.safetensors", "sub/dir/notes.txt"):
        f, data = file_out(p, path)
        assert data == fixture_bytes(root, "org/tiny", path)


def hub_requests(hub):
    return [e for e in hub.log() if e["server"] == "hub" and not e["path"].startswith("/_control")]


@pytest.mark.parametrize("target", ["resolve", "api"])
def test_canonical_host_of_a_mirror_never_gets_the_token(hub, tmp_path, target):
    hub.control(canonical_redirect=-1, canonical_redirect_target=target)
    p = run(hub, ["org/private"], tmp_path, token=TOKEN, timeout=60)
    assert p.returncode == 3, p.stderr  # the canonical host refuses the anonymous request: an auth error
    assert "error:" in p.stderr and "token" in p.stderr
    no_token(p)
    reqs = hub_requests(hub)
    moved = [e for e in reqs if e["host"].startswith("localhost:")]
    assert moved and not any(e["auth"] for e in moved), "the token went to another origin"
    assert 401 in [e["status"] for e in moved]
    assert all(e["auth"] for e in reqs if e["host"].startswith("127.0.0.1:"))


def test_api_redirect_to_the_canonical_host_is_followed(hub, tmp_path):
    hub.control(canonical_redirect=-1, canonical_redirect_target="api")
    p = run(hub, ["org/tiny", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    api = [e for e in hub_requests(hub) if e["path"].startswith("/api/models/")]
    assert any(e["status"] == 301 and "/revision/" in e["path"] for e in api)
    assert any(e["status"] == 200 and "/revision/" in e["path"] and e["host"].startswith("localhost:") for e in api)
    assert any(e["status"] == 200 and "/tree/" in e["path"] and e["host"].startswith("localhost:") for e in api)
    assert len(json.loads(p.stdout)["files"]) == 4


def test_resume_answered_with_another_range_restarts_from_zero(hub, root, tmp_path):
    hub.control(cut=1, cut_after=1_000_000, cut_path="model.safetensors", wrong_range=1)
    p = run(hub, ["org/big", "--json", "--include", "model.safetensors"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "different byte range" in p.stderr
    assert "does not match" not in p.stderr, "bytes of the wrong offset were kept"
    gets = cdn_gets(hub)
    assert [(e["status"], e["range"]) for e in gets] == [(200, None), (206, "bytes=1000000-"), (200, None)]
    f, data = file_out(p, "model.safetensors")
    want = fixture_bytes(root, "org/big", "model.safetensors")
    assert data == want and f["sha256"] == sha256(want)


def test_md5_etag_of_a_mirror_is_size_checked_only(hub, root, tmp_path):
    hub.control(md5_etag=True)
    p = run(hub, ["org/tiny", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    want = fixture_bytes(root, "org/tiny", "model.safetensors")
    f, data = file_out(p, "model.safetensors")
    assert data == want and f["sha256"] == sha256(want)
    assert f["etag"] == hashlib.md5(want).hexdigest()
    assert os.path.isfile(os.path.join(repo_dir(tmp_path, "org/tiny"), "blobs", f["etag"]))


@pytest.mark.parametrize("target", ["api", "resolve"])
@pytest.mark.parametrize("style", ["retry-after", "ratelimit"])
def test_rate_limit_wait_beyond_the_time_limit_is_not_waited(hub, tmp_path, style, target):
    hub.control(rate_limit=-1, retry_after=100, rate_limit_style=style, rate_limit_target=target)
    t0 = time.monotonic()
    p = run(hub, ["org/tiny"], tmp_path, timeout=30, extra_env={"PTEFLOW_HUB_RETRY_BUDGET_S": 5})
    assert time.monotonic() - t0 < 30
    assert p.returncode == 3, p.stderr
    assert "asks to wait 100 s" in p.stderr


def test_hub_error_message_is_cleaned_and_never_shows_the_token(hub, tmp_path):
    # a mirror quoting the credentials it got, with a control byte, a non-ASCII byte and 300 more
    # characters; the token starts 190 bytes in, so a cut at 200 bytes before redaction would show a part
    lead = "Invalid credentials in Authorization header \x01\u00e9 "
    pad = "." * (190 - len(lead) - len("Bearer "))
    hub.control(error_message_template=lead + pad + "{auth} " + "z" * 300)
    p = run(hub, ["org/private"], tmp_path, token=WRONG_TOKEN)
    assert p.returncode == 3, p.stderr
    said = re.findall(r"\(the hub says: ([^\n]*)\)", p.stderr)
    assert said
    for s in said:
        assert s.startswith("Invalid credentials in Authorization header ?? ")
        assert len(s) <= 200 and all(32 <= ord(c) < 127 for c in s)
    for out in (p.stdout, p.stderr):
        assert WRONG_TOKEN[:8] not in out


@pytest.mark.parametrize("var,value,want", [
    ("HF_HOME", "~/hfx", "hfx/hub"),
    ("HF_HUB_CACHE", "~/hubcache", "hubcache"),
    ("HUGGINGFACE_HUB_CACHE", "~/legacy", "legacy"),
    ("XDG_CACHE_HOME", "~/xdg", "xdg/huggingface/hub"),
])
def test_tilde_in_cache_settings_means_home(hub, tmp_path, var, value, want):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = hub.env(PTEFLOW_HUB_BACKOFF_MS=100, HOME=str(home), **{var: value})
    if var != "XDG_CACHE_HOME":
        env.pop("XDG_CACHE_HOME", None)
    p = subprocess.run([BIN, "fetch", "org/tiny", "--include", "config.json", "--json"], env=env, cwd=str(cwd),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["folder"].startswith(str(home / want / "models--org--tiny") + "/")
    assert os.listdir(str(cwd)) == [], "a literal ~ folder was created"


def test_tilde_in_token_path_means_home(hub, tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    (home / "tok").write_text(TOKEN + "\n")
    env = hub.env(PTEFLOW_HUB_BACKOFF_MS=100, HOME=str(home), HF_TOKEN_PATH="~/tok")
    p = subprocess.run([BIN, "fetch", "org/private", "--cache-dir", str(tmp_path / "c")], env=env, cwd=str(cwd),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "HF_TOKEN_PATH" in p.stderr
    no_token(p)


def test_commit_revision_with_a_cached_listing_asks_no_api(hub, root, tmp_path):
    p = run(hub, ["org/tiny", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    commit = out["commit"]
    # one file to fetch again: its HEAD and GET are the only requests
    rd = repo_dir(tmp_path, "org/tiny")
    lfs = [f for f in out["files"] if f["path"] == "model.safetensors"][0]
    os.unlink(os.path.join(out["folder"], "model.safetensors"))
    os.unlink(os.path.join(rd, "blobs", lfs["etag"]))
    hub.control(clear_log=True)
    q = run(hub, ["org/tiny", "--revision", commit, "--json"], tmp_path)
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)["folder"] == out["folder"]
    reqs = hub_requests(hub)
    assert not [e for e in reqs if e["path"].startswith("/api/")], "a cached commit needs no API call"
    assert [e["method"] for e in reqs] == ["HEAD"] and [e["status"] for e in cdn_gets(hub)] == [200]
    f, data = file_out(q, "model.safetensors")
    assert data == fixture_bytes(root, "org/tiny", "model.safetensors")


@pytest.mark.parametrize("second_token", [WRONG_TOKEN, None])
def test_refused_token_falls_back_to_the_cached_snapshot(hub, tmp_path, second_token):
    p = run(hub, ["org/private", "--json"], tmp_path, token=TOKEN)
    assert p.returncode == 0, p.stderr
    folder = json.loads(p.stdout)["folder"]
    q = run(hub, ["org/private", "--json"], tmp_path, token=second_token)
    assert q.returncode == 0, q.stderr
    assert "warning:" in q.stderr and "trying the cache" in q.stderr
    out = json.loads(q.stdout)
    assert out["folder"] == folder and all(f["from_cache"] for f in out["files"])
    no_token(q)
    assert WRONG_TOKEN not in q.stdout + q.stderr


def test_revision_info_is_asked_without_blobs(hub, tmp_path):
    p = run(hub, ["org/tiny"], tmp_path)
    assert p.returncode == 0, p.stderr
    info = [e for e in hub.log() if "/api/models/org/tiny/revision/" in e["path"]]
    assert len(info) == 1 and "blobs" not in info[0]["path"]


@pytest.mark.parametrize("target", ["api", "resolve", "cdn"])
def test_oversized_header_line_fails_at_once(hub, tmp_path, target):
    hub.control(huge_header=True, huge_header_target=target)
    t0 = time.monotonic()
    p = run(hub, ["org/tiny"], tmp_path, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "unusable headers" in p.stderr and "8192" in p.stderr
    assert "retrying" not in p.stderr
    assert time.monotonic() - t0 < 20
    reqs = [e for e in hub.log() if not e["path"].startswith("/_control")]
    if target == "api":
        assert len([e for e in reqs if e["path"].startswith("/api/models/")]) == 1
    elif target == "resolve":
        heads = [e["path"] for e in reqs if e["method"] == "HEAD"]
        assert heads and len(heads) == len(set(heads)), "a HEAD was asked again"
    else:
        assert len(cdn_gets(hub)) == 1
