#!/usr/bin/env python3
"""Runtime KPI measurement (issue 17): what the per-turn memory sampling costs, and what one program
measures against the guide's gates.

The same program runs the same seeded session (pteflow_steps.kpi, the step pteflow runs) REPEAT times
with the per-turn resident-memory reading and REPEAT times without it (--no-memory-sampling),
alternating, in one run. A run's figure is its session wall time per turn (the session's own clock,
from the first turn to the last, the memory readings included); the result is the ratio of the medians
with and without sampling (target: within 2%), with the spread of the runs. On a shared host that A/B ratio is mostly noise, so the reading is also timed alone
(microseconds per call) and set against the median turn. Also prints the KPI summary of the first sampled run (TTFT, prefill and
decode tokens/s, load, peak RSS, memory growth) and the host it was measured on.

Usage: bench/bench_kpi.py [PTE]   (default: tests/resources/pte/tiny-llama-kpi.pte, context 64)
env: PTEFLOW_PYTHON (default python3), REPEAT (5), TURNS (20), THREADS (host cores), PROMPT (8),
DECODE (16), MAX_SEQ_LEN (64 for the default program, else read from the program or EXPORT_RESULT).
Prints a Markdown table and writes bench/results/kpi-<date>.json.
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = os.environ.get("PTEFLOW_PYTHON", "python3")
REPEAT = int(os.environ.get("REPEAT", "5"))
TURNS = int(os.environ.get("TURNS", "20"))
THREADS = int(os.environ.get("THREADS", str(os.cpu_count() or 1)))


def session(pte, out, sampling):
    args = [PYTHON, "-m", "pteflow_steps.kpi", "--pte", str(pte), "--turns", str(TURNS), "--threads", str(THREADS),
            "--prompt-len", os.environ.get("PROMPT", "8"), "--decode-tokens", os.environ.get("DECODE", "16"),
            "--out", str(out)]
    if os.environ.get("MAX_SEQ_LEN"):
        args += ["--max-seq-len", os.environ["MAX_SEQ_LEN"]]
    if os.environ.get("EXPORT_RESULT"):
        args += ["--export-result", os.environ["EXPORT_RESULT"]]
    if not sampling:
        args.append("--no-memory-sampling")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"kpi step failed:\n{p.stderr[-2000:]}")
    kpi = json.loads(pathlib.Path(out).read_text())["kpi"]
    if kpi["crash"]:
        sys.exit(f"the session crashed: {kpi['crash']}")
    # the session's wall time over its turns: the memory reading after each turn is inside it
    return 1000.0 * kpi["summary"]["duration_s"] / kpi["summary"]["turns"], kpi


def reading_cost_us(n=20000):
    """The per-turn memory reading itself (pteflow_steps.kpi.rss_bytes), timed alone: microseconds per call."""
    sys.path.insert(0, str(ROOT / "python"))
    from pteflow_steps.kpi import rss_bytes

    t0 = time.perf_counter()
    for _ in range(n):
        rss_bytes()
    return (time.perf_counter() - t0) / n * 1e6


def main():
    pte = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/resources/pte/tiny-llama-kpi.pte"
    if len(sys.argv) <= 1:
        os.environ.setdefault("MAX_SEQ_LEN", "64")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-kpi-"))
    with_s, without_s, first = [], [], None
    t0 = time.monotonic()
    for i in range(REPEAT):
        for sampling in ((True, False) if i % 2 == 0 else (False, True)):
            med, kpi = session(pte, tmp / f"kpi-{i}-{int(sampling)}.json", sampling)
            (with_s if sampling else without_s).append(med)
            if sampling and first is None:
                first = kpi
    a, b = statistics.median(with_s), statistics.median(without_s)
    cost = reading_cost_us()
    s = first["summary"]
    rows = [
        ("program", f"{pte.name} ({pte.stat().st_size:,} bytes), context {first['context']}"),
        ("host", f"{first['host']['cpu_model']}, {first['host']['threads']} threads (a proxy for a phone)"),
        ("time per turn with / without memory sampling (median of runs)",
         f"{a:.3f} / {b:.3f} ms: ratio {a / b:.4f} (runs {min(with_s):.3f}-{max(with_s):.3f} vs "
         f"{min(without_s):.3f}-{max(without_s):.3f} ms, {REPEAT} runs each, {TURNS} turns)"),
        ("one memory reading, timed alone", f"{cost:.1f} us = {100.0 * cost / 1000.0 / b:.4f}% of a turn"),
        ("TTFT (median)", f"{s['ttft_ms']} ms ({first['prompt_tokens']}-token prompt)"),
        ("prefill / decode", f"{s['prefill_tps']} / {s['decode_tps']} tokens/s"),
        ("load", f"{s['load_ms']} ms"),
        ("peak RSS of the session process", f"{s['peak_rss_bytes'] / 2**20:.1f} MiB"),
        ("memory growth over the soak", f"{s['rss_growth_bytes']} bytes ({s['leak_turns']} turns after warm-up)"),
    ]
    print("| what | figure |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    out = results / f"kpi-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"program": pte.name, "with_sampling_ms": with_s, "without_sampling_ms": without_s,
                               "ratio": a / b, "reading_us": cost, "first": first, "wall_s": time.monotonic() - t0}, indent=1))
    print(f"\nwritten: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
