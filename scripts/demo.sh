#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the
# embedded demo pipeline (a tiny Llama-architecture model with seeded random
# weights, int8 + XNNPACK, numerical check): no network, no token.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-deps.sh
python=$(bash scripts/setup-python.sh)
bash scripts/build.sh build
exec build/pteflow run pipelines/demo.yaml --python "$python" --out out/demo "$@"
