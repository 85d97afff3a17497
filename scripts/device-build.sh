#!/usr/bin/env bash
# Building heartmula-gen on the GPU machine (pip torch's bundled LibTorch, no package registry).
#
#   scripts/device-build.sh prepare   # HERE (Debian): download the .deb files of libsndfile,
#                                     # LAME, PCRE2, GoogleTest and cpp-httplib into .deps-device/
#   scripts/device-build.sh build     # THERE: unpack them under /opt/deps, configure against
#                                     # torch's CMake prefix, build into build-device/
# The .deb folder must travel with the tree (the device tool's `carry: [".deps-device"]`).
set -euo pipefail
cd "$(dirname "$0")/.."
DEBS_DIR=${HEARTMULA_DEVICE_DEBS:-.deps-device}
PREFIX=${HEARTMULA_DEVICE_PREFIX:-/opt/deps}
BUILD_DIR=${HEARTMULA_DEVICE_BUILD:-build-device}
PKGS=(libsndfile1 libsndfile1-dev libmp3lame0 libmp3lame-dev libflac12 libmpg123-0 libogg0
      libopus0 libvorbis0a libvorbisenc2 libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0
      libpcre2-posix3 libgtest-dev
      libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libbrotli-dev libbrotli1 zlib1g-dev)

case "${1:-build}" in
  prepare)
    mkdir -p "$DEBS_DIR"
    (cd "$DEBS_DIR" && apt-get download "${PKGS[@]}")
    ;;
  build)
    mkdir -p "$PREFIX"
    for f in "$DEBS_DIR"/*.deb; do dpkg -x "$f" "$PREFIX"; done
    TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
    LIBDIR="$PREFIX/usr/lib/x86_64-linux-gnu"
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$PREFIX/usr" \
      -DCMAKE_BUILD_RPATH="$LIBDIR" -DCMAKE_INSTALL_RPATH="$LIBDIR" \
      "${@:2}"
    # libsndfile's own dependencies (FLAC, Vorbis, ...) are found through LD_LIBRARY_PATH, also
    # when gtest_discover_tests runs the test binaries during the build.
    export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # HEARTMULA_DEVICE_TARGETS: build only these targets (default: everything).
    ninja -C "$BUILD_DIR" ${HEARTMULA_DEVICE_TARGETS:-}
    ;;
  *)
    echo "usage: $0 prepare|build [extra cmake args]" >&2
    exit 2
    ;;
esac
