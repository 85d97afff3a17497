#!/usr/bin/env bash
# GPU machine, after scripts/device-check.sh built build-device/: the whole process's wall time
# (scripts/wall-time.sh) of an older revision's heartmula-gen (packed here with
# `git archive REV -- . ':!tests/data' | gzip -1 > .gpu/prev.tgz`) against this tree's, alternately,
# in one call, on the real-size random checkpoint (made here if missing). A speed change of the
# start-up or the loading is kept only if measured so (issue #20).
#   scripts/walltime-ab.sh .gpu/prev.tgz      WALL_AB_DTYPES (default "bf16 int8"), WALL_AB_REPS (2),
#                                             DURATIONS (30); results under ${OUT:-/tmp/heartmula-out}
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-/tmp/heartmula-out}; mkdir -p "$OUTDIR"
OLD=/tmp/heartmula-prev
# WALL_AB_PHASE=build: only build the older binary; =run: only time (built before).
PHASE=${WALL_AB_PHASE:-all}
source scripts/lib/build-rev.sh
[ "$PHASE" = run ] || build_rev "${1:-.gpu/prev.tgz}" "$OLD" heartmula-gen "$OUTDIR/prev_build.log" prev
[ "$PHASE" = build ] && exit 0
B=build-device/tools
[ -f /tmp/rckpt/HeartMuLa-oss-3B/config.json ] && [ -f /tmp/rckpt/HeartCodec-oss/config.json ] || \
  { t0=$(date +%s); $B/make-random-checkpoint --out /tmp/rckpt --size real --what all --tokenizer .cache/llama3/tokenizer.json >"$OUTDIR/mkckpt_all.log" 2>&1 \
    && echo ">>> real-size random checkpoint: $(( $(date +%s) - t0 )) s" || echo ">>> make-random-checkpoint: FAILED"; }
cp .cache/llama3/tokenizer.json /tmp/rckpt/ 2>/dev/null || true
for r in $(seq 1 "${WALL_AB_REPS:-2}"); do
  for dt in ${WALL_AB_DTYPES:-bf16 int8}; do
    for v in prev:$OLD/b/tools/heartmula-gen new:$PWD/$B/heartmula-gen; do
      name=${v%%:*}
      WALL_TIME_DIR=/tmp/wall_ab_${name}_${dt}_$r HEARTMULA_GEN=${v#*:} DURATIONS=${DURATIONS:-30} \
        timeout 120 bash scripts/wall-time.sh /tmp/rckpt cuda $dt >"$OUTDIR/wall_ab_${name}_${dt}_$r.txt" 2>&1 \
        || echo ">>> wall $name $dt run $r: FAILED: $(tail -3 "$OUTDIR/wall_ab_${name}_${dt}_$r.txt")"
      echo ">>> wall $name $dt run $r: $(grep -iE 'whole process' "$OUTDIR/wall_ab_${name}_${dt}_$r.txt" | tr -s ' ')"
    done
  done
done
