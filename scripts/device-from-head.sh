#!/usr/bin/env bash
# Runs scripts/device-check.sh on a committed revision instead of the working tree (which may
# hold other people's half-done edits when several work in one checkout).
#   here:           scripts/device-from-head.sh pack [REV]   -> .gpu/src.tgz (REV: default HEAD)
#   GPU machine:    scripts/device-from-head.sh check PARTS  (carry .gpu .deps-device .cache [.oracle])
# The tree is unpacked into /tmp/heartmula-src; files whose bytes did not change keep their
# timestamps, so a warm machine rebuilds only what changed. tests/data comes from the carried
# checkout (it is large and rarely changes).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  pack)
    mkdir -p .gpu
    git archive "${2:-HEAD}" -- . ':!tests/data' | gzip -1 > .gpu/src.tgz
    echo "packed $(git rev-parse --short "${2:-HEAD}") into .gpu/src.tgz ($(du -h .gpu/src.tgz | cut -f1))" ;;
  check)
    DST=/tmp/heartmula-src NEW=/tmp/heartmula-new
    rm -rf "$NEW"; mkdir -p "$NEW" "$DST"
    tar -xzf .gpu/src.tgz -C "$NEW"
    (cd "$NEW" && find . -type f) | while read -r f; do
      if ! cmp -s "$NEW/$f" "$DST/$f"; then mkdir -p "$(dirname "$DST/$f")"; cp -p "$NEW/$f" "$DST/$f"; touch "$DST/$f"; fi
    done
    rm -rf "$DST/tests/data"; ln -sfn "$PWD/tests/data" "$DST/tests/data"
    for d in .deps-device .cache .oracle; do [ -e "$d" ] && { rm -rf "$DST/$d"; cp -r "$d" "$DST/$d"; }; done
    cd "$DST" && exec bash scripts/device-check.sh "${2:-parity,graphs,bench}" ;;
  *) echo "usage: $0 pack [REV] | check PARTS" >&2; exit 2 ;;
esac
