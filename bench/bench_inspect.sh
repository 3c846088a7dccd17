#!/usr/bin/env bash
# Benchmark: `pteflow inspect` on a ~1 GB .pte against `sha256sum` of the same
# file (the peer: what today's "check the file" practice costs). inspect reads
# only the headers and the program region, never the segment data, so it
# should be orders of magnitude faster and its time should not grow with the
# file.
#
# The big file is a real small ExecuTorch program (tests/resources/pte/
# xnnpack-linear.pte) whose last segment is grown to the target size, with
# the extended header's segment_data_size and the segment's size field
# updated to match, so the file is consistent and `pteflow inspect` finds
# nothing fatal in it.
#
# usage: bench/bench_inspect.sh            (from the repository or anywhere)
# env:   PTEFLOW_BIN   the binary (default: <repo>/build/pteflow)
#        BENCH_BYTES   target file size (default 1073741824)
#        BENCH_RUNS    hyperfine runs per command (default 5)
#        TMPDIR        where the big file is written (removed at exit)
# Prints a Markdown table; writes the figures as JSON to bench/results/.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${PTEFLOW_BIN:-$repo/build/pteflow}"
bytes="${BENCH_BYTES:-1073741824}"
runs="${BENCH_RUNS:-5}"
seed="$repo/tests/resources/pte/xnnpack-linear.pte"
results="$repo/bench/results"

for tool in hyperfine sha256sum python3; do
	command -v "$tool" >/dev/null || { echo "bench_inspect: '$tool' is missing: install it (apt-get install $tool)" >&2; exit 3; }
done
[ -x "$bin" ] || { echo "bench_inspect: no pteflow binary at '$bin': build it or set PTEFLOW_BIN" >&2; exit 3; }

work="$(mktemp -d "${TMPDIR:-/tmp}/pf-bench-inspect.XXXXXX")"
trap 'rm -rf "$work"' EXIT
big="$work/big.pte"

python3 - "$seed" "$big" "$bytes" <<'EOF'
import os, struct, sys

seed, out, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = bytearray(open(seed, "rb").read())
assert d[4:8] == b"ET12" and d[8:12] == b"eh00", "seed must be a .pte with an eh00 header"
hl, psize, sbo, sds = struct.unpack_from("<IQQQ", d, 12)
assert hl >= 32 and sbo + sds == len(d), "seed header must be consistent"

def u32(p): return struct.unpack_from("<I", d, p)[0]
def field(table, slot):
    vt = table - struct.unpack_from("<i", d, table)[0]
    vt_size = struct.unpack_from("<H", d, vt)[0]
    if 4 + 2 * slot + 2 > vt_size: return 0
    e = struct.unpack_from("<H", d, vt + 4 + 2 * slot)[0]
    return table + e if e else 0

program = u32(0)
segs_field = field(program, 4)
segs = segs_field + u32(segs_field)
n = u32(segs)
last_elem = segs + 4 + 4 * (n - 1)
last = last_elem + u32(last_elem)
off_f, size_f = field(last, 0), field(last, 1)
off = struct.unpack_from("<Q", d, off_f)[0] if off_f else 0
assert size_f, "the last segment must have a size field to grow"
old = struct.unpack_from("<Q", d, size_f)[0]
assert off + old == sds, "the last segment must end the segment data"
new_size = target - sbo - off
assert new_size > old
struct.pack_into("<Q", d, size_f, new_size)
struct.pack_into("<Q", d, 32, off + new_size)
chunk = os.urandom(1 << 20)
with open(out, "wb") as f:
    f.write(d)
    left = target - len(d)
    while left > 0:
        k = min(left, len(chunk))
        f.write(chunk[:k])
        left -= k
EOF

size="$(stat -c %s "$big")"
# The file must be sound, or the comparison is meaningless.
"$bin" inspect "$big" >/dev/null || { echo "bench_inspect: the generated file has a fatal finding" >&2; "$bin" inspect "$big" >&2; exit 1; }
cat "$big" >/dev/null # warm the page cache: the disk stays out of both figures

hyperfine --style none --warmup 1 --runs "$runs" --export-json "$work/hf.json" \
	-n "pteflow inspect" "$bin inspect $big" \
	-n "sha256sum" "sha256sum $big" >/dev/null

rss_kb=""
if [ -x /usr/bin/time ]; then
	rss_kb="$(/usr/bin/time -f %M "$bin" inspect "$big" 2>&1 >/dev/null | tail -1)"
fi

mkdir -p "$results"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
python3 - "$work/hf.json" "$size" "$runs" "${rss_kb:-0}" "$results/bench_inspect-$stamp.json" <<'EOF'
import json, platform, statistics, sys

hf, size, runs, rss_kb, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
res = {r["command"]: r for r in json.load(open(hf))["results"]}
ins, sha = res["pteflow inspect"], res["sha256sum"]
def row(name, r):
    med = statistics.median(r["times"])
    return f"| {name} | {med * 1e3:.2f} ms | {min(r['times']) * 1e3:.2f}..{max(r['times']) * 1e3:.2f} ms |"
ratio = statistics.median(sha["times"]) / statistics.median(ins["times"])
print(f"inspect vs sha256sum on a {size} byte .pte (page cache warm, {runs} runs each, median and range)\n")
print("| command | median | range |")
print("| --- | --- | --- |")
print(row("pteflow inspect", ins))
print(row("sha256sum", sha))
print(f"\ninspect is {ratio:.0f}x faster than hashing the file; peak RSS of inspect: {rss_kb} KiB")
json.dump({
    "benchmark": "inspect",
    "host": platform.node(),
    "file_bytes": size,
    "runs": runs,
    "inspect_median_s": statistics.median(ins["times"]),
    "inspect_times_s": ins["times"],
    "sha256sum_median_s": statistics.median(sha["times"]),
    "sha256sum_times_s": sha["times"],
    "speedup_vs_sha256sum": ratio,
    "inspect_peak_rss_kib": rss_kb,
}, open(out, "w"), indent=2)
print(f"wrote {out}")
EOF
