#!/usr/bin/env bash
# tests/data against its SHA256SUMS: every listed file has its checksum, and every file is listed
# (README.md and SHA256SUMS aside). Usage: check_test_data.sh DATA_DIR
set -euo pipefail
cd "$1"
sha256sum --check --strict --quiet SHA256SUMS
unlisted=$(comm -23 <(find . -type f ! -name SHA256SUMS ! -name README.md | sed 's|^\./||' | LC_ALL=C sort) \
                    <(awk '{ sub(/^\*/, "", $2); print $2 }' SHA256SUMS | LC_ALL=C sort))
if [ -n "$unlisted" ]; then
  echo "tests/data: files not in SHA256SUMS (see tests/data/README.md):" >&2
  echo "$unlisted" >&2
  exit 1
fi
echo "tests/data: $(wc -l < SHA256SUMS) files match SHA256SUMS"
