#!/usr/bin/env python3
"""The remote store (issue 20): restoring a large output from a loopback remote, against curl.

A one-step pipeline writes one file of SIZE_MIB (default 1024) MiB. Machine A runs it and pushes it
to nginx (WebDAV PUT) started on 127.0.0.1 with its own config; then REPEAT times a clean machine B
(empty local store, empty output folder) runs it: the step is fetched from the remote into B's local
store (hashed while it streams), then restored into the output folder (hashed again). Peers in the
same run, on the same filesystem: `curl -o` of the same object (no check at all), and `curl -o`
followed by `openssl dgst -sha256` (one check). pteflow's figures come from the manifest: the fetch
is the step's cache.overhead_ms (fingerprint and remote fetch), the restore its cache.restore_ms.

Usage: bench/bench_remote_store.py  (env: PTEFLOW_BIN default build/pteflow, PTEFLOW_PYTHON default
python3, REPEAT default 5, SIZE_MIB default 1024, BENCH_OUT default a new temporary folder: its
filesystem holds the nginx root, the stores and the outputs; /dev/shm takes the disk out)
Prints a Markdown table and writes bench/results/remote-store-<date>.json.
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
sys.path.insert(0, str(ROOT / "tests" / "hub"))
from remotestore import Nginx, nginx_has_dav  # noqa: E402

PTEFLOW = os.environ.get("PTEFLOW_BIN", str(ROOT / "build" / "pteflow"))
PYTHON = os.environ.get("PTEFLOW_PYTHON", "python3")
REPEAT = int(os.environ.get("REPEAT", "5"))
SIZE_MIB = int(os.environ.get("SIZE_MIB", "1024"))

PIPELINE = f"""\
version: 1
name: remote-big
steps:
  - name: write
    run: ["dd", "if=/dev/urandom", "of=${{out}}/big.bin", "bs=1M", "count={SIZE_MIB}", "status=none"]
artifacts:
  - {{ path: big.bin, kind: file }}
"""


def timed(args, env=None):
    t0 = time.monotonic()
    p = subprocess.run(list(map(str, args)), capture_output=True, text=True, env=env)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"bench_remote_store: {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return dt, p


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def drop(*paths):
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


def main():
    if not nginx_has_dav():
        sys.exit("bench_remote_store: nginx with the WebDAV module is needed (scripts/setup-deps.sh)")
    work = pathlib.Path(os.environ.get("BENCH_OUT") or tempfile.mkdtemp(prefix="pteflow-bench-remote-"))
    work.mkdir(parents=True, exist_ok=True)
    nginx = Nginx(work / "nginx")
    try:
        p = work / "p.yaml"
        p.write_text(PIPELINE)
        url = nginx.url + "/cache"
        env = dict(os.environ)
        env.pop("GITHUB_ACTIONS", None)
        env["PTEFLOW_STORE"] = str(work / "a-store")
        push_s, r = timed([PTEFLOW, "run", p, "--python", PYTHON, "--out", work / "a-out", "--remote-store", url,
                           "--no-echo"], env)
        m = json.loads((work / "a-out" / "manifest.json").read_text())
        assert m["steps"][0]["cache"].get("remote_stored"), r.stderr
        sha = next(a["sha256"] for a in m["artifacts"] if a["path"] == "big.bin")
        drop(work / "a-out", work / "a-store")
        fetch, restore, whole = [], [], []
        for _ in range(REPEAT):
            env["PTEFLOW_STORE"] = str(work / "b-store")
            dt, r = timed([PTEFLOW, "run", p, "--python", PYTHON, "--out", work / "b-out", "--remote-store", url,
                           "--remote-store-mode", "read", "-q"], env)
            s = json.loads((work / "b-out" / "manifest.json").read_text())["steps"][0]
            assert s["cache"].get("source") == "remote", r.stderr
            fetch.append(s["cache"]["overhead_ms"] / 1000)
            restore.append(s["cache"]["restore_ms"] / 1000)
            whole.append(dt)
            drop(work / "b-out", work / "b-store")
        curl, curl_sha = [], []
        obj = f"{url}/cas/{sha}"
        for _ in range(REPEAT):
            dst = work / "curl.bin"
            dt, _ = timed(["curl", "-sSf", "-o", dst, obj])
            curl.append(dt)
            dst.unlink()
            dt, r = timed(["sh", "-c", f"curl -sSf -o '{dst}' '{obj}' && openssl dgst -sha256 '{dst}'"])
            assert sha in r.stdout, r.stdout
            curl_sha.append(dt)
            dst.unlink()
    finally:
        nginx.stop()
    gib = SIZE_MIB / 1024
    res = {
        "size_mib": SIZE_MIB, "repeat": REPEAT, "filesystem_of": str(work),
        "push_run_s": push_s,
        "pteflow_fetch_s": summary(fetch), "pteflow_restore_s": summary(restore), "pteflow_run_s": summary(whole),
        "curl_s": summary(curl), "curl_then_sha256_s": summary(curl_sha),
    }
    rows = [("pteflow: fetch into the local store (hashed while streaming)", res["pteflow_fetch_s"]),
            ("pteflow: restore into the output folder (hashed again)", res["pteflow_restore_s"]),
            ("pteflow run on a clean machine, whole", res["pteflow_run_s"]),
            ("curl -o (no check)", res["curl_s"]),
            ("curl -o, then openssl dgst -sha256", res["curl_then_sha256_s"])]
    print(f"\nRemote store restore of {SIZE_MIB} MiB from loopback nginx ({work}), {REPEAT} runs, median [min-max]\n")
    print("| what | seconds | GiB/s | vs curl |")
    print("| --- | --- | --- | --- |")
    base = res["curl_s"]["median"]
    for name, s in rows:
        print(f"| {name} | {s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}] | {gib / s['median']:.2f} "
              f"| {s['median'] / base:.2f}x |")
    print(f"\n(machine A's run that wrote and pushed it took {push_s:.1f} s)")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"remote-store-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(res, indent=2))
    if not os.environ.get("BENCH_OUT"):
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
