#!/usr/bin/env python3
"""Incremental runs (issue 11): what the store costs and what it saves, in one run.

1. The demo pipeline (pipelines/demo.yaml, real export + check) once with an empty store (cold),
   then REPEAT times again with nothing changed (restored). Reports the re-run's wall time (median,
   spread) against the cold run, and the store's own overhead on the cold run from the manifest
   (cache.overhead_ms: fingerprinting, hashing and copying the outputs in) against each step's
   own time (target: under 2%).
2. A synthetic step that writes one large file (SIZE_MIB, default 1024) from /dev/zero-like bytes
   (page cache): what storing it adds to the step (hashing it; the copy into the store runs in the
   background while the next steps run, and is reported apart) and the time to restore it, against
   `cp` and `sha256sum` of the same file in the same run, so the figure for the 1.4 GB
   Llama-3.2-1B .pte can be told from the store's throughput.

Usage: bench/bench_cache.py  (env: PTEFLOW_BIN default build/pteflow, PTEFLOW_PYTHON default
python3, REPEAT default 5, SIZE_MIB default 1024, BENCH_OUT default a new temporary folder,
BENCH_PARTS default "demo,big": "big" alone measures the large output only)
Prints a Markdown table and writes bench/results/cache-<date>.json.
"""
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PTEFLOW = os.environ.get("PTEFLOW_BIN", str(ROOT / "build" / "pteflow"))
PYTHON = os.environ.get("PTEFLOW_PYTHON", "python3")
REPEAT = int(os.environ.get("REPEAT", "5"))
SIZE_MIB = int(os.environ.get("SIZE_MIB", "1024"))


def run(args, env):
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"bench_cache: {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return dt


def manifest(out):
    return json.loads((pathlib.Path(out) / "manifest.json").read_text())


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def demo(work, env):
    out = work / "demo-out"
    cold = run([PTEFLOW, "run", ROOT / "pipelines" / "demo.yaml", "--python", PYTHON, "--out", out, "-q"], env)
    m = manifest(out)
    steps = [{"name": s["name"], "duration_ms": s["duration_ms"], "overhead_ms": s["cache"]["overhead_ms"],
              "store_ms": s["cache"]["store_ms"]} for s in m["steps"]]
    again = [run([PTEFLOW, "run", ROOT / "pipelines" / "demo.yaml", "--python", PYTHON, "--out", out, "-q"], env)
             for _ in range(REPEAT)]
    assert all(s["cached"] for s in manifest(out)["steps"]), "the re-run was not restored"
    return {"cold_s": cold, "rerun_s": summary(again), "steps": steps}


def big(work, env):
    p = work / "big.yaml"
    out = work / "big-out"
    p.write_text(f"""version: 1
name: bench-big-output
steps:
  - name: write
    run: ["{PYTHON}", "-c", "import sys; b = bytes(range(256)) * 4096; f = open(sys.argv[1], 'wb'); [f.write(b) for _ in range({SIZE_MIB})]", "${{out}}/big.bin"]
artifacts:
  - {{ path: big.bin, kind: file }}
""")
    stored, restored = [], []
    for i in range(REPEAT):
        e = dict(env, PTEFLOW_STORE=str(work / f"big-store-{i}"))
        run([PTEFLOW, "run", p, "--out", out, "-q"], e)
        s = manifest(out)["steps"][0]
        stored.append({"step_ms": s["duration_ms"], "overhead_ms": s["cache"]["overhead_ms"],
                       "store_ms": s["cache"]["store_ms"]})
        (out / "big.bin").unlink()
        run([PTEFLOW, "run", p, "--out", out, "-q"], e)
        s = manifest(out)["steps"][0]
        assert s["cached"], "not restored"
        restored.append(s["cache"]["restore_ms"])
        shutil.rmtree(work / f"big-store-{i}")
    peer_cp, peer_sha = [], []
    for _ in range(REPEAT):
        t0 = time.monotonic()
        subprocess.run(["cp", out / "big.bin", work / "copy.bin"], check=True)
        peer_cp.append((time.monotonic() - t0) * 1000)
        os.unlink(work / "copy.bin")
        t0 = time.monotonic()
        subprocess.run(["sha256sum", out / "big.bin"], check=True, capture_output=True)
        peer_sha.append((time.monotonic() - t0) * 1000)
    return {"size_mib": SIZE_MIB, "store_overhead_ms": summary([x["overhead_ms"] for x in stored]),
            "background_copy_ms": summary([x["store_ms"] for x in stored]),
            "step_ms": summary([x["step_ms"] for x in stored]), "restore_ms": summary(restored),
            "cp_ms": summary(peer_cp), "sha256sum_ms": summary(peer_sha)}


def main():
    if not os.access(PTEFLOW, os.X_OK):
        sys.exit(f"bench_cache: {PTEFLOW} not found: build with scripts/build.sh build")
    work = pathlib.Path(os.environ.get("BENCH_OUT") or tempfile.mkdtemp(prefix="pteflow-bench-cache-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PTEFLOW_STORE=str(work / "store"))
    parts = os.environ.get("BENCH_PARTS", "demo,big").split(",")
    d = demo(work, env) if "demo" in parts else None
    b = big(work, env)
    res = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "demo": d, "big": b}
    print("| what | figure |\n| --- | --- |")
    for line in demo_lines(d) if d else []:
        print(line)
    big_lines(b)
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / f"cache-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=2))
    print(f"\nresults: {path}", file=sys.stderr)


def demo_lines(d):
    lines = [f"| demo, cold run (export + check, empty store) | {d['cold_s']:.1f} s |"]
    r = d["rerun_s"]
    lines.append(f"| demo, re-run with nothing changed (median of {r['n']}) | {r['median']:.2f} s "
          f"({r['min']:.2f}-{r['max']:.2f}); {d['cold_s'] / r['median']:.0f}x faster than cold |")
    for s in d["steps"]:
        pct = 100.0 * s["overhead_ms"] / max(1, s["duration_ms"])
        lines.append(f"| demo step {s['name']}: store overhead on the cold run | {s['overhead_ms']} ms of "
              f"{s['duration_ms'] / 1000:.1f} s ({pct:.2f}%); copy in the background {s['store_ms']} ms |")
    return lines


def big_lines(b):
    mib = b["size_mib"]
    so, rs = b["store_overhead_ms"]["median"], b["restore_ms"]["median"]
    bg = b["background_copy_ms"]["median"]
    print(f"| {mib} MiB output: what storing it adds to the step (hashing it), median | {so:.0f} ms "
          f"({mib / 1024 / (so / 1000):.2f} GiB/s); sha256sum {b['sha256sum_ms']['median']:.0f} ms |")
    print(f"| {mib} MiB output: the copy into the store, in the background, median | {bg:.0f} ms; "
          f"cp {b['cp_ms']['median']:.0f} ms |")
    print(f"| {mib} MiB output: restoring it (hashed as it is copied), median | {rs:.0f} ms "
          f"({mib / 1024 / (rs / 1000):.2f} GiB/s) |")
    llama_bytes, llama_s = 1_402_614_016, 192.0  # README: the 1B-shaped .pte and its export time
    est = llama_bytes / (mib * 2**20) * so / 1000
    print(f"| implied for the 1.40 GB Llama-3.2-1B .pte (export {llama_s:.0f} s) | {est:.1f} s "
          f"({100 * est / llama_s:.1f}% of the step) |")


if __name__ == "__main__":
    main()
