#!/usr/bin/env python3
"""The production pipeline, end to end, with nothing faked but the weights.

pipelines/llama3.2-1b.yaml as it is committed (token, gated repo, fetch,
export under the 6 GiB guard, numerical check, gates, manifest) against a
local Hub (tests/hub/hubserver.py) that serves a checkpoint with the real
dimensions and file layout of meta-llama/Llama-3.2-1B-Instruct (config.json,
generation_config.json, one bf16 model.safetensors of 2.47 GB) and random
weights, gated, approved for one token. Reports per step wall time and peak
memory as pteflow's manifest records them, the download rate, the .pte size
against its gate and the check's errors against their bound.

usage: bench/bench_pipeline_1b.py [--target int8-seq512] [--work DIR] [--keep]
env:   PTEFLOW_BIN (default build/pteflow), PTEFLOW_PYTHON (the project's venv
       interpreter, with torch, transformers and safetensors)
Needs about 6 GiB of memory, 7 GB of disk and 10 minutes on 2 cores.
Writes bench/results/pipeline-1b-<date>.json and the run's `pteflow report`
page pipeline-1b-<date>.html (not committed).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "hub"))
from hubfixture import LocalHub  # noqa: E402

REPO = "meta-llama/Llama-3.2-1B-Instruct"
TOKEN = "hf_bench_" + "x" * 30

# Written by PTEFLOW_PYTHON: the config of the real model, every tensor of its
# state dict in bf16 (random, seeded), tied lm_head left out as in the real file.
MAKE = r"""
import json, os, sys, torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
out = sys.argv[1]
cfg = LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                  num_attention_heads=32, num_key_value_heads=8, head_dim=64, rms_norm_eps=1e-5,
                  rope_theta=500000.0, max_position_embeddings=131072, tie_word_embeddings=True,
                  rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                  bos_token_id=128000, eos_token_id=[128001, 128008, 128009], torch_dtype="bfloat16")
with torch.device("meta"):
    shapes = {k: v.shape for k, v in LlamaForCausalLM(cfg).state_dict().items() if k != "lm_head.weight"}
g = torch.Generator().manual_seed(0)
sd = {}
for k, s in shapes.items():
    sd[k] = (torch.ones(s) if k.endswith("norm.weight") else torch.randn(s, generator=g) * 0.02).to(torch.bfloat16)
os.makedirs(out, exist_ok=True)
save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
cfg.save_pretrained(out)
with open(os.path.join(out, "generation_config.json"), "w") as f:
    json.dump({"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "do_sample": True,
               "temperature": 0.6, "top_p": 0.9}, f)
print(sum(v.numel() for v in sd.values()))
"""


def log(msg):
    print("bench_pipeline_1b: " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="int8-seq512")
    ap.add_argument("--work", help="working folder (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    a = ap.parse_args()
    pteflow = os.environ.get("PTEFLOW_BIN", os.path.join(ROOT, "build", "pteflow"))
    python = os.environ.get("PTEFLOW_PYTHON", sys.executable)
    if not os.access(pteflow, os.X_OK):
        sys.exit(f"bench_pipeline_1b: {pteflow} not found: build pteflow first (scripts/build.sh)")
    work = a.work or tempfile.mkdtemp(prefix="pteflow-bench-1b.")
    fixtures = os.path.join(work, "hub")
    snap = os.path.join(fixtures, "models", *REPO.split("/"), "main")
    if not os.path.isfile(os.path.join(snap, "model.safetensors")):
        log("writing a Llama-3.2-1B-shaped bf16 checkpoint with random weights")
        r = subprocess.run([python, "-c", MAKE, snap], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("bench_pipeline_1b: cannot write the checkpoint:\n" + r.stderr[-3000:])
        with open(os.path.join(fixtures, "models", *REPO.split("/"), "repo.json"), "w") as f:
            json.dump({"gated": "manual"}, f)
    size = os.path.getsize(os.path.join(snap, "model.safetensors"))
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(os.path.join(work, "hf"), ignore_errors=True)
    hub = LocalHub(fixtures, token=TOKEN, approved=[REPO], python=python).start()
    try:
        env = hub.env(token=TOKEN, HF_HOME=os.path.join(work, "hf"))
        cmd = ["/usr/bin/time", "-v", "-o", os.path.join(work, "time.txt"), pteflow, "run",
               os.path.join(ROOT, "pipelines", "llama3.2-1b.yaml"), "--target", a.target, "--out", out, "--json"]
        log("pteflow run pipelines/llama3.2-1b.yaml --target %s (local hub %s)" % (a.target, hub.url))
        t0 = time.monotonic()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        violations = hub.violations()
    finally:
        hub.stop()
    with open(os.path.join(work, "run.log"), "w") as f:
        f.write(r.stdout + "\n" + r.stderr)
    man_path = os.path.join(out, "manifest.json")
    if not os.path.isfile(man_path):
        sys.exit(f"bench_pipeline_1b: no manifest (exit {r.returncode}); see {work}/run.log")
    with open(man_path) as f:
        m = json.load(f)
    if TOKEN in r.stdout or TOKEN in r.stderr or TOKEN in open(man_path).read():
        sys.exit("bench_pipeline_1b: the token appeared in the output or the manifest")
    rows = {"target": a.target, "exit_code": r.returncode, "status": m["status"], "wall_s": round(wall, 1),
            "hub_violations": len(violations), "checkpoint_bytes": size,
            "model": {"commit": m["model"]["commit"], "duration_ms": m["model"]["duration_ms"],
                      "bytes_downloaded": m["model"]["bytes_downloaded"]},
            "steps": [{"name": s["name"], "status": s["status"], "duration_s": round(s["duration_ms"] / 1000, 1),
                       "peak_memory_mib": s["peak_memory_bytes"] >> 20, "maxrss_mib": s["maxrss_bytes"] >> 20,
                       "guard": s["guard"]["mode"], "limit_mib": s["guard"]["limit_bytes"] >> 20}
                      for s in m["steps"]],
            "artifacts": [{"path": x["path"], "size_bytes": x.get("size_bytes"),
                           "gates": [(g.get("name"), g.get("passed")) for g in x.get("gates", [])]}
                          for x in m["artifacts"]]}
    check = os.path.join(out, "check.json")
    if os.path.isfile(check):
        with open(check) as f:
            e = json.load(f)["programs"][0]
        rows["check"] = {k: e["errors"][k] for k in ("max_abs_error", "max_rel_error", "reference_max_abs",
                                                      "bound", "pass")}
        rows["check"].update({k: e["timing"].get(k) for k in ("time_to_first_token_s", "decode_tokens_per_s")})
        rows["check"]["load_s"] = e["load_s"]
    dl = m["model"]["duration_ms"] / 1000
    print(f"| what | figure |\n|---|---|")
    print(f"| run | exit {r.returncode}, status {m['status']}, {wall:.0f} s, token leaks 0, CDN auth violations "
          f"{len(violations)} |")
    print(f"| fetch | {m['model']['bytes_downloaded'] / 1e9:.2f} GB in {dl:.1f} s "
          f"({m['model']['bytes_downloaded'] / 1e6 / max(dl, 1e-3):.0f} MB/s) |")
    for s in rows["steps"]:
        print(f"| step {s['name']} | {s['status']}, {s['duration_s']} s, peak {s['peak_memory_mib']} MiB "
              f"(max RSS {s['maxrss_mib']} MiB) under a {s['limit_mib']} MiB {s['guard']} guard |")
    for x in rows["artifacts"]:
        print(f"| {x['path']} | {x['size_bytes']} bytes, gates {x['gates']} |")
    if "check" in rows:
        c = rows["check"]
        print(f"| check | max abs error {c['max_abs_error']:.3g} on logits up to {c['reference_max_abs']:.3g} "
              f"(bound {c['bound']:.3g}), TTFT {c['time_to_first_token_s']} s, "
              f"{c['decode_tokens_per_s']} tokens/s |")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    # issue 22: each step's memory curve tops at the peak the manifest records, and the report draws it
    page = os.path.join(HERE, "results", f"pipeline-1b-{stamp}.html")
    rep = subprocess.run([pteflow, "report", man_path, "-o", page, "-q"], capture_output=True, text=True)
    rows["curves"] = [{"name": s["name"], "points": len(s.get("memory", {}).get("bytes", [])),
                       "top_is_peak": max(s.get("memory", {}).get("bytes", [0])) == s["peak_memory_bytes"],
                       "phases": [p["name"] for p in s.get("phases", [])]} for s in m["steps"]]
    curves = ", ".join(f"{c['name']}: {c['points']} points, top = peak {c['top_is_peak']}, phases "
                       f"{' '.join(c['phases'])}" for c in rows["curves"])
    print(f"| memory curves | {curves}; report {'written' if rep.returncode == 0 else 'FAILED'} |")
    res = os.path.join(HERE, "results", "pipeline-1b-%s.json" % stamp)
    with open(res, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"results: {res}")
    if not a.keep and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if r.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
