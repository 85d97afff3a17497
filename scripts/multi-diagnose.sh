#!/usr/bin/env bash
# GPU machine, after `scripts/device-from-head.sh check multi` (tiny checkpoint, lyrics, build):
# two workers on one GPU against one device with the same groups, repeated and with switches off,
# to find what makes a song differ (issue #21). Prints one line per variant.
cd /tmp/heartmula-src || exit 1
B=build-device/tools CK=/tmp/tinyckpt
run() {  # DIR DEVICE ENV...
  local d=$1 dev=$2; shift 2; rm -rf $d; mkdir -p $d
  env "$@" timeout 200 $B/heartmula-gen --model-path $CK --device $dev --tags "Piano,Happy" --lyrics /tmp/lyrics.txt \
    --ignore-eos --duration 4 --codec-steps 2 --seed 21 --num-songs 6 --batch-size 3 -o $d/x.wav \
    --codes-out $d/x.safetensors --quiet ${EXTRA:-} >/dev/null 2>$d/err || echo "FAILED $d: $(tail -2 $d/err)"
}
for v in again:HEARTMULA_GRAPH_STATS=0 nographs:HEARTMULA_NO_GRAPHS=1 \
         smfree0:HEARTMULA_CODEC_SM_FREE=0 nostream:HEARTMULA_GRAPH_STATS=0:--no-stream \
         int8:HEARTMULA_GRAPH_STATS=0:--mula-dtype=int8 cublasws:CUBLAS_WORKSPACE_CONFIG=:4096:8; do
  name=${v%%:*}; e=${v#*:}; EXTRA=""; [[ "$e" == *:--* ]] && EXTRA=${e#*:}; e=${e%%:--*}
  run /tmp/md_one_$name cuda $e
  run /tmp/md_two_$name cuda:0,cuda:0 $e
  python3 - $name <<'PY'
import sys, glob, os
from safetensors.torch import load_file
n = sys.argv[1]; a, b = f"/tmp/md_one_{n}", f"/tmp/md_two_{n}"
out = []
for f in sorted(glob.glob(a + "/*.safetensors")):
    g = b + "/" + os.path.basename(f)
    try:
        x = load_file(f)["frames"]; y = load_file(g)["frames"]; m = min(len(x), len(y))
        d = (x[:m] != y[:m]).any(1).nonzero()
        if len(d) or len(x) != len(y): out.append(f"{os.path.basename(f)} from frame {int(d[0]) if len(d) else m}")
    except Exception as e:
        out.append(f"{os.path.basename(f)}: {e}")
print(f">>> multi-diagnose {n}: " + ("codes EQUAL" if not out else "differ: " + "; ".join(out)))
PY
done
