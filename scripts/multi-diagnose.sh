#!/usr/bin/env bash
# GPU machine, after `scripts/device-from-head.sh check multi` (tiny checkpoint, lyrics, build):
# two workers on one GPU against one device with the same groups, repeated and with switches off,
# to find what makes a song differ (issue #21). Prints one line per variant; then, where the CUDA
# toolkit's compute-sanitizer exists, its racecheck / initcheck / synccheck over one song.
cd /tmp/heartmula-src || exit 1
B=build-device/tools CK=/tmp/tinyckpt
run() {  # DIR DEVICE ENV...
  local d=$1 dev=$2; shift 2; rm -rf $d; mkdir -p $d
  env "$@" timeout 200 $B/heartmula-gen --model-path $CK --device $dev --tags "Piano,Happy" --lyrics /tmp/lyrics.txt \
    --ignore-eos --duration 4 --codec-steps 2 --seed 21 --num-songs 6 --batch-size 3 -o $d/x.wav \
    --codes-out $d/x.safetensors --quiet ${EXTRA:-} >/dev/null 2>$d/err || echo "FAILED $d: $(tail -2 $d/err)"
}
compare() {  # NAME DIR_A DIR_B
  python3 - "$@" <<'PY'
import sys, glob, os
from safetensors.torch import load_file
n, a, b = sys.argv[1:4]
out = []
for f in sorted(glob.glob(a + "/*.safetensors")):
    g = b + "/" + os.path.basename(f)
    try:
        x = load_file(f)["frames"]; y = load_file(g)["frames"]; m = min(len(x), len(y))
        d = (x[:m] != y[:m]).any(1).nonzero()
        if len(d) or len(x) != len(y): out.append(f"{os.path.basename(f)} from frame {int(d[0]) if len(d) else m}")
    except Exception as e:
        out.append(f"{os.path.basename(f)}: {e}")
print(f">>> multi-diagnose {n}: " + ("codes EQUAL" if not out else "differ: " + "; ".join(out)), flush=True)
PY
}
# `multi-diagnose.sh repeat N`: one reference run on one device, then N runs of two workers each
# compared with it (bf16, then int8 with MD_INT8_REPEAT runs): how often a song differs.
# MD_REPEAT_ENV: environment for both sides (e.g. HEARTMULA_NO_GRAPHS=1); MD_DTYPES (bf16 int8).
if [ "${1:-}" = repeat ]; then
  for dt in ${MD_DTYPES:-bf16 int8}; do
    n=${2:-5}; [ $dt = int8 ] && n=${MD_INT8_REPEAT:-3}
    EXTRA="--mula-dtype=$dt"; run /tmp/md_rep_one_$dt cuda HEARTMULA_GRAPH_STATS=0 ${MD_REPEAT_ENV:-}
    for i in $(seq 1 $n); do
      run /tmp/md_rep_two_${dt}_$i cuda:0,cuda:0 HEARTMULA_GRAPH_STATS=0 ${MD_REPEAT_ENV:-}
      compare "repeat $dt $i (one vs two)" /tmp/md_rep_one_$dt /tmp/md_rep_two_${dt}_$i
    done
  done
  exit 0
fi
# `multi-diagnose.sh cs`: only the sanitizer part; CS_RUNS=none: no sanitizer part.
[ "${1:-}" = cs ] || {
for v in again:HEARTMULA_GRAPH_STATS=0 nographs:HEARTMULA_NO_GRAPHS=1 \
         smfree0:HEARTMULA_CODEC_SM_FREE=0 nostream:HEARTMULA_GRAPH_STATS=0:--no-stream \
         noaudio:HEARTMULA_GRAPH_STATS=0:--no-audio lmstream:HEARTMULA_STREAM_PRIORITY=lm \
         int8:HEARTMULA_GRAPH_STATS=0:--mula-dtype=int8 cublasws:CUBLAS_WORKSPACE_CONFIG=:4096:8; do
  name=${v%%:*}; e=${v#*:}; EXTRA=""; [[ "$e" == *:--* ]] && EXTRA=${e#*:}; e=${e%%:--*}
  run /tmp/md_one_$name cuda $e
  run /tmp/md_two_$name cuda:0,cuda:0 $e
  compare "$name (one vs two)" /tmp/md_one_$name /tmp/md_two_$name
done
# Repeatability of each side on its own.
run /tmp/md_one_rep cuda HEARTMULA_GRAPH_STATS=0; compare "one vs one" /tmp/md_one_again /tmp/md_one_rep
run /tmp/md_two_rep cuda:0,cuda:0 HEARTMULA_GRAPH_STATS=0; compare "two vs two" /tmp/md_two_again /tmp/md_two_rep
}
[ "${CS_RUNS:-}" = none ] && exit 0

# compute-sanitizer over one song (shared-memory races, reads of unwritten device memory, barrier misuse).
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ -z "$CS" ]; then echo ">>> compute-sanitizer: not found"; exit 0; fi
for run in ${CS_RUNS:-memcheck:bf16 initcheck:bf16 racecheck:bf16 memcheck:int8 racecheck:int8}; do
  tool=${run%%:*} dt=${run#*:}
  {
    log=/tmp/md_cs_${tool}_$dt.log
    # Without LibTorch's caching allocator every tensor is its own cudaMalloc, so memcheck sees a
    # read past a tensor's end and initcheck a read of bytes never written.
    # CS_GRAPHS=1: with CUDA graphs (a graph reading a tensor freed after its capture shows
    # as an invalid read only when the allocator does not keep the memory).
    PYTORCH_NO_CUDA_MEMORY_CACHING=1 HEARTMULA_NO_GRAPHS=$([ "${CS_GRAPHS:-0}" = 1 ] && echo 0 || echo 1) timeout ${CS_TIMEOUT:-120} "$CS" --tool $tool --print-limit 20 $B/heartmula-gen --model-path $CK \
      --device cuda --mula-dtype $dt --tags "Piano,Happy" --lyrics /tmp/lyrics.txt --ignore-eos --duration 1 \
      --codec-steps 1 --seed 21 --num-songs 3 --batch-size 3 -o /tmp/md_cs.wav --quiet >$log 2>&1
    rc=$?
    echo ">>> compute-sanitizer $tool $dt (rc $rc): $(grep -h 'ERROR SUMMARY' $log | tail -1)"
    grep -E "^=========  *(Invalid|Race|Uninitialized|Barrier|Error|Program hit)|^=========     at .*(heartmula|kernel)" $log | sort | uniq -c | sort -rn | head -8
  }
done
