#!/usr/bin/env bash
# Llama-3.2-1B-shaped export benchmark (issue 6): the real dimensions of
# meta-llama/Llama-3.2-1B with seeded random weights (no download), for int8
# and 8da4w, run once through `pteflow run` under a 6 GiB guard and once
# directly under /usr/bin/time -v, in the same run. Reports wall time, peak
# RSS, .pte size against the 1.5 GB gate, and the pteflow/direct ratios.
#
# Usage: bench/bench_export.sh [QUANT...]        (default: int8 8da4w)
# Env:   PTEFLOW_BIN (default build/pteflow), PTEFLOW_PYTHON (default python3),
#        BENCH_OUT (default a new temporary folder), MAX_SEQ_LEN (default 512),
#        EMBEDDING_QUANT (default int4, as pipelines/llama3.2-1b.yaml)
# Needs about 6 GiB of free memory and tens of minutes per variant on 2 cores.
# Numbers go to a Markdown table on stdout and bench/results/export-<date>.json.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
pteflow="${PTEFLOW_BIN:-$root/build/pteflow}"
python="${PTEFLOW_PYTHON:-python3}"
seq="${MAX_SEQ_LEN:-512}"
out="${BENCH_OUT:-$(mktemp -d -t pteflow-bench-export.XXXXXX)}"
gate=1500000000
quants=("$@")
[ ${#quants[@]} -gt 0 ] || quants=(int8 8da4w)

[ -x /usr/bin/time ] || { echo "bench_export: /usr/bin/time is missing (apt-get install time)" >&2; exit 3; }
have_pteflow=1
[ -x "$pteflow" ] || { echo "bench_export: '$pteflow' not found; only the direct runs will be measured" >&2; have_pteflow=0; }
mkdir -p "$out" "$here/results"

# Fields of /usr/bin/time -v: wall clock (h:mm:ss or m:ss) in seconds, max RSS in KiB.
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$1"; }
rss_kib() { awk -F': ' '/Maximum resident set size/{print $2}' "$1"; }

pipeline_for() { # $1 quant, $2 file
	cat >"$2" <<YAML
version: 1
name: bench-llama3.2-1b-$1
description: Llama-3.2-1B dimensions, random weights, $1, seq $seq (benchmark).
limits: { memory: 6GiB, timeout: 120m }
steps:
  - name: export
    run: ["\${python}", "-m", "pteflow_steps.export_llm", "--random-config", "llama3.2-1b", "--seed", "0",
          "--quant", "$1", "--embedding-quant", "${EMBEDDING_QUANT:-int4}", "--max-seq-len", "$seq", "--xnnpack",
          "--out", "\${out}/model.pte"]
    env: { PYTHONPATH: "$root/python" }
    limits: { memory: 6GiB }
artifacts:
  - { path: model.pte, kind: pte, max_size: 1.5GB, backends: [XnnpackBackend] }
YAML
}

json_rows=()
printf '| variant | run | wall s | peak RSS MiB | .pte MB | under 1.5 GB |\n|---|---|---|---|---|---|\n'
for q in "${quants[@]}"; do
	# Direct run.
	d="$out/direct-$q"; mkdir -p "$d"
	PYTHONPATH="$root/python" /usr/bin/time -v -o "$d/time.txt" "$python" -m pteflow_steps.export_llm \
		--random-config llama3.2-1b --seed 0 --quant "$q" --embedding-quant "${EMBEDDING_QUANT:-int4}" --max-seq-len "$seq" \
		--xnnpack --out "$d/model.pte" >"$d/log.txt" 2>&1 || { echo "bench_export: direct $q failed, see $d/log.txt" >&2; exit 1; }
	dw=$(wall_s "$d/time.txt"); dr=$(rss_kib "$d/time.txt"); ds=$(stat -c %s "$d/model.pte")
	printf '| %s | direct | %s | %d | %.1f | %s |\n' "$q" "$dw" $((dr / 1024)) "$(echo "$ds / 1000000" | bc -l)" \
		"$([ "$ds" -le $gate ] && echo yes || echo NO)"
	pw=null; pr=null; ps=null; pm=null; pstatus=null; pguard=null
	if [ $have_pteflow -eq 1 ]; then
		p="$out/pteflow-$q"; mkdir -p "$p"
		pipeline_for "$q" "$p/pipeline.yaml"
		# /usr/bin/time on pteflow counts the whole tree's peak only for the largest process
		# (max RSS of pteflow or its waited children); the export child dominates it.
		/usr/bin/time -v -o "$p/time.txt" "$pteflow" run "$p/pipeline.yaml" --out "$p/out" --json \
			>"$p/log.txt" 2>&1 || echo "bench_export: pteflow run $q exited non-zero, see $p/log.txt" >&2
		if [ -s "$p/out/model.pte" ]; then
			pw=$(wall_s "$p/time.txt"); pr=$(rss_kib "$p/time.txt"); ps=$(stat -c %s "$p/out/model.pte")
			printf '| %s | pteflow | %s | %d | %.1f | %s |\n' "$q" "$pw" $((pr / 1024)) \
				"$(echo "$ps / 1000000" | bc -l)" "$([ "$ps" -le $gate ] && echo yes || echo NO)"
			printf '| %s | ratio pteflow/direct | %.3f | %.3f | | |\n' "$q" \
				"$(echo "$pw / $dw" | bc -l)" "$(echo "$pr / $dr" | bc -l)"
		fi
		if [ -s "$p/out/manifest.json" ]; then
			# What pteflow itself recorded: run status, the export step's peak as its guard
			# measured it (cgroup peak, which counts page cache too, or the RSS watchdog's).
			read -r pstatus pm pguard < <("$python" -c 'import json,sys
m=json.load(open(sys.argv[1])); s=m["steps"][0]
print(json.dumps(m["status"]), s["peak_memory_bytes"], json.dumps(s["guard"]["mode"]))' "$p/out/manifest.json")
			printf '\npteflow %s: manifest status %s, guard %s, export step peak %d MiB\n\n' "$q" "$pstatus" "$pguard" $((pm / 1048576))
		fi
	fi
	json_rows+=("{\"quant\":\"$q\",\"max_seq_len\":$seq,\"direct\":{\"wall_s\":$dw,\"peak_rss_kib\":$dr,\"pte_bytes\":$ds},\"pteflow\":{\"wall_s\":$pw,\"peak_rss_kib\":$pr,\"pte_bytes\":$ps,\"status\":$pstatus,\"guard\":$pguard,\"step_peak_bytes\":$pm},\"gate_bytes\":$gate}")
done
res="$here/results/export-$(date -u +%Y%m%dT%H%M%SZ).json"
(IFS=,; printf '{"benchmark":"export","host_cpus":%s,"runs":[%s]}\n' "$(nproc)" "${json_rows[*]}") >"$res"
echo "results: $res (artifacts in $out)"
