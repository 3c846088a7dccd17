#!/usr/bin/env python3
"""Memory sampling (issue 22): what sampling a step's memory costs the step.

The same CPU-bound step (a fixed amount of work: a Python loop over a list of
ALLOC_MIB MiB, so the tree and the cgroup have memory to measure) runs
through `pteflow run` with sampling off (--memory-sample-ms 0) and on (250 ms,
the default, and 10 ms, the worst case the option allows in practice),
alternating, REPEAT times each, under each GUARDS mode. Reports the median
step duration (the manifest's duration_ms) and CPU time of each setting, and
the ratio to "off" (target: within 1% at 250 ms), and pteflow's own CPU time
per run (its rusage minus the step's: what sampling adds is the difference
from "off", and it does not depend on how loaded the machine is, unlike the
step's wall time).

Usage: bench/bench_sampling.py  (env: PTEFLOW_BIN default build/pteflow,
REPEAT default 7, WORK default 30000000 loop iterations, ALLOC_MIB default 200,
GUARDS default "auto watchdog")
Use a release build (no sanitizers) for figures. Prints a Markdown table and
writes bench/results/sampling-<date>.json.
"""
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
PTEFLOW = os.environ.get("PTEFLOW_BIN", str(HERE.parent / "build" / "pteflow"))
REPEAT = int(os.environ.get("REPEAT", "7"))
WORK = int(os.environ.get("WORK", "30000000"))
ALLOC_MIB = int(os.environ.get("ALLOC_MIB", "200"))
GUARDS = os.environ.get("GUARDS", "auto watchdog").split()
SETTINGS = (("off", "0"), ("250 ms", "250"), ("10 ms", "10"))

STEP = (f"import sys\nkeep = bytearray({ALLOC_MIB} << 20)\nfor i in range(0, len(keep), 4096): keep[i] = 1\n"
        f"s = 0\nfor i in range({WORK}): s += i & 7\nprint(s)\n")


def children_cpu_ms():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * 1000


def one(tmp, guard, ms, i):
    out = tmp / f"{guard}-{ms}-{i}"
    cpu0 = children_cpu_ms()
    p = subprocess.run([PTEFLOW, "run", tmp / "p.yaml", "--out", out, "--no-cache", "--memory-guard", guard,
                        "--memory-sample-ms", ms, "-q"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_sampling: the run failed:\n{p.stderr[-2000:]}")
    cpu = children_cpu_ms() - cpu0
    s = json.loads((out / "manifest.json").read_text())["steps"][0]
    step_cpu = s["cpu_user_ms"] + s["cpu_sys_ms"]
    return s["duration_ms"], step_cpu, len((s.get("memory") or {}).get("t_ms", [])), cpu - step_cpu


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-sampling-"))
    (tmp / "step.py").write_text(STEP)
    (tmp / "p.yaml").write_text(f"version: 1\nname: sampling\nsteps:\n  - name: work\n"
                                f"    run: [\"{sys.executable}\", \"{tmp / 'step.py'}\"]\n"
                                f"    limits: {{ memory: 2GiB }}\n")
    results = {}
    for guard in GUARDS:
        figures = {name: [] for name, _ in SETTINGS}
        for i in range(REPEAT):
            for name, ms in SETTINGS:  # alternating: drift in the machine's load hits every setting alike
                figures[name].append(one(tmp, guard, ms, i))
        results[guard] = {name: {"duration_ms": statistics.median(f[0] for f in v),
                                 "cpu_ms": statistics.median(f[1] for f in v),
                                 "points": statistics.median(f[2] for f in v),
                                 "pteflow_cpu_ms": statistics.median(f[3] for f in v)} for name, v in figures.items()}
    print("| guard | sampling | step duration (median) | ratio to off | step CPU | points | pteflow CPU | "
          "added CPU / step duration |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for guard, r in results.items():
        base = r["off"]
        for name, _ in SETTINGS:
            x = r[name]
            added = (x["pteflow_cpu_ms"] - base["pteflow_cpu_ms"]) / x["duration_ms"] * 100
            print(f"| {guard} | {name} | {x['duration_ms'] / 1000:.2f} s | {x['duration_ms'] / base['duration_ms']:.3f} "
                  f"| {x['cpu_ms'] / 1000:.2f} s | {x['points']:.0f} | {x['pteflow_cpu_ms']:.0f} ms | {added:+.2f}% |")
    res = HERE / "results"
    res.mkdir(exist_ok=True)
    (res / f"sampling-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps({"repeat": REPEAT, "work": WORK, "alloc_mib": ALLOC_MIB, "results": results}, indent=1))


if __name__ == "__main__":
    main()
