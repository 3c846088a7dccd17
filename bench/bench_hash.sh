#!/usr/bin/env bash
# Hashing throughput of pteflow (`pteflow verify` on a one-file manifest: a
# streaming SHA-256 plus a size check) against `sha256sum` and
# `openssl dgst -sha256` on the same file, in one run, as ratios; pteflow's
# peak RSS while hashing it (target: under 16 MiB). See
# docs: benchmarks.md (ratios against peers measured in the same run).
#
# usage: bench/bench_hash.sh [SIZE_MIB]         (default 2048 = 2 GiB)
# env:   PTEFLOW_BIN   a release build of pteflow (default: build one in build-bench/)
#        BENCH_TMP     folder for the test file (default: a new temporary folder)
#        RUNS          timed runs per tool, interleaved, after one warm-up round (default 5)
# Writes bench/results/hash-<date>.md and .json (not committed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
size_mib=${1:-2048}
runs=${RUNS:-5}

if [[ -z "${PTEFLOW_BIN:-}" ]]; then
	echo "building a release pteflow in $root/build-bench (no sanitizers)" >&2
	cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DPTEFLOW_TESTS=OFF >/dev/null
	cmake --build "$root/build-bench" --target pteflow -j2 >/dev/null
	PTEFLOW_BIN="$root/build-bench/pteflow"
fi

tmp=${BENCH_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/pteflow-bench-hash-XXXXXX")}
cleanup() { [[ -z "${BENCH_TMP:-}" ]] && rm -rf "$tmp"; }
trap cleanup EXIT
file="$tmp/artifact.bin"

echo "writing a ${size_mib} MiB file of random bytes in $tmp" >&2
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$file"
size_bytes=$(stat -c %s "$file")

echo "warming the page cache (reading the file twice): the disk is out of the figures" >&2
cat "$file" >/dev/null
cat "$file" >/dev/null

expected=$(openssl dgst -sha256 -r "$file" | cut -d' ' -f1)
cat >"$tmp/manifest.json" <<JSON
{"schema_version": 1, "pipeline": {"name": "bench"}, "artifacts": [
 {"path": "artifact.bin", "kind": "file", "size_bytes": $size_bytes, "sha256": "$expected", "gates": []}]}
JSON
# The figures mean nothing if pteflow hashes differently: check once.
"$PTEFLOW_BIN" verify "$tmp/manifest.json" >/dev/null || { echo "pteflow disagrees with openssl" >&2; exit 1; }
[[ "$(sha256sum "$file" | cut -d' ' -f1)" == "$expected" ]] || { echo "sha256sum disagrees" >&2; exit 1; }

# Runs are interleaved (pteflow, sha256sum, openssl, then again), so a change
# of load on a shared host hits every tool alike; wall time and CPU time
# (user + sys, less sensitive to other processes) are both kept.
tools=(pteflow sha256sum openssl)
cmd_pteflow=("$PTEFLOW_BIN" verify "$tmp/manifest.json")
cmd_sha256sum=(sha256sum "$file")
cmd_openssl=(openssl dgst -sha256 "$file")
: >"$tmp/times.tsv"
for round in $(seq 0 "$runs"); do # round 0 is a warm-up, not kept
	for t in "${tools[@]}"; do
		declare -n cmd="cmd_$t"
		/usr/bin/time -f "$t	$round	%e	%U	%S" -a -o "$tmp/times.tsv" "${cmd[@]}" >/dev/null
		unset -n cmd
	done
done
rss_kib=$(/usr/bin/time -v "$PTEFLOW_BIN" verify "$tmp/manifest.json" 2>&1 >/dev/null | awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}')
limit=$(openssl speed -evp sha256 -bytes 16384 -seconds 2 2>/dev/null | awk '/^sha256/ {print $NF}' | tr -d k)

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$here/results"
python3 - "$here/results/hash-$stamp" "$size_bytes" "$runs" "$tmp/times.tsv" "$rss_kib" "${limit:-0}" <<'PY'
import json, statistics, sys
base, size, runs, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rss_kib, limit_kbs = int(sys.argv[5]), float(sys.argv[6] or 0)
tools = ["pteflow", "sha256sum", "openssl"]
wall = {t: [] for t in tools}
cpu = {t: [] for t in tools}
for line in open(times):
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 5 or parts[1] == "0":
        continue
    wall[parts[0]].append(float(parts[2]))
    cpu[parts[0]].append(float(parts[3]) + float(parts[4]))
med = {t: statistics.median(wall[t]) for t in tools}
cmed = {t: statistics.median(cpu[t]) for t in tools}
gbs = {t: size / med[t] / 1e9 for t in tools}
cgbs = {t: size / cmed[t] / 1e9 for t in tools}
limit_gbs = limit_kbs * 1000 / 1e9
res = {"file_bytes": size, "runs": runs, "page_cache": "warm", "interleaved": True,
       "wall_s": wall, "cpu_s": cpu, "median_wall_s": med, "median_cpu_s": cmed,
       "gb_per_s_wall": gbs, "gb_per_s_cpu": cgbs,
       "ratio_sha256sum_over_pteflow": {"wall": med["sha256sum"] / med["pteflow"], "cpu": cmed["sha256sum"] / cmed["pteflow"]},
       "ratio_openssl_over_pteflow": {"wall": med["openssl"] / med["pteflow"], "cpu": cmed["openssl"] / cmed["pteflow"]},
       "pteflow_peak_rss_bytes": rss_kib * 1024, "rss_target_bytes": 16 * 1024 * 1024,
       "openssl_speed_16k_gb_per_s": limit_gbs,
       "fraction_of_in_memory_limit_cpu": cgbs["pteflow"] / limit_gbs if limit_gbs else None}
json.dump(res, open(base + ".json", "w"), indent=2)
lines = [f"# SHA-256 of a {size / 2**20:.0f} MiB file (page cache warm, {runs} interleaved runs, medians)", "",
         "| tool | wall s (min-max) | CPU s (user+sys) | GB/s by CPU time | time vs pteflow (wall / CPU) |",
         "| --- | --- | --- | --- | --- |"]
for t in tools:
    lines.append(f"| {t} | {med[t]:.3f} ({min(wall[t]):.2f}-{max(wall[t]):.2f}) | {cmed[t]:.3f} | {cgbs[t]:.2f} | "
                 f"{med[t] / med['pteflow']:.2f}x / {cmed[t] / cmed['pteflow']:.2f}x |")
lines += ["", f"pteflow peak RSS: {rss_kib / 1024:.1f} MiB (target < 16 MiB)"]
if limit_gbs:
    lines.append(f"in-memory limit (openssl speed -evp sha256, 16 KiB): {limit_gbs:.2f} GB/s; "
                 f"pteflow reaches {100 * cgbs['pteflow'] / limit_gbs:.0f}% of it by CPU time")
open(base + ".md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
