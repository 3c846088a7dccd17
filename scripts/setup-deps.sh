#!/usr/bin/env bash
# Install the Debian packages pteflow builds, tests and benchmarks with.
# Idempotent: installs only what is missing (apt-get update runs only then).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git clang libclang-rt-dev
  libyaml-dev libcurl4-openssl-dev libcjson-dev libssl-dev libgit2-dev libcriterion-dev
  python3 python3-venv
  curl nginx hyperfine time
  fonts-dejavu-core
)
# A headless browser: tests/cli/test_report.py renders `pteflow report` in it. Debian's chromium,
# unless one of the Chromium family is there already (GitHub's Ubuntu runners ship Google Chrome;
# Ubuntu's own chromium package is only a wrapper around a snap).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null &&
   ! command -v google-chrome >/dev/null; then
  packages+=(chromium)
fi
# nginx: Debian's (bookworm) and Ubuntu's (noble) nginx package is built with
# the WebDAV module (nginx -V: --with-http_dav_module), which the remote store
# tests and bench use as a Bazel-style HTTP cache (PUT with create_full_put_path).

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all Debian packages present"
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "setup-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
