#!/usr/bin/env python3
"""Download benchmark for `pteflow fetch` (see docs: benchmarks.md).

One run, same files, same local server: nginx (started here on 127.0.0.1 with
its own config) serves the LFS bytes as the CDN origin; tests/hub/hubserver.py
answers the API and the resolve redirects. Compared, as ratios of median wall
time: pteflow vs the `curl` command line (--parallel, following the same
redirects, no hashing, no API calls) vs Python huggingface_hub
snapshot_download; the cache on tmpfs and on the real disk. Also pteflow's
peak RSS for a small and a large file (streaming: the peak should be flat),
and --jobs 1 vs --jobs 8 on many small files.

usage: bench/bench_fetch.py [--size-mib 1024] [--runs 3] [--small-files 200]
env:   PTEFLOW_BIN   a release build of pteflow (default: build one in build-bench/)
       PTEFLOW_PYTHON  python with huggingface_hub (default: this interpreter)
Writes bench/results/fetch-<date>.md and .json (not committed).
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "hub"))
from hubfixture import LocalHub  # noqa: E402

REPO = "bench/files"
MANY = "bench/many"


def log(msg):
    print("bench_fetch: " + msg, file=sys.stderr, flush=True)


def build_pteflow():
    b = os.path.join(ROOT, "build-bench")
    log("building a release pteflow in build-bench/ (no sanitizers)")
    subprocess.run(["cmake", "-S", ROOT, "-B", b, "-DCMAKE_BUILD_TYPE=Release", "-DPTEFLOW_TESTS=OFF"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", b, "--target", "pteflow", "-j2"], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(b, "pteflow")


def write_random(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 24)
            f.write(os.urandom(n))
            left -= n


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def start_nginx(work, cdn_root):
    conf = os.path.join(work, "nginx.conf")
    sock = __import__("socket").socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with open(conf, "w") as f:
        f.write("""worker_processes 1;
daemon off;
pid %(w)s/nginx.pid;
error_log %(w)s/nginx-error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path %(w)s/tmp-body;
  proxy_temp_path %(w)s/tmp-proxy;
  fastcgi_temp_path %(w)s/tmp-fcgi;
  uwsgi_temp_path %(w)s/tmp-uwsgi;
  scgi_temp_path %(w)s/tmp-scgi;
  server {
    listen 127.0.0.1:%(p)d;
    root %(r)s;
    location /lfs/ { types { } default_type application/octet-stream; }
  }
}
""" % {"w": work, "p": port, "r": cdn_root})
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", work], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    if proc.poll() is not None:
        raise SystemExit("nginx did not start: " + proc.stderr.read().decode())
    return proc, port


def timed(cmd, env, rss=False):
    """Wall seconds (and peak RSS KiB with /usr/bin/time -v)."""
    full = (["/usr/bin/time", "-v"] + cmd) if rss else cmd
    t0 = time.monotonic()
    p = subprocess.run(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    peak = None
    if rss:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        peak = int(m.group(1)) if m else None
    return wall, peak


def series(runs, prepare, cmd_fn, env, rss=False):
    walls, peaks = [], []
    for _ in range(runs):
        target = prepare()
        w, p = timed(cmd_fn(target), env, rss)
        walls.append(w)
        if p:
            peaks.append(p)
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls), "runs": walls,
            "peak_rss_kib": max(peaks) if peaks else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024, help="size of the large file (default 1024)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--small-files", type=int, default=200)
    ap.add_argument("--latency-ms", type=int, default=20,
                    help="delay of each hub answer in the small-files test, a stand-in for the RTT to the real Hub")
    args = ap.parse_args()
    pteflow = os.environ.get("PTEFLOW_BIN") or build_pteflow()
    python = os.environ.get("PTEFLOW_PYTHON") or sys.executable
    disk_base = tempfile.mkdtemp(prefix="pteflow-bench-fetch-", dir=os.environ.get("BENCH_TMP"))
    shm_base = tempfile.mkdtemp(prefix="pteflow-bench-fetch-", dir="/dev/shm") if os.path.isdir("/dev/shm") else None
    os.chmod(disk_base, 0o755)  # nginx workers read the CDN folder as another user
    nginx = hub = None
    try:
        fixtures = os.path.join(disk_base, "fixtures")
        repo_dir = os.path.join(fixtures, "models", "bench", "files")
        files = {"config.json": None, "model-small.safetensors": 100 << 20, "model.safetensors": args.size_mib << 20,
                 "tokenizer.bin": 8 << 20}
        log("writing the files (large one: %d MiB) on disk in %s" % (args.size_mib, disk_base))
        for name, size in files.items():
            p = os.path.join(repo_dir, "main", name)
            if size is None:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    f.write('{"bench": true}\n')
            else:
                write_random(p, size)
        with open(os.path.join(repo_dir, "repo.json"), "w") as f:
            json.dump({"lfs": ["*.safetensors", "*.bin"]}, f)
        many = os.path.join(fixtures, "models", "bench", "many", "main")
        os.makedirs(many)
        for i in range(args.small_files):
            with open(os.path.join(many, "f%04d.txt" % i), "wb") as f:
                f.write(os.urandom(4096))
        cdn_root = os.path.join(disk_base, "cdn")
        os.makedirs(os.path.join(cdn_root, "lfs"))
        for name, size in files.items():
            if size:
                src = os.path.join(repo_dir, "main", name)
                os.link(src, os.path.join(cdn_root, "lfs", sha256_file(src)))
        nginx, nport = start_nginx(disk_base, cdn_root)
        hub = LocalHub(fixtures, cdn_base="http://127.0.0.1:%d" % nport, python=python).start()
        env = hub.env()
        total = sum(os.path.getsize(os.path.join(repo_dir, "main", n)) for n in files)

        def fresh(base, tag):
            def prep():
                d = os.path.join(base, tag)
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
                subprocess.run(["sync"])
                return d
            return prep

        resolve = [hub.url + "/%s/resolve/main/%s" % (REPO, n) for n in files]

        def curl_cmd(d):
            cmd = ["curl", "-sfL", "--parallel", "--parallel-max", "8"]
            for n, u in zip(files, resolve):
                cmd += ["-o", os.path.join(d, n), u]
            return cmd

        py_code = ("import sys; from huggingface_hub import snapshot_download; "
                   "snapshot_download(sys.argv[1], cache_dir=sys.argv[2])")
        results = {"size_mib": args.size_mib, "total_bytes": total, "runs": args.runs, "where": {}}
        for where, base in (("tmpfs", shm_base), ("disk", disk_base)):
            if base is None:
                continue
            log("timing on %s (%d runs each)" % (where, args.runs))
            r = {}
            r["pteflow"] = series(args.runs, fresh(base, "p"), lambda d: [pteflow, "--quiet", "fetch", REPO,
                                                                          "--cache-dir", d], env, rss=True)
            r["curl"] = series(args.runs, fresh(base, "c"), curl_cmd, env)
            r["huggingface_hub"] = series(args.runs, fresh(base, "h"), lambda d: [python, "-c", py_code, REPO, d], env)
            for k in r:
                r[k]["gb_per_s"] = total / r[k]["median_s"] / 1e9
            r["ratio_pteflow_over_curl"] = r["pteflow"]["median_s"] / r["curl"]["median_s"]
            r["ratio_pteflow_over_huggingface_hub"] = r["pteflow"]["median_s"] / r["huggingface_hub"]["median_s"]
            results["where"][where] = r
            shutil.rmtree(os.path.join(base, "p"), ignore_errors=True)
            shutil.rmtree(os.path.join(base, "c"), ignore_errors=True)
            shutil.rmtree(os.path.join(base, "h"), ignore_errors=True)
        log("peak RSS: 100 MiB file alone vs the %d MiB file" % args.size_mib)
        rb = shm_base or disk_base
        small = series(1, fresh(rb, "r"), lambda d: [pteflow, "--quiet", "fetch", REPO, "--cache-dir", d, "--include",
                                                      "model-small.safetensors"], env, rss=True)
        large = series(1, fresh(rb, "r"), lambda d: [pteflow, "--quiet", "fetch", REPO, "--cache-dir", d, "--include",
                                                      "model.safetensors"], env, rss=True)
        results["peak_rss_kib"] = {"100MiB": small["peak_rss_kib"], "%dMiB" % args.size_mib: large["peak_rss_kib"]}
        log("--jobs 1 vs --jobs 8 on %d small files, hub answers delayed %d ms (a network round trip)"
            % (args.small_files, args.latency_ms))
        hub.control(latency_ms=args.latency_ms)
        j1 = series(args.runs, fresh(rb, "j"), lambda d: [pteflow, "--quiet", "fetch", MANY, "--cache-dir", d,
                                                           "--jobs", "1"], env)
        j8 = series(args.runs, fresh(rb, "j"), lambda d: [pteflow, "--quiet", "fetch", MANY, "--cache-dir", d,
                                                           "--jobs", "8"], env)
        hj = series(args.runs, fresh(rb, "j"), lambda d: [python, "-c", py_code, MANY, d], env)
        results["small_files"] = {"count": args.small_files, "latency_ms": args.latency_ms, "jobs1": j1,
                                  "jobs8": j8, "huggingface_hub": hj,
                                  "speedup_jobs8": j1["median_s"] / j8["median_s"]}
        if hub.violations():
            raise SystemExit("the CDN saw an Authorization header: %s" % hub.violations())
    finally:
        if hub:
            hub.stop()
        if nginx:
            nginx.terminate()
            nginx.wait()
        shutil.rmtree(disk_base, ignore_errors=True)
        if shm_base:
            shutil.rmtree(shm_base, ignore_errors=True)

    lines = ["# pteflow fetch benchmark", "",
             "%d files, %.2f GiB in all (large file %d MiB); nginx serves LFS bytes, the Python stand-in the API; "
             "median of %d runs (min-max)." % (len(files), total / 2**30, args.size_mib, args.runs), "",
             "| cache on | pteflow | curl --parallel | huggingface_hub | pteflow/curl | pteflow/hf_hub |",
             "| --- | --- | --- | --- | --- | --- |"]
    for where, r in results["where"].items():
        cell = lambda k: "%.2f s (%.2f-%.2f), %.2f GB/s" % (r[k]["median_s"], r[k]["min_s"], r[k]["max_s"],
                                                          r[k]["gb_per_s"])
        lines.append("| %s | %s | %s | %s | %.2f | %.2f |" % (where, cell("pteflow"), cell("curl"),
                                                              cell("huggingface_hub"), r["ratio_pteflow_over_curl"],
                                                              r["ratio_pteflow_over_huggingface_hub"]))
    rss = results["peak_rss_kib"]
    lines += ["", "pteflow peak RSS: " + ", ".join("%s file: %.1f MiB" % (k, v / 1024) for k, v in rss.items()),
              "", "%d small files (hub answers delayed %d ms): --jobs 1 %.2f s, --jobs 8 %.2f s (x%.2f), huggingface_hub %.2f s" % (
                  args.small_files, args.latency_ms, results["small_files"]["jobs1"]["median_s"],
                  results["small_files"]["jobs8"]["median_s"], results["small_files"]["speedup_jobs8"],
                  results["small_files"]["huggingface_hub"]["median_s"])]
    text = "\n".join(lines) + "\n"
    print(text)
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(out, "fetch-%s.md" % stamp), "w") as f:
        f.write(text)
    with open(os.path.join(out, "fetch-%s.json" % stamp), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
