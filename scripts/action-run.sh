#!/usr/bin/env bash
# Step "Run the pipeline" of action.yml: run PIPELINE (TARGET) with pteflow
# into OUT under MEMORY_GUARD, signing the provenance with SIGN_KEY when given
# (masked, written to a 0600 file that is removed afterwards), and write the
# outputs manifest, status and artifacts (one path per line). The run's own
# exit code is the step's: a failed gate fails the job, with the outputs set.
set -uo pipefail
bin=${PTEFLOW_BIN:?PTEFLOW_BIN is the installed pteflow}
out=${OUT:-pteflow-out}
args=(run "${PIPELINE:?PIPELINE is the pipeline file}" --out "$out" --memory-guard "${MEMORY_GUARD:-auto}")
[ -n "${TARGET:-}" ] && args+=(--target "$TARGET")
[ -n "${PTEFLOW_PYTHON:-}" ] && args+=(--python "$PTEFLOW_PYTHON")
keyfile=""
cleanup() { [ -n "$keyfile" ] && rm -f "$keyfile"; }
trap cleanup EXIT
if [ -n "${SIGN_KEY:-}" ]; then
  # Mask every line of the key before anything could print it.
  while IFS= read -r line; do [ -n "$line" ] && echo "::add-mask::$line"; done <<< "$SIGN_KEY"
  keyfile=$(mktemp "${RUNNER_TEMP:-/tmp}/pteflow-key.XXXXXX")
  chmod 600 "$keyfile"
  printf '%s\n' "$SIGN_KEY" > "$keyfile"
  args+=(--sign-key "$keyfile")
fi
[ -n "${HF_TOKEN:-}" ] && echo "::add-mask::$HF_TOKEN" && export HF_TOKEN
[ -z "${HF_TOKEN:-}" ] && unset HF_TOKEN

"$bin" "${args[@]}"
code=$?

manifest="$out/manifest.json"
if [ -f "$manifest" ]; then
  status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$manifest")
  {
    echo "manifest=$manifest"
    echo "status=$status"
    echo "artifacts<<PTEFLOW_EOF"
    python3 -c 'import json,os,sys; m=json.load(open(sys.argv[1])); [print(os.path.join(sys.argv[2], a["path"])) for a in m["artifacts"]]' "$manifest" "$out"
    echo "PTEFLOW_EOF"
  } >> "${GITHUB_OUTPUT:?GITHUB_OUTPUT is set by the runner}"
else
  echo "status=failed" >> "$GITHUB_OUTPUT"
fi
exit "$code"
