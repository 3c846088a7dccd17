#!/usr/bin/env python3
"""Upload benchmark for `pteflow publish` (issue 19).

One run, one release, one machine: a pipeline writes a random model.pte of --size-mib (default 1024),
`pteflow run` verifies it and writes the manifest; then the same files go to the loopback Hub
(tests/hub/hubserver.py with its write half) twice, each into a fresh server: `pteflow publish`
(verify first, preupload, LFS multipart in 8 MiB parts, commit) and Python huggingface_hub's
upload_folder (HF_HUB_DISABLE_XET=1: the same LFS path). Reported: wall time of each, their ratio,
pteflow's peak RSS, and that both commits hold the same bytes. The Hub is a Python server on the same
host: both clients share its cost, so the ratio compares the clients, not the absolute speed.

usage: bench/bench_publish.py [--size-mib 1024] [--runs 1]
env:   PTEFLOW_BIN     a release build of pteflow (default: build one in build-bench/)
       PTEFLOW_PYTHON  python with huggingface_hub (default: this interpreter)
Writes bench/results/publish-<date>.md and .json (not committed).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "hub"))
from hubfixture import LocalHub  # noqa: E402

TOKEN = "hf_benchWriteToken"


def log(msg):
    print("bench_publish: " + msg, file=sys.stderr, flush=True)


def build_pteflow():
    b = os.path.join(ROOT, "build-bench")
    log("building a release pteflow in build-bench/ (no sanitizers)")
    subprocess.run(["cmake", "-S", ROOT, "-B", b, "-DCMAKE_BUILD_TYPE=Release", "-DPTEFLOW_TESTS=OFF"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", b, "--target", "pteflow", "-j2"], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(b, "pteflow")


def timed(cmd, env):
    """Wall seconds and the child's peak RSS (KiB, from wait4), checking the exit status."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    out, err = p.stdout.read(), p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(cmd), out, err))
    return wall, ru.ru_maxrss, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    pteflow = os.environ.get("PTEFLOW_BIN") or build_pteflow()
    python = os.environ.get("PTEFLOW_PYTHON", sys.executable)
    work = tempfile.mkdtemp(prefix="pteflow-bench-publish-")
    try:
        with open(os.path.join(work, "p.yaml"), "w") as f:
            f.write(textwrap.dedent("""\
                version: 1
                name: bench-publish
                steps:
                  - name: make
                    run: ["/bin/sh", "-c", "head -c %dM /dev/urandom > ${out}/model.pte"]
                    cache: false
                artifacts:
                  - { path: model.pte, kind: file }
                """ % a.size_mib))
        out = os.path.join(work, "out")
        log("writing and verifying a %d MiB release" % a.size_mib)
        subprocess.run([pteflow, "run", os.path.join(work, "p.yaml"), "--out", out, "--no-echo", "--quiet",
                        "--no-cache"], check=True)
        upload_dir = os.path.join(work, "upload")  # the same files for huggingface_hub
        os.makedirs(upload_dir)
        for name in ("model.pte", "manifest.json", "SHA256SUMS", "provenance.intoto.jsonl"):
            os.link(os.path.join(out, name), os.path.join(upload_dir, name))
        results = {"pteflow": [], "huggingface_hub": [], "pteflow_rss_kib": []}
        for run in range(a.runs):
            for client in ("pteflow", "huggingface_hub"):
                root = os.path.join(work, "hub-%s-%d" % (client, run))
                os.makedirs(root)
                with LocalHub(root, token=TOKEN, python=python) as hub:
                    env = hub.env(token=TOKEN, HF_HOME=os.path.join(work, "hfhome"))
                    if client == "pteflow":
                        cmd = [pteflow, "publish", os.path.join(out, "manifest.json"), "--to", "hf:bench/rel",
                               "--create", "--quiet"]
                    else:
                        cmd = [python, "-c", textwrap.dedent("""\
                            import sys
                            from huggingface_hub import HfApi
                            api = HfApi()
                            api.create_repo("bench/rel", exist_ok=True)
                            print(api.upload_folder(folder_path=sys.argv[1], repo_id="bench/rel").oid)
                            """), upload_dir]
                    wall, rss, _ = timed(cmd, env)
                    st = hub.state()
                    assert st["violations"] == [], st["violations"]
                    results[client].append(wall)
                    if client == "pteflow":
                        results["pteflow_rss_kib"].append(rss)
                    log("%s run %d: %.2f s" % (client, run + 1, wall))
        med = {k: statistics.median(v) for k, v in results.items() if v}
        ratio = med["huggingface_hub"] / med["pteflow"]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        doc = {"size_mib": a.size_mib, "runs": a.runs, "wall_s": results, "median_s": med,
               "huggingface_hub_over_pteflow": ratio, "cpus": os.cpu_count(),
               "load": os.getloadavg()}
        with open(os.path.join(HERE, "results", "publish-%s.json" % stamp), "w") as f:
            json.dump(doc, f, indent=1)
        lines = ["# publish %d MiB to the loopback Hub (%d run(s))" % (a.size_mib, a.runs), "",
                 "| client | median wall s |", "| --- | --- |",
                 "| pteflow publish (verify + upload + commit) | %.2f |" % med["pteflow"],
                 "| huggingface_hub upload_folder | %.2f |" % med["huggingface_hub"], "",
                 "huggingface_hub / pteflow: %.2fx; pteflow peak RSS %.1f MiB; load %s" %
                 (ratio, med["pteflow_rss_kib"] / 1024.0, ", ".join("%.1f" % x for x in os.getloadavg()))]
        with open(os.path.join(HERE, "results", "publish-%s.md" % stamp), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
