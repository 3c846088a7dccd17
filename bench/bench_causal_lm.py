#!/usr/bin/env python3
"""Per-architecture figures of pteflow_steps.export_causal_lm (issue 16).

For each architecture: the export step run directly under /usr/bin/time -v
(wall time, peak RSS), the .pte size, then the check step (max abs error
against transformers' eager model, decode tokens/s of the program on this
host), and what the estimator (python/pteflow_steps/estimate.py) predicted for
the same command line, so each row also shows the prediction error.

Groups (--only takes group or case names, comma-separated):
  tiny   the seeded tiny configs of tests/resources/pipelines/e2e/causal-lm-archs.yaml
         (int8, qwen3 also 8da4w, seq 64), plus the peer measured in the same run:
         export_llm's tiny Llama with the same options (ratios are against it)
  full   GPT-2 124M (int8, seq 1024, --bundle, --etrecord: pipelines/gpt2.yaml) and
         SmolLM2-135M (bf16 checkpoint, int8 + int8 embedding, seq 1024), random
         weights in the real layout (make_hf_checkpoint); about 3.9 GiB and minutes each
  small  Qwen3-0.6B and Gemma 3 1B shapes cut to 2 layers and a vocabulary of 8192 (bf16)
  1b     opt-in only (--only 1b): the Llama-3.2-1B shape, int8 linears + int4 embedding,
         seq 512, through export_llm (--random-config llama3.2-1b) and export_causal_lm
         (a random 1B-shaped llama config.json): peak and time of each (5-8 GiB, 3-5 min each)
Default: tiny.

usage: bench/bench_causal_lm.py [--only tiny,full,small,1b,NAME...] [--repeat N] [--stages] [--work DIR]
env:   PTEFLOW_PYTHON (the project's venv interpreter), PTEFLOW_BIN (default build/pteflow; for
       `inspect --json`'s runtime memory, skipped when absent)
Prints one Markdown table per group; writes bench/results/causal_lm-<date>.json (not committed).
Each figure is the median of --repeat runs (default 1: an export is minutes, not milliseconds;
use --repeat 5 for figures to compare, as docs/benchmarks.md asks) with the spread (min-max).
Times on a shared 2-core host are noisy; peaks and sizes are not. --stages runs the export with
PTEFLOW_DEBUG_MEMORY=1 and records the peak of each stage (build + quantize, export, lower, serialize);
that mode resets the kernel's high-water mark between stages, so the run's peak is then the largest
stage peak (what /usr/bin/time reports would be the last stage's only).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MiB = 1024 * 1024
PY = os.environ.get("PTEFLOW_PYTHON", sys.executable)
BIN = os.environ.get("PTEFLOW_BIN", os.path.join(ROOT, "build", "pteflow"))
TINY = [("llama", "int8"), ("qwen2", "int8"), ("qwen3", "int8"), ("qwen3", "8da4w"), ("gemma3_text", "int8"),
        ("phi3", "int8"), ("mistral", "int8"), ("gpt2", "int8"), ("smollm3", "int8")]
GROUPS = ("tiny", "full", "small", "1b")
OPT_IN = {"1b"}

# The published Llama-3.2-1B config.json, shape fields (as tests/cli/test_plan.py LLAMA_1B_CONFIG).
LLAMA_1B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
            "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
            "head_dim": 64, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "max_position_embeddings": 131072,
            "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            "tie_word_embeddings": True, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]}


class StepFailed(Exception):
    pass


class Case:
    def __init__(self, group, name, step, args, out, check=None, prepare=None, extra_files=()):
        self.group, self.name, self.step, self.args, self.out = group, name, step, args, out
        self.check = check            # (atol, rtol, decode tokens) or None
        self.prepare = prepare        # make_hf_checkpoint argv or None
        self.extra_files = list(extra_files)


def cases(work):
    c = []
    for arch, q in TINY:
        name = arch if q == "int8" else f"{arch}-{q}"
        d = os.path.join(work, "tiny", name)
        c.append(Case("tiny", name, "export_causal_lm",
                      ["--random-config", arch, "--seed", "0", "--quant", q, "--max-seq-len", "64", "--xnnpack",
                       "--out", f"{d}/model.pte"], f"{d}/model.pte", check=(0.02, 0.02, 24)))
    d = os.path.join(work, "tiny", "export_llm")
    c.append(Case("tiny", "llama (export_llm, peer)", "export_llm",
                  ["--random-config", "tiny", "--seed", "0", "--quant", "int8", "--max-seq-len", "64", "--xnnpack",
                   "--out", f"{d}/model.pte"], f"{d}/model.pte"))
    for name, cfg, opts, bundle, seq in (
            ("gpt2-124m", ["--config-json", "gpt2"], ["--quant", "int8"], True, 1024),
            ("smollm2-135m", ["--config-json", "smollm2-135m", "--dtype", "bf16"],
             ["--quant", "int8", "--embedding-quant", "int8"], False, 1024)):
        d = os.path.join(work, "full", name)
        extra = ["--bundle", f"{d}/out/model.bpte", "--etrecord", f"{d}/out/model.etrecord"] if bundle else []
        c.append(Case("full", name, "export_causal_lm",
                      ["--model-dir", f"{d}/ckpt", *opts, "--max-seq-len", str(seq), "--xnnpack", *extra,
                       "--out", f"{d}/out/model.pte"], f"{d}/out/model.pte", check=(0.5, 0.05, 32),
                      prepare=[*cfg, "--out", f"{d}/ckpt"], extra_files=[f"{d}/out/model.bpte"] if bundle else []))
    for name, cfg in (("qwen3-0.6b-2l", "qwen3-0.6b"), ("gemma3-1b-2l", "gemma3-1b")):
        d = os.path.join(work, "small", name)
        c.append(Case("small", name, "export_causal_lm",
                      ["--model-dir", f"{d}/ckpt", "--quant", "int8", "--embedding-quant", "int8", "--max-seq-len",
                       "512", "--xnnpack", "--out", f"{d}/out/model.pte"], f"{d}/out/model.pte",
                      check=(0.5, 0.05, 32),
                      prepare=["--config-json", cfg, "--layers", "2", "--set", "vocab_size=8192", "--dtype", "bf16",
                               "--out", f"{d}/ckpt"]))
    d = os.path.join(work, "1b")
    opts = ["--quant", "int8", "--embedding-quant", "int4", "--max-seq-len", "512", "--xnnpack"]
    c.append(Case("1b", "llama3.2-1b shape, export_llm", "export_llm",
                  ["--random-config", "llama3.2-1b", "--seed", "0", *opts, "--out", f"{d}/llm/model.pte"],
                  f"{d}/llm/model.pte"))
    c.append(Case("1b", "llama3.2-1b shape, export_causal_lm", "export_causal_lm",
                  ["--config-json", f"{d}/llama3.2-1b.json", "--seed", "0", *opts, "--out", f"{d}/hf/model.pte"],
                  f"{d}/hf/model.pte"))
    return c


def env():
    return dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))


def py_step(step, args, log, stages=False):
    """Run a step under /usr/bin/time -v: (wall s, peak RSS bytes)."""
    tf = log + ".time"
    t0 = time.perf_counter()
    e = dict(env(), PTEFLOW_DEBUG_MEMORY="1") if stages else env()
    with open(log, "w") as f:
        r = subprocess.run(["/usr/bin/time", "-v", "-o", tf, PY, "-m", f"pteflow_steps.{step}", *args],
                           stdout=f, stderr=subprocess.STDOUT, env=e)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        last = [l.strip() for l in open(log, errors="replace") if l.strip()][-1:] or ["?"]
        raise StepFailed(f"{step} failed (exit {r.returncode}): {last[0][:300]} (log: {log})")
    rss = next(int(l.split(":")[1]) for l in open(tf) if "Maximum resident" in l) * 1024
    if stages:
        rss = max([rss] + list(stage_peaks(log).values()))
    return wall, rss


def stage_peaks(log):
    """{stage: peak bytes} from the lines common.debug_memory prints."""
    out = {}
    for line in open(log, errors="replace"):
        m = re.search(r": memory: (.+): stage peak ([0-9.]+) GiB", line)
        if m:
            out[m.group(1)] = int(float(m.group(2)) * 1024 * MiB)
    return out


def estimate(step, args):
    r = subprocess.run([PY, "-m", "pteflow_steps.estimate", "--json", "--", "-m", f"pteflow_steps.{step}", *args],
                       capture_output=True, text=True, env=env())
    if r.returncode != 0:
        return None
    e = json.loads(r.stdout)
    return e if e.get("estimable") else None


def runtime_of(path):
    if not os.path.exists(BIN):
        return None
    r = subprocess.run([BIN, "inspect", "--json", path], capture_output=True, text=True)
    return json.loads(r.stdout).get("runtime_memory_bytes") if r.returncode == 0 else None


def median_spread(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None, None
    return statistics.median(xs), min(xs), max(xs)


def run_case(c, repeat, stages=False):
    d = os.path.dirname(c.out)
    os.makedirs(d, exist_ok=True)
    if c.name.endswith("export_causal_lm") and c.group == "1b":
        with open(c.args[c.args.index("--config-json") + 1], "w") as f:
            json.dump(LLAMA_1B, f)
    if c.prepare and not os.path.isfile(os.path.join(c.prepare[-1], "config.json")):
        py_step("make_hf_checkpoint", c.prepare, os.path.join(d, "make_hf_checkpoint.log"))
    e = estimate(c.step, c.args)
    walls, peaks, tps, err, by_stage = [], [], [], None, None
    for i in range(repeat):
        log = os.path.join(d, f"{c.step}.{i}.log")
        wall, rss = py_step(c.step, c.args, log, stages)
        by_stage = stage_peaks(log) if stages else None
        walls.append(wall)
        peaks.append(rss)
        if c.check:
            atol, rtol, n = c.check
            res = os.path.splitext(c.out)[0] + f".{c.step}.json"
            chk = os.path.join(d, "check.json")
            py_step("check", ["--export-result", res, "--atol", str(atol), "--rtol", str(rtol), "--decode-tokens",
                              str(n), "--out", chk], os.path.join(d, f"check.{i}.log"))
            prog = json.load(open(chk))["programs"][0]
            err = prog["errors"]["max_abs_error"]
            tps.append(prog["timing"].get("decode_tokens_per_s"))
    size = os.path.getsize(c.out)
    row = {"group": c.group, "case": c.name, "step": c.step, "runs": repeat,
           "export_s": median_spread(walls), "peak_bytes": median_spread(peaks), "pte_bytes": size,
           "max_abs_error": err, "stage_peaks_bytes": by_stage, "decode_tokens_per_s": median_spread(tps), "runtime_bytes": runtime_of(c.out),
           "extra_files": {os.path.basename(p): os.path.getsize(p) for p in c.extra_files if os.path.exists(p)}}
    if e:
        pte = next((a for a in e["artifacts"] if os.path.basename(a["path"]) == os.path.basename(c.out)), None)
        row["predicted"] = {"peak": e["peak_memory"], "pte": pte["size"] if pte else None,
                            "runtime": pte.get("runtime_memory") if pte else None,
                            "extra": {os.path.basename(a["path"]): a["size"] for a in e["artifacts"]
                                      if a is not pte}}
    print(f"bench_causal_lm: {c.name}: {walls[-1]:.0f} s, peak {peaks[-1] / MiB:.0f} MiB, .pte {size:,} B",
          file=sys.stderr, flush=True)
    return row


def fmt_ms(ms, unit, digits=0):
    med, lo, hi = ms
    if med is None:
        return "-"
    f = f"{{:,.{digits}f}}"
    s = f.format(med / unit)
    return s if lo == hi else f"{s} ({f.format(lo / unit)}-{f.format(hi / unit)})"


def pct(pred, actual):
    if not pred or not actual:
        return "-"
    mark = "" if pred["low"] <= actual <= pred["high"] else " OUT"
    return f"{(pred['point'] - actual) / actual * 100:+.1f}%{mark}"


def table(rows, peer):
    out = ["| architecture | export s | peak MiB | .pte bytes | max abs error | decode tok/s | runtime MiB "
           "| time / peer | peak / peer | predicted peak | predicted .pte |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "failed" in r:
            out.append(f"| {r['case']} | FAILED: {r['failed'].split(' (log:')[0]} |" + " |" * 9)
            continue
        p = r.get("predicted") or {}
        tr = pr = "-"
        if peer and peer is not r:
            tr = f"{r['export_s'][0] / peer['export_s'][0]:.2f}"
            pr = f"{r['peak_bytes'][0] / peer['peak_bytes'][0]:.2f}"
        err = "-" if r["max_abs_error"] is None else f"{r['max_abs_error']:.2g}"
        rt = "-" if r["runtime_bytes"] is None else f"{r['runtime_bytes'] / MiB:,.1f}"
        out.append(f"| {r['case']} | {fmt_ms(r['export_s'], 1)} | {fmt_ms(r['peak_bytes'], MiB)} | {r['pte_bytes']:,} "
                   f"| {err} | {fmt_ms(r['decode_tokens_per_s'], 1, 1)} | {rt} | {tr} | {pr} "
                   f"| {pct(p.get('peak'), r['peak_bytes'][0])} | {pct(p.get('pte'), r['pte_bytes'])} |")
        for name, size in r["extra_files"].items():
            out.append(f"| {r['case']}: {name} | | | {size:,} | | | | | | | "
                       f"{pct(p.get('extra', {}).get(name), size)} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="tiny", help="groups (tiny, full, small, 1b) or case names, comma-separated")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case (median and spread; default 1)")
    ap.add_argument("--stages", action="store_true",
                    help="record each export stage's peak (PTEFLOW_DEBUG_MEMORY=1; see above)")
    ap.add_argument("--work", help="working folder (default: a new temporary one; checkpoints are reused)")
    a = ap.parse_args()
    want = set(a.only.split(","))
    work = a.work or tempfile.mkdtemp(prefix="pteflow-bench-causal-lm.")
    rows = []
    for c in cases(work):
        if c.group in want or c.name in want:
            try:
                rows.append(run_case(c, max(1, a.repeat), a.stages))
            except StepFailed as e:
                print(f"bench_causal_lm: {c.name}: {e}", file=sys.stderr, flush=True)
                rows.append({"group": c.group, "case": c.name, "step": c.step, "failed": str(e)})
    for g in GROUPS:
        grp = [r for r in rows if r["group"] == g]
        if not grp:
            continue
        peer = next((r for r in grp if r["step"] == "export_llm" and "failed" not in r), None)
        title = {"tiny": "tiny seeded configs, int8 + XNNPACK, seq 64 (peer: export_llm's tiny Llama)",
                 "full": "full-size random checkpoints, seq 1024",
                 "small": "real shapes cut to 2 layers, vocabulary 8192, int8 + int8 embedding, seq 512",
                 "1b": "Llama-3.2-1B shape, int8 + int4 embedding, seq 512 (peer: export_llm)"}[g]
        print(f"\n### {title}\n\n{table(grp, peer)}")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    res = os.path.join(HERE, "results", "causal_lm-%s.json" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    with open(res, "w") as f:
        json.dump({"host_cpus": os.cpu_count(), "work": work, "rows": rows}, f, indent=1)
    print(f"results: {res}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
