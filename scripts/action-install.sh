#!/usr/bin/env bash
# Step "Install pteflow" of action.yml (the reusable GitHub Action): get a
# pteflow binary and say where it is. PTEFLOW_INSTALL: auto (the .deb attached
# to the action's release tag, else a build), deb, build, or prefix (an existing
# install in PTEFLOW_PREFIX_INPUT). Writes the outputs pteflow=<binary> and
# requirements-hash=<first 16 hex of the installed requirements' SHA-256>,
# the key of the cached Python environment (the same hash `pteflow setup` uses).
set -euo pipefail
mode=${PTEFLOW_INSTALL:-auto}
action=${ACTION_PATH:?ACTION_PATH must name the checkout of the action}
tmp=${RUNNER_TEMP:-/tmp}
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
prefix=""

fail() { echo "::error title=pteflow install::$*"; exit 1; }

install_deb() {
  [ -n "${ACTION_REF:-}" ] && [ -n "${ACTION_REPO:-}" ] || return 1
  command -v gh >/dev/null || return 1
  local dir="$tmp/pteflow-deb"
  rm -rf "$dir" && mkdir -p "$dir"
  gh release download "$ACTION_REF" --repo "$ACTION_REPO" --pattern 'pteflow_*.deb' --dir "$dir" 2>/dev/null || return 1
  $sudo apt-get install -y -qq "$dir"/pteflow_*.deb >/dev/null || return 1
  prefix=/usr
}

build() {
  bash "$action/scripts/setup-deps.sh"
  cmake -S "$action" -B "$tmp/pteflow-build" -DCMAKE_BUILD_TYPE=Release -DPTEFLOW_TESTS=OFF >/dev/null
  cmake --build "$tmp/pteflow-build" -j"$(nproc)" >/dev/null
  cmake --install "$tmp/pteflow-build" --prefix "$tmp/pteflow" >/dev/null
  prefix="$tmp/pteflow"
}

case "$mode" in
  prefix)
    prefix=${PTEFLOW_PREFIX_INPUT:-}
    [ -n "$prefix" ] && [ -x "$prefix/bin/pteflow" ] || fail "install: prefix needs pteflow-prefix naming an install with bin/pteflow"
    ;;
  deb)
    install_deb || fail "no pteflow_*.deb on release '${ACTION_REF:-}' of '${ACTION_REPO:-}' (use install: build)"
    ;;
  build)
    build
    ;;
  auto)
    if ! install_deb; then
      echo "pteflow: no release .deb for '${ACTION_REF:-}'; building the action's source"
      build
    fi
    ;;
  *)
    fail "install must be auto, deb, build or prefix, not '$mode'"
    ;;
esac

bin="$prefix/bin/pteflow"
"$bin" version
req="$prefix/share/pteflow/python/requirements.txt"
[ -f "$req" ] || fail "'$req' is missing: this pteflow install does not carry its export steps"
hash=$(sha256sum "$req" | cut -c1-16)
{
  echo "pteflow=$bin"
  echo "requirements-hash=$hash"
} >> "${GITHUB_OUTPUT:?GITHUB_OUTPUT is set by the runner}"
