#!/bin/sh
# Memory-guard benchmark (issue 3): start-up overhead of a trivial step under
# each guard against no guard (ratio of medians, hyperfine), and how far a
# fast allocator gets past a 1 GiB limit before it is stopped (watchdog at
# 1, 4 and 16 GiB/s requested rates; cgroups for comparison). Prints a
# Markdown table and writes the same figures as JSON to bench/results/.
#
#   bench/bench_guard.sh            (PTEFLOW_BENCH_BUILD=folder to choose the build folder)
#
# It configures its own optimised build without sanitizers, so the figures
# are those of a release binary. cgroup guards are measured where this host
# offers them (root, a writable memory controller) and skipped otherwise.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PTEFLOW_BENCH_BUILD:-$ROOT/build-bench}
RESULTS=$ROOT/bench/results
RUNS=${PTEFLOW_BENCH_RUNS:-5}
mkdir -p "$RESULTS"

# the libraries from the shared release build; the two small programs are compiled here
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPTEFLOW_SANITIZE=OFF >/dev/null
cmake --build "$BUILD" --target pf_proc -j2 >/dev/null
DRIVER=$BUILD/bench_guard_driver
ALLOC=$BUILD/bench_guard_alloc
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$ROOT/src" "$ROOT/bench/guard_driver.c" \
	"$BUILD/libpf_proc.a" "$BUILD/libpf_guard.a" "$BUILD/libpf_util.a" \
	$(pkg-config --libs libcrypto libcurl yaml-0.1 libgit2 libcjson) -o "$DRIVER"
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L "$ROOT/tests/tools/alloc.c" -o "$ALLOC"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

MODES="none watchdog rlimit"
for m in cgroup1 cgroup2; do
	if "$DRIVER" "$m" 512 true >/dev/null 2>"$TMP/err"; then
		MODES="$MODES $m"
	else
		echo "bench_guard: skipping $m: $(cat "$TMP/err")" >&2
	fi
done

# 1. start-up overhead of a trivial step (true), 512 MiB limit so every guard is active
set --
for m in $MODES; do
	set -- "$@" -n "$m" "$DRIVER $m 512 true"
done
hyperfine -N --warmup 3 --runs $((RUNS * 6)) --export-json "$TMP/startup.json" \
	-n direct "true" "$@" >/dev/null 2>&1

# 2. the fastest this host can fault memory in (caps every requested rate)
: >"$TMP/rate.txt"
for _ in $(seq "$RUNS"); do
	"$ALLOC" --mib 1024 --populate | sed -n 's/.*(\([0-9]*\) MiB\/s).*/\1/p' >>"$TMP/rate.txt"
done

# 3. overshoot past a 1 GiB limit by a 2 GiB allocator at 1, 4, 16 GiB/s requested
#    (1 MiB steps, each faulted in by the kernel with MAP_POPULATE)
: >"$TMP/overshoot.jsonl"
for m in $MODES; do
	case $m in none | rlimit) continue ;; esac
	for rate in 1024 4096 16384; do
		for _ in $(seq "$RUNS"); do
			"$DRIVER" "$m" 1024 "$ALLOC" --mib 2048 --step-mib 1 --populate --rate-mib-s "$rate" 2>/dev/null |
				sed "s/^{/{\"rate_mib_s\":$rate,/" >>"$TMP/overshoot.jsonl"
		done
	done
done

mkdir -p "$RESULTS"
python3 - "$TMP" "$RESULTS" "$RUNS" <<'PY'
import json, os, statistics, sys, time, platform
tmp, results, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
startup = json.load(open(os.path.join(tmp, "startup.json")))["results"]
med = {r["command"]: statistics.median(r["times"]) for r in startup}
spread = {r["command"]: (min(r["times"]), max(r["times"])) for r in startup}
rates = [int(x) for x in open(os.path.join(tmp, "rate.txt")).read().split()]
shots = [json.loads(l) for l in open(os.path.join(tmp, "overshoot.jsonl")) if l.strip()]
out = {"benchmark": "guard", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "host": platform.node(), "cpus": os.cpu_count(), "runs": runs,
       "startup": [], "max_fault_rate_mib_s": statistics.median(rates) if rates else None, "overshoot": []}
base = med.get("none")
print("## Start-up of a trivial step (`true`), median of %d runs\n" % (runs * 6))
print("| guard | median ms | min-max ms | ratio vs none |")
print("| --- | ---: | ---: | ---: |")
for name, t in med.items():
    lo, hi = spread[name]
    ratio = t / base if base else None
    out["startup"].append({"guard": name, "median_s": t, "min_s": lo, "max_s": hi, "ratio_vs_none": ratio})
    print("| %s | %.2f | %.2f-%.2f | %s |" % (name, t * 1e3, lo * 1e3, hi * 1e3, "%.2f" % ratio if ratio else "-"))
print("\n`direct` runs `true` without pteflow (the driver itself adds its own exec and library loading).\n")
print("Fastest fault-in rate of this host (unguarded, 1 GiB, MAP_POPULATE): median %s MiB/s; requested rates above it are capped to it.\n"
      % out["max_fault_rate_mib_s"])
print("## Overshoot past a 1 GiB limit (2 GiB allocator, 1 MiB steps), median of %d runs\n" % runs)
print("| guard | requested GiB/s | ended | median peak MiB | overshoot % (median) | worst % |")
print("| --- | ---: | --- | ---: | ---: | ---: |")
keys = sorted({(s["mode"], s["rate_mib_s"]) for s in shots})
for mode, rate in keys:
    rs = [s for s in shots if s["mode"] == mode and s["rate_mib_s"] == rate]
    peaks = [s["peak_bytes"] for s in rs]
    limit = rs[0]["limit_bytes"]
    over = [(p - limit) / limit * 100 for p in peaks]
    ends = sorted({s["end"] for s in rs})
    row = {"guard": mode, "rate_mib_s": rate, "ends": ends, "peaks_bytes": peaks, "limit_bytes": limit,
           "median_overshoot_pct": statistics.median(over), "worst_overshoot_pct": max(over),
           "peak_from_cgroup": rs[0]["peak_from_cgroup"]}
    out["overshoot"].append(row)
    print("| %s | %d | %s | %.0f | %.1f | %.1f |" % (mode, rate // 1024, "/".join(ends),
          statistics.median(peaks) / 2**20, statistics.median(over), max(over)))
path = os.path.join(results, "guard-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
json.dump(out, open(path, "w"), indent=2)
print("\nJSON: bench/results/" + os.path.basename(path))
PY
