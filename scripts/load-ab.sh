#!/usr/bin/env bash
# GPU machine, after scripts/device-check.sh built build-device/: the LM and codec load rows with
# the staged loader (pinned pieces, default) against the direct copy (HEARTMULA_LOAD_PIECE_MB=0),
# alternately, on the real-size random checkpoint (made here if missing). Issue #20.
#   scripts/load-ab.sh [REPS]      rows under ${OUT:-/tmp/heartmula-out}/load_*.json
cd "$(dirname "$0")/.." || exit 1
OUTDIR=${OUT:-/tmp/heartmula-out}; mkdir -p "$OUTDIR"
B=build-device/tools
[ -f /tmp/rckpt/HeartMuLa-oss-3B/config.json ] && [ -f /tmp/rckpt/HeartCodec-oss/config.json ] || \
  { t0=$(date +%s); $B/make-random-checkpoint --out /tmp/rckpt --size real --what all --tokenizer .cache/llama3/tokenizer.json >"$OUTDIR/mkckpt_all.log" 2>&1 \
    && echo ">>> real-size random checkpoint: $(( $(date +%s) - t0 )) s" || echo ">>> make-random-checkpoint: FAILED"; }
for r in ${1:-1 2}; do
  for v in direct:0 staged:64 staged16:16; do
    name=${v%%:*}
    HEARTMULA_LOAD_PIECE_MB=${v#*:} timeout 120 $B/heartmula-bench --device cuda --frames 0 --load /tmp/rckpt --reps 2 \
      --json -o "$OUTDIR/load_${name}_$r.json" >/dev/null 2>"$OUTDIR/load_${name}_$r.err" || echo ">>> load $name run $r: FAILED"
  done
done
python3 - "$OUTDIR" <<'PY'
import glob, json, os, sys
for f in sorted(glob.glob(sys.argv[1] + "/load_*.json")):
    try: rows = json.load(open(f))["rows"]
    except Exception as e: print(f">>> {os.path.basename(f)}: {e}"); continue
    for r in rows:
        if r.get("test") == "load":
            s = r["seconds"]
            print(f">>> load {os.path.basename(f)[5:-5]:12s} {r['what']:6s} {r['dtype']:5s} first {r['first_seconds']:.3f} s, "
                  f"{s.get('mean', s) if isinstance(s, dict) else s} s, {r['gbps']:.2f} GB/s")
PY
