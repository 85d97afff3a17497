#!/usr/bin/env bash
# Runs every fuzz target (or those named) one after the other for SECONDS each (default 600),
# each on a fresh copy of its seeds under OUT (default /tmp/heartmula-fuzz), with the settings
# used for docs/reliability.md. Needs build-fuzz (see tests/fuzz/README.md).
#   tests/fuzz/run-all.sh [SECONDS] [target ...]
# Logs: OUT/<target>.log (last lines: "Done N runs", stat::number_of_executed_units);
# crashes / timeouts: OUT/artifacts/<name>/. Exit status: non-zero if any target failed.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_safetensors_header fuzz_checkpoint_index fuzz_config
  fuzz_tokenizer_json fuzz_tokenizer_encode fuzz_batch_file)
out=${OUT:-/tmp/heartmula-fuzz}
bin=${FUZZ_BUILD:-build-fuzz}/tests/fuzz
status=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  rm -rf "$out/corpus/$name" && mkdir -p "$out/corpus" "$out/artifacts/$name"
  cp -r "tests/fuzz/corpus/$name" "$out/corpus/$name"
  # -timeout=120: the first input of fuzz_tokenizer_encode also loads the 9 MB tokenizer.json.
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 nice -n 10 "$bin/$t" -max_total_time="$secs" \
    -rss_limit_mb=4096 -timeout=120 -print_final_stats=1 -artifact_prefix="$out/artifacts/$name/" \
    "$out/corpus/$name" > "$out/$t.log" 2>&1 || status=1
  echo "$t: $(grep -E '^Done' "$out/$t.log" || echo FAILED, see "$out/$t.log")"
done
exit $status
