#!/usr/bin/env bash
# Installs every build and test dependency of heartmula-gen from Debian 12 (bookworm).
# Used by CI (.ci/run) and by the README's set-up commands. Safe to run again.
# --debs DIR: a machine without a package registry (the GPU machine): unpack the .deb files in DIR
# (scripts/device-build.sh prepare downloads them) under /opt/heartmula-deps, which CMake searches
# (cmake/HeartmulaDependencies.cmake), instead of apt-get; LibTorch then comes from python3's torch.
set -euo pipefail

DEBS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --debs) DEBS="${2:?--debs needs a folder}"; shift 2 ;;
    *) echo "install-deps: unknown argument '$1' (use --debs DIR)" >&2; exit 2 ;;
  esac
done
if [ -n "$DEBS" ]; then
  PREFIX=${HEARTMULA_DEPS_PREFIX:-/opt/heartmula-deps}
  ls "$DEBS"/*.deb >/dev/null 2>&1 || { echo "install-deps: no .deb files in $DEBS" >&2; exit 1; }
  mkdir -p "$PREFIX"
  for f in "$DEBS"/*.deb; do dpkg -x "$f" "$PREFIX"; done
  echo "install-deps: unpacked $(ls "$DEBS"/*.deb | wc -l) packages from $DEBS under $PREFIX"
  for tool in cmake ninja c++; do
    command -v "$tool" >/dev/null || { echo "install-deps: $tool is missing and --debs cannot bring it" >&2; exit 1; }
  done
  python3 -c 'import torch' 2>/dev/null || echo "install-deps: note: python3 has no torch; CMake will need a LibTorch" >&2
  exit 0
fi

PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libtorch-dev libdnnl-dev libopenblas0
  libcli11-dev nlohmann-json3-dev
  libcpp-httplib-dev
  libsndfile1-dev libmp3lame-dev libpcre2-dev
  libgtest-dev googletest
  nodejs npm
  # e2e_server_page: heartmula-server's page in headless Chromium, driven by a Python 3 script
  # (standard library only; tests/e2e/browser_page_test.py)
  python3 chromium-headless-shell
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm may come from elsewhere (nvm, a node tarball): accept any working npm.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do
    case "$p" in nodejs|npm) ;; *) filtered+=("$p") ;; esac
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

# Any Chromium on PATH will do for the browser test (it searches chromium-headless-shell, then
# chromium).
if command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do
    [ "$p" = chromium-headless-shell ] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  # chromium-headless-shell is Debian's (bookworm and later); Ubuntu ships Chromium as a snap only.
  # Without it everything else is installed and the browser test fails, saying so.
  if ! apt-cache show chromium-headless-shell >/dev/null 2>&1; then
    filtered=()
    for p in "${missing[@]}"; do
      [ "$p" = chromium-headless-shell ] || filtered+=("$p")
    done
    missing=("${filtered[@]+"${filtered[@]}"}")
    echo "install-deps: warning: no chromium-headless-shell package here; the test e2e_server_page will fail" \
         "until a Chromium is on PATH (or HEARTMULA_CHROMIUM=PATH names one)" >&2
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
else
  echo "install-deps: all Debian packages present"
fi
