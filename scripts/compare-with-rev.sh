#!/usr/bin/env bash
# On the GPU machine, after scripts/device-check.sh built this tree into build-device/: builds an
# older revision's heartmula-bench (packed here with `git archive REV | gzip > .gpu/old.tgz`) and
# times the language model's frames and the codec with both binaries, alternately, in one call
# (issue #19: "frames/s and codec times within noise of today's, same call").
#   scripts/compare-with-rev.sh .gpu/old.tgz        results under ${OUT:-/tmp/heartmula-out}
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-/tmp/heartmula-out}
mkdir -p "$OUTDIR"
OLD=/tmp/heartmula-old
# COMPARE_PHASE=build: only build the old binary (e.g. in the background while other parts run);
# COMPARE_PHASE=run: only time (the old binary built before). CMP_SDPA=0: without the new binary's
# HEARTMULA_DECODER_SDPA=1 row (a shorter call).
PHASE=${COMPARE_PHASE:-all}
source scripts/lib/build-rev.sh
[ "$PHASE" = run ] || build_rev "${1:-.gpu/old.tgz}" "$OLD" heartmula-bench "$OUTDIR/old_build.log" old
[ "$PHASE" = build ] && exit 0
O=$OLD/b/tools/heartmula-bench N=build-device/tools/heartmula-bench
[ -f /tmp/rckpt/HeartCodec-oss/config.json ] || build-device/tools/make-random-checkpoint --out /tmp/rckpt --size real \
  --what codec >"$OUTDIR/mkckpt_codec.log" 2>&1
for r in 1 2; do
  for v in old:$O $([ "${CMP_SDPA:-1}" = 1 ] && echo new-sdpa:$N) new:$N; do
    name=${v%%:*} bin=${v#*:}
    env $([ $name = new-sdpa ] && echo HEARTMULA_DECODER_SDPA=1) timeout 200 $bin --device cuda --dtype bf16 \
      --cfg 1.5,1.0 --positions 226 --frames 96 --reps 2 --json -o "$OUTDIR/cmp_frames_${name}_$r.json" \
      >/dev/null 2>"$OUTDIR/cmp_frames_${name}_$r.err" || echo ">>> frames $name run $r: FAILED"
  done
  for v in old:$O new:$N; do
    name=${v%%:*} bin=${v#*:}
    timeout 200 $bin --device cuda --frames 0 --codec --codec-path /tmp/rckpt --json -o "$OUTDIR/cmp_codec_${name}_$r.json" \
      >/dev/null 2>"$OUTDIR/cmp_codec_${name}_$r.err" || echo ">>> codec $name run $r: FAILED"
  done
done
python3 - "$OUTDIR" <<'PY'
import glob, json, os, sys
for f in sorted(glob.glob(sys.argv[1] + "/cmp_*.json")):
    name = os.path.basename(f)[4:-5]
    try: rows = json.load(open(f))["rows"]
    except Exception as e: print(f">>> {name}: no report ({e})"); continue
    for r in rows:
        if r.get("test") == "frames":
            print(f">>> {name}: cfg {r['cfg']} pos {r['position']}: {r['frames_per_second']['mean']:.1f} frames/s")
        elif r.get("test") == "codec":
            sec = r.get('seconds'); sec = sec.get('mean') if isinstance(sec, dict) else sec
            print(f">>> {name}: codec {r.get('audio_seconds')} s of audio: {sec:.3f} s")
PY
