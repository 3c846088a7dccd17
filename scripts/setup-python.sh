#!/usr/bin/env bash
# Create (once) the Python virtual environment the export steps and the tests
# use, keyed by the hash of python/requirements.txt, in the cache folder
# ${PTEFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pteflow}/venv-<hash>; point
# <cache>/current at it (pteflow's default ${python}); print its interpreter.
# A later run with the same requirements reuses it and takes a second.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
req="$root/python/requirements.txt"
cache=${PTEFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pteflow}
hash=$(sha256sum "$req" | cut -c1-16)
venv="$cache/venv-$hash"
py=${PTEFLOW_BASE_PYTHON:-python3}

if [ ! -f "$venv/.complete" ]; then
  # Built in place (a venv hard-codes its path); .complete marks a finished one,
  # so an interrupted setup is redone from scratch next time.
  mkdir -p "$cache"
  rm -rf "$venv"
  echo "setup-python: creating $venv (first time: downloads about 6 GB of wheels, about 4 minutes here)" >&2
  start=$(date +%s)
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  touch "$venv/.complete"
  echo "setup-python: ready in $(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1)" >&2
fi
ln -sfn "$venv" "$cache/current"
echo "$venv/bin/python"
