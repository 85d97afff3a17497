#!/usr/bin/env bash
# On the GPU machine: build, run the CPU test tiers, check CUDA against the fixtures, benchmark.
#   scripts/device-check.sh [PARTS]     PARTS: comma list of ctest,parity,graphs,bench,profile,oracle,codec,load,
#                                       batch,stream,codecq,codecg,codecl,codecab,int8,memory,walltime,multi,verify
#                                       (default parity,graphs,bench); results under ${OUT:-/tmp/heartmula-out}
#   scripts/device-check.sh verify      the GPU evidence for docs/gpu-verification.md: ctest, parity and graphs,
#                                       and every CUDA test binary, with a dated pass/fail table written to
#                                       $OUT/gpu-verification.md (scripts/gpu-verify.sh)
# Needs .deps-device/ (scripts/device-build.sh prepare) and .cache/llama3/tokenizer.json
# (scripts/fetch-test-assets.sh) carried with the tree. Prints a summary table last.
# HEARTMULA_DEVICE_CMAKE_ARGS: extra configure arguments (e.g. -DCMAKE_CUDA_ARCHITECTURES=90 to build
# for the lent Hopper card only, a shorter build).
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-/tmp/heartmula-out}
mkdir -p "$OUTDIR"
LOG="$OUTDIR/device-check.log"
exec > >(tee -a "$LOG") 2>&1
B=build-device/tools
PARTS=",${1:-parity,graphs,bench},"
want() { [[ "$PARTS" == *",$1,"* ]]; }
# VERIFY_CTEST=0: verify without the CPU tiers (a build of only some targets: HEARTMULA_DEVICE_TARGETS).
want verify && PARTS="${PARTS}$([ "${VERIFY_CTEST:-1}" = 1 ] && echo ctest,)parity,graphs,"
summary=()
note() { summary+=("$1"); echo ">>> $1"; }
# The real-size random codec (/tmp/rckpt) and 120 s of random codes (/tmp/hm/codes120.safetensors)
# for the codec parts, made once per machine.
codec120_inputs() {
  [ -f /tmp/rckpt/HeartCodec-oss/config.json ] || $B/make-random-checkpoint --out /tmp/rckpt --size real --what codec \
    >"$OUTDIR/mkckpt_codec.log" 2>&1 || note "make-random-checkpoint (codec): FAILED"
  mkdir -p /tmp/hm
  [ -f /tmp/hm/codes120.safetensors ] || python3 - <<'PY'
import torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(1)
save_file({"codes": torch.randint(0, 8192, (8, 1500), generator=g)}, "/tmp/hm/codes120.safetensors")
PY
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
t0=$(date +%s)
# The README's build command (install-deps.sh with the carried .debs, CMake finding python3's
# torch by itself); CMake's LibTorch line goes into the summary. device-build.sh if it fails.
if bash scripts/install-deps.sh --debs .deps-device >"$OUTDIR/build.log" 2>&1 \
   && cmake -S . -B build-device -G Ninja ${HEARTMULA_DEVICE_CMAKE_ARGS:-} >>"$OUTDIR/build.log" 2>&1 \
   && cmake --build build-device -j 16 ${HEARTMULA_DEVICE_TARGETS:+--target $HEARTMULA_DEVICE_TARGETS} >>"$OUTDIR/build.log" 2>&1; then
  note "build (README command${HEARTMULA_DEVICE_CMAKE_ARGS:+ + $HEARTMULA_DEVICE_CMAKE_ARGS}): ok ($(( $(date +%s) - t0 )) s); $(grep -h 'heartmula: LibTorch' "$OUTDIR/build.log" | sed 's/^-- //' | tr '\n' ' ')"
else
  note "build (README command): FAILED, see build.log; trying scripts/device-build.sh"
  tail -20 "$OUTDIR/build.log"
  rm -rf build-device
  HEARTMULA_DEVICE_BUILD=build-device bash scripts/device-build.sh build ${HEARTMULA_DEVICE_CMAKE_ARGS:-} >"$OUTDIR/build2.log" 2>&1 \
    && note "build (device-build.sh): ok ($(( $(date +%s) - t0 )) s)" || { note "build: FAILED"; tail -50 "$OUTDIR/build2.log"; exit 1; }
fi
export LD_LIBRARY_PATH=/opt/heartmula-deps/usr/lib/x86_64-linux-gnu:/opt/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}

# 1. The CPU test tiers built against LibTorch 2.x.
t0=$(date +%s)
if ! want ctest; then :
elif timeout 300 ctest --test-dir build-device -L "unit|golden|consistency" -j 16 --output-on-failure >"$OUTDIR/ctest.log" 2>&1; then
  note "ctest unit+golden+consistency (CPU, LibTorch 2.x): $(grep -E 'tests passed' "$OUTDIR/ctest.log" | tail -1) ($(( $(date +%s) - t0 )) s)"
else
  note "ctest unit+golden+consistency: FAILED: $(grep -E 'tests passed|tests failed' "$OUTDIR/ctest.log" | tail -1)"; grep -E "Failed|\*\*\*" "$OUTDIR/ctest.log" | head -20
fi

# 2. The tiny checkpoint on CUDA: greedy frames against the reference fixtures.
CK=/tmp/tinyckpt
W=/tmp/hm; rm -rf $W; mkdir -p $W
rm -rf $CK; cp -r tests/data/ckpt $CK; cp .cache/llama3/tokenizer.json $CK/
python3 - <<'PY' > /tmp/lyrics.txt
import json; print(json.load(open("tests/data/lm/cases.json"))["lyrics"], end="")
PY
if want parity; then
for dt in fp32 bf16; do
  for case in cfg15:1.5:eos cfg15_noeos:1.5:64 cfg10:1.0:eos cfg10_noeos:1.0:32 cfg30:3.0:32; do
    IFS=: read name scale n <<<"$case"
    extra=(--max-audio-length-ms 2000)
    [ "$n" != eos ] && extra=(--ignore-eos --max-audio-length-ms $(( (n - 1) * 80 )))
    $B/heartmula-gen --model-path $CK --tags "Piano,Happy" --lyrics /tmp/lyrics.txt --topk 1 --temperature 1 \
      --cfg-scale $scale --device cuda --mula-dtype $dt --codes-out $W/${name}_$dt.safetensors --no-audio --seed 1 \
      --quiet "${extra[@]}" || note "gen $name $dt: FAILED"
  done
done
python3 - <<'PY' | tee -a /tmp/lm_summary.txt
import torch
from safetensors.torch import load_file
for dt in ("fp32", "bf16"):
    for name in ("cfg15", "cfg15_noeos", "cfg10", "cfg10_noeos", "cfg30"):
        ref = load_file(f"tests/data/lm/mula_{name}.safetensors")["frames"]
        try:
            got = load_file(f"/tmp/hm/{name}_{dt}.safetensors")["frames"]
        except Exception as e:
            print(f">>> LM {name} cuda {dt}: missing ({e})"); continue
        same = got.shape == ref.shape and bool(torch.equal(got, ref))
        n = min(got.shape[0], ref.shape[0])
        agree = (got[:n] == ref[:n]).float().mean().item() if n else 0.0
        print(f">>> LM {name} cuda {dt}: frames {tuple(got.shape)} vs ref {tuple(ref.shape)}: {'EQUAL' if same else 'differ'} (token agreement {agree:.3f})")
PY
while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/lm_summary.txt)

# 3. The codec on CUDA vs CPU and vs the reference, recorded noise.
for t in t200 t400; do
  for dev in cpu cuda; do
    $B/heartcodec-decode --codec $CK/HeartCodec-oss --codes tests/data/codec/codec_$t.safetensors \
      --noise tests/data/codec/codec_$t.safetensors --device $dev --dtype fp32 -o $W/wav_${t}_$dev.safetensors \
      || note "codec $t $dev: FAILED"
  done
done
python3 - <<'PY' | tee /tmp/codec_summary.txt
import torch
from safetensors.torch import load_file
for t in ("t200", "t400"):
    try:
        ref = load_file(f"tests/data/codec/codec_{t}.safetensors")
        cpu = load_file(f"/tmp/hm/wav_{t}_cpu.safetensors")["wav"]
        gpu = load_file(f"/tmp/hm/wav_{t}_cuda.safetensors")["wav"]
    except Exception as e:
        print(f">>> codec {t}: missing ({e})"); continue
    rel = ((gpu - cpu).abs().max() / cpu.abs().max()).item()
    head = ((gpu[:, :48000] - ref["wav_head_f32"]).abs().max() / ref["wav_head_f32"].abs().max()).item()
    print(f">>> codec {t} fp32: cuda vs cpu max rel {rel:.2e} (target 1e-3); cuda vs reference head {head:.2e}")
PY
while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/codec_summary.txt)
fi

# 3b. CUDA graphs change nothing: sampled bf16 frames with and without graph replay, for the
#     fused kernels, without the fused attention, and for the composite ATen path.
if want graphs; then
  for variant in fused:"" noattn:HEARTMULA_NO_FUSED_ATTENTION=1 composite:HEARTMULA_NO_FUSED=1; do
    IFS=: read vname venv <<<"$variant"
    for g in graphs eager; do
      env $venv $([ $g = eager ] && echo HEARTMULA_NO_GRAPHS=1) $B/heartmula-gen --model-path $CK --tags "Piano,Happy" \
        --lyrics /tmp/lyrics.txt --topk 50 --cfg-scale 1.5 --device cuda --mula-dtype bf16 --seed 7 --ignore-eos \
        --max-audio-length-ms 40000 --codes-out $W/sampled_${vname}_$g.safetensors --no-audio --quiet \
        || note "gen $vname $g: FAILED"
    done
  done
  python3 - <<'PY' | tee /tmp/graph_summary.txt
import torch
from safetensors.torch import load_file
def frames(n):
    try: return load_file(f"/tmp/hm/sampled_{n}.safetensors")["frames"]
    except Exception as e: return None
def cmp(x, y, what):
    a, b = frames(x), frames(y)
    if a is None or b is None: print(f">>> {what}: missing"); return
    if torch.equal(a, b): print(f">>> {what} (cuda bf16, topk 50, seed 7, {a.shape[0]} frames): EQUAL"); return
    n = min(a.shape[0], b.shape[0]); eq = (a[:n] == b[:n]).all(1)
    first = int((~eq).nonzero()[0]) if (~eq).any() else n
    print(f">>> {what}: DIFFER from frame {first} of {n} (agreement {(a[:n] == b[:n]).float().mean().item():.3f}); "
          f"{x} frame {first}: {a[first].tolist()}, {y}: {b[first].tolist()}")
for v in ("fused", "noattn", "composite"):
    cmp(f"{v}_graphs", f"{v}_eager", f"graphs vs eager [{v}]")
cmp("fused_graphs", "composite_graphs", "fused kernels vs composite ATen, graphs (bf16 rounding may differ)")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/graph_summary.txt)
fi

# 4. Speed on random weights of the real shapes.
if want bench; then
  timeout 300 $B/heartmula-bench --device cuda --dtype bf16 --cfg 1.5,1.0 --positions 226,2500 \
    --frames 96 --reps 2 --json -o "$OUTDIR/bench_lm.json" && note "bench (graphs): $OUTDIR/bench_lm.json" || note "bench: FAILED"
  timeout 200 $B/heartmula-bench --device cuda --dtype bf16 --cfg 1.5 --positions 226 --no-graphs \
    --frames 64 --reps 2 --json -o "$OUTDIR/bench_lm_eager.json" || note "bench eager: FAILED"
  python3 - "$OUTDIR" <<'PY' | tee /tmp/bench_summary.txt
import json, sys, glob
for f in sorted(glob.glob(sys.argv[1] + "/bench_lm*.json")):
    d = json.load(open(f))
    for r in d.get("rows", d if isinstance(d, list) else []):
        if r.get("test") != "frames": continue
        fps = r["frames_per_second"]
        print(f">>> {f.split('/')[-1]}: cfg {r['cfg']} pos {r['position']} graphs {r.get('graphs')}: "
              f"{fps['mean']:.1f} ± {fps.get('sd', 0):.1f} frames/s, {r['ms_per_frame']:.2f} ms/frame, "
              f"prefill {r['prefill_ms']['mean']:.1f} ms, peak {r['peak_memory_bytes']/1e9:.2f} GB")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/bench_summary.txt)
fi
# 4b. Where the frame time goes: kernel profile (Kineto/CUPTI) of 64 frames per CFG scale.
# PROFILE_VARIANTS: NAME[:ENV=VALUE] as INT8_FRAME_VARIANTS below (default bf16); PROFILE_CFG.
if want profile; then
  for v in ${PROFILE_VARIANTS:-bf16}; do
    name=${v%%:*}; envs=(); [[ "$v" == *:* ]] && envs=("${v#*:}")
    env "${envs[@]}" timeout 300 $B/heartmula-bench --device cuda --dtype ${name%%-*} --cfg ${PROFILE_CFG:-1.5,1.0} \
      --positions 226 --frames 64 --reps 2 --profile "$OUTDIR/profile_$name.md" --json -o "$OUTDIR/bench_profile_$name.json" -q \
      && note "profile $name: $(grep -m2 'frames profiled' "$OUTDIR/profile_$name.md" | tr '\n' ' ')" || note "profile $name: FAILED"
  done
fi
# 4c. Upstream on the same card (the oracle kit in .oracle/, carried; see ../shared/reference/ORACLE.md).
if want oracle; then
  if [ -f .oracle/oracle_run.py ]; then
    (cd .oracle && ORACLE_KIT=. PYTHONPATH=. timeout 420 python3 run_with_fallbacks.py /tmp/oracle perf) >"$OUTDIR/oracle.log" 2>&1 \
      || note "oracle perf: FAILED (tail of oracle.log below)"
    tail -5 "$OUTDIR/oracle.log"
    python3 - <<'PY' | tee /tmp/oracle_summary.txt
import json
try:
    r = json.load(open("/tmp/oracle/report.json"))["reference_mula_perf"]
    for k, v in r.items():
        print(f">>> upstream {k}: {v.get('fps', 0):.2f} frames/s over {v.get('frames')} frames, peak {v.get('peak_mem_GB')} GB")
except Exception as e:
    print(f">>> upstream perf: no report ({e})")
PY
    while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/oracle_summary.txt)
  else
    note "oracle: .oracle/ not carried"
  fi
fi
if want codec || want load; then
  t0=$(date +%s)
  $B/make-random-checkpoint --out /tmp/rckpt --size real --what $(want load && echo all || echo codec) >"$OUTDIR/mkckpt.log" 2>&1 \
    && note "random checkpoint written ($(( $(date +%s) - t0 )) s)" || note "make-random-checkpoint: FAILED"
  args=(--frames 0)
  want codec && args+=(--codec --codec-path /tmp/rckpt)
  want load && args+=(--load /tmp/rckpt --load-cold)
  timeout 300 $B/heartmula-bench --device cuda "${args[@]}" -o "$OUTDIR/bench_codec_load.md" \
    && cat "$OUTDIR/bench_codec_load.md" || note "codec/load bench: FAILED"
fi

# 5. Several songs per batch: song-frames/s for N = 1..16 (2N rows with cfg 1.5) on the real
#    shapes, bf16, through the batch frame loop of heartmula-gen --num-songs.
if want batch; then
  for dt in ${BATCH_DTYPES:-bf16}; do
    timeout 420 $B/heartmula-bench --device cuda --dtype $dt --cfg 1.5 --positions 226 --num-songs ${BATCH_SONGS:-1,2,4,8,16} \
      --frames 48 --reps 2 --json -o "$OUTDIR/bench_batch_$dt.json" -q && note "batch bench $dt: $OUTDIR/bench_batch_$dt.json" \
      || note "batch bench $dt: FAILED"
  done
  python3 - "$OUTDIR"/bench_batch_*.json <<'PY' | tee /tmp/batch_summary.txt
import json, sys
for f in sys.argv[1:]:
    try:
        d = json.load(open(f))
    except Exception as e:
        print(f">>> batch: no report in {f} ({e})"); continue
    for r in d["rows"]:
        if r.get("test") != "batch": continue
        print(f">>> batch {d.get('lm_dtype')} N={r['songs']} ({r['batch_rows']} rows, cfg {r['cfg']}, pos {r['position']}): "
              f"{r['song_frames_per_second']['mean']:.1f} song-frames/s, x{r['speedup']:.2f} over N=1, "
              f"{r['ms_per_frame']:.2f} ms/step, peak {r['peak_memory_bytes']/1e9:.2f} GB")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/batch_summary.txt)
fi

# 6. Streaming (--stream): the codec decodes each window on its own thread and CUDA stream while
#    the LM goes on. (a) tiny checkpoint on CUDA: the streamed file equals the non-streamed one
#    byte for byte; (b) real-size random checkpoint, ~60 s of audio: time to first audio and
#    total, streamed vs not.
if want stream; then
  for s in off on; do
    flag=(--no-stream); [ $s = on ] && flag=(--stream)  # streaming is the default: off must say so
    timeout 120 $B/heartmula-gen --model-path $CK --tags piano --lyrics "la la la" --ignore-eos --duration 60 --seed 3 \
      --device cuda --codec-steps 2 ${flag[@]+"${flag[@]}"} -o $W/stream_$s.wav --overwrite --json -q >$W/stream_$s.json \
      || note "stream tiny ($s): FAILED"
  done
  cmp -s $W/stream_off.wav $W/stream_on.wav && note "stream (tiny, cuda): streamed == not streamed, byte for byte" \
    || note "stream (tiny, cuda): streamed and not streamed DIFFER"
  timeout 120 $B/heartmula-gen --model-path $CK --tags piano --lyrics "la la la" --ignore-eos --duration 60 --seed 3 \
    --device cuda --codec-steps 2 --stream -o - --format wav -q >$W/stream_stdout.wav || note "stream tiny (stdout): FAILED"
  python3 - $W <<'PY' | tee /tmp/stream_summary.txt
import sys
def pcm(p):
    b = open(p, "rb").read(); i = b.find(b"data"); n = int.from_bytes(b[i + 4:i + 8], "little")
    return b[i + 8:] if n == 0xFFFFFFFF else b[i + 8:i + 8 + n]
a, b = pcm(f"{sys.argv[1]}/stream_off.wav"), pcm(f"{sys.argv[1]}/stream_stdout.wav")
print(">>> stream (tiny, cuda) -o - --format wav: " + ("same PCM as the file" if a == b and a else f"DIFFERS ({len(a)} vs {len(b)} bytes)"))
PY
  R=/tmp/rckpt; t0=$(date +%s)
  missing=""  # only what is not there yet (the codec parts may have written the codec already)
  [ -f $R/HeartMuLa-oss-3B/config.json ] || missing=lm
  [ -f $R/HeartCodec-oss/config.json ] || missing=${missing:+$missing,}codec
  if [ -n "$missing" ]; then
    $B/make-random-checkpoint --out $R --size real --what $missing >"$OUTDIR/mkckpt_stream.log" 2>&1 \
      && note "random checkpoint ($missing) written ($(( $(date +%s) - t0 )) s)" || note "make-random-checkpoint: FAILED"
  fi
  cp .cache/llama3/tokenizer.json $R/
  # 60 s and 240 s of audio (STREAM_RUNS="SECONDS:VARIANT ..."), not streamed / streamed / streamed without the codec warm-up
  # (HEARTMULA_NO_CODEC_WARMUP=1), without graphs (HEARTMULA_NO_GRAPHS=1), streamed with HEARTMULA_STREAM_PRIORITY
  # lm / same / codec (lmprio, sameprio, codecprio), with HEARTMULA_CODEC_SM_FREE=N (smfreeN); the trace (HEARTMULA_STREAM_TRACE=1) shows when windows come out.
  for run in ${STREAM_RUNS:-60:off 60:on 240:off 240:on}; do
    IFS=: read secs s <<<"$run"
    flag=(--no-stream); env=(HEARTMULA_STREAM_TRACE=1); [ $s != off ] && flag=(--stream); [ $s = nowarm ] && env+=(HEARTMULA_NO_CODEC_WARMUP=1)
    [ $s = nograph ] && env+=(HEARTMULA_NO_GRAPHS=1)
    [ $s = lmprio ] && env+=(HEARTMULA_STREAM_PRIORITY=lm); [ $s = sameprio ] && env+=(HEARTMULA_STREAM_PRIORITY=same)
    [ $s = codecprio ] && env+=(HEARTMULA_STREAM_PRIORITY=codec)
    [[ $s == smfree* ]] && env+=(HEARTMULA_CODEC_SM_FREE=${s#smfree})
    env "${env[@]}" timeout 240 $B/heartmula-gen --model-path $R --tags piano --lyrics "la la la" --ignore-eos --duration $secs \
      --seed 3 --device cuda ${flag[@]+"${flag[@]}"} -o $W/real_${secs}_$s.mp3 --overwrite --json -q \
      >$W/real_${secs}_$s.json 2>$W/real_${secs}_$s.trace || note "stream real ($secs s, $s): FAILED"
    cp $W/real_${secs}_$s.trace "$OUTDIR/" 2>/dev/null
    echo "--- $secs s, $s:"; grep -v handed $W/real_${secs}_$s.trace | head -8
  done
  python3 - $W <<'PY' | tee -a /tmp/stream_summary.txt
import json, sys
import os
for run in [r.replace(":", "_") for r in os.environ.get("STREAM_RUNS", "60:off 60:on 240:off 240:on").split()]:
    try:
        t = json.loads(open(f"{sys.argv[1]}/real_{run}.json").read())["timings"]
    except Exception as e:
        print(f">>> stream {run} (real-size random): no result ({e})"); continue
    print(f">>> stream {run} (real-size random, {t['audio_s']:.1f} s audio): first audio {t['first_audio_s']:.2f} s after "
          f"loading (codec warm-up {t.get('codec_warmup_s', 0):.2f}), total {t['total_s']:.2f} s (load {t['load_s']:.2f}, "
          f"LM {t['frames_s']:.2f} = {t['frames_per_s']:.1f} frames/s, codec {t['codec_s']:.2f})")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/stream_summary.txt)
fi

# 7. Codec precision: SNR of each --codec-dtype against fp32 for the same 30 s of random codes and
#    seeded noise on the real-size random codec, then the codec rows per precision.
if want codecq; then
  [ -f /tmp/rckpt/HeartCodec-oss/config.json ] || $B/make-random-checkpoint --out /tmp/rckpt --size real --what codec \
    >"$OUTDIR/mkckpt_codec.log" 2>&1 || note "make-random-checkpoint (codec): FAILED"
  mkdir -p /tmp/hm
  python3 - <<'PY'
import torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(0)
save_file({"codes": torch.randint(0, 8192, (8, 375), generator=g)}, "/tmp/hm/codes30.safetensors")
PY
  for p in bf16 tf32 bf16/fp32 bf16/bf16; do
    l=$(timeout 120 $B/heartcodec-decode --codec /tmp/rckpt/HeartCodec-oss --codes /tmp/hm/codes30.safetensors \
        --device cuda --dtype $p --compare-dtype fp32 --seed 0 -o /tmp/hm/q_${p//\//_}.safetensors --overwrite -q \
        2>>"$OUTDIR/codecq.log" | grep '^SNR')
    note "codec precision $p vs fp32 (30 s random codes, real-size random codec): ${l:-FAILED (see codecq.log)}"
  done
  for p in fp32 tf32 bf16 bf16/bf16; do
    timeout 200 $B/heartmula-bench --device cuda --frames 0 --codec --codec-path /tmp/rckpt --codec-dtype $p \
      --codec-seconds 30,120 --reps 3 --json -o "$OUTDIR/bench_codec_${p//\//_}.json" -q || note "codec bench $p: FAILED"
  done
  python3 - "$OUTDIR" <<'PY' | tee /tmp/codecq_summary.txt
import json, sys, glob
for f in sorted(glob.glob(sys.argv[1] + "/bench_codec_*.json")):
    for r in json.load(open(f)).get("rows", []):
        if r.get("test") != "codec": continue
        s = r["seconds"]
        print(f">>> codec {r['dtype']}: {r['audio_seconds']:.0f} s audio in {s['mean']:.3f} ± {s.get('sd', 0):.3f} s "
              f"({r['seconds_per_window']:.3f} s/window, peak {r['peak_memory_bytes']/1e9:.2f} GB)")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/codecq_summary.txt)
fi

# 7b. Codec graphs: the Euler solve replayed from a CUDA graph (issue #7) must give the eager
#     output bit for bit (120 s of random codes, real-size random codec, --dtype auto), and the
#     codec rows with and without graphs (HEARTMULA_NO_CODEC_GRAPHS=1), and a window's profile.
if want codecg; then
  [ -f /tmp/rckpt/HeartCodec-oss/config.json ] || $B/make-random-checkpoint --out /tmp/rckpt --size real --what codec \
    >"$OUTDIR/mkckpt_codec.log" 2>&1 || note "make-random-checkpoint (codec): FAILED"
  mkdir -p /tmp/hm
  python3 - <<'PY'
import torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(1)
save_file({"codes": torch.randint(0, 8192, (8, 1500), generator=g)}, "/tmp/hm/codes120.safetensors")
PY
  for g in 1 0; do
    HEARTMULA_NO_CODEC_GRAPHS=$g HEARTMULA_GRAPH_STATS=1 timeout 120 $B/heartcodec-decode --codec /tmp/rckpt/HeartCodec-oss \
      --codes /tmp/hm/codes120.safetensors --device cuda --seed 0 -o /tmp/hm/g$g.safetensors --overwrite \
      2>"$OUTDIR/codecg_$g.log" || note "codec decode (no graphs=$g): FAILED"
    echo "--- HEARTMULA_NO_CODEC_GRAPHS=$g:"; cat "$OUTDIR/codecg_$g.log"
  done
  l=$(python3 - <<'PY'
import torch
from safetensors.torch import load_file
a = load_file("/tmp/hm/g1.safetensors")["wav"]; b = load_file("/tmp/hm/g0.safetensors")["wav"]
print("EQUAL" if a.shape == b.shape and torch.equal(a, b) else f"DIFFER (max abs {(a - b).abs().max().item():.3g}, shapes {tuple(a.shape)} {tuple(b.shape)})")
PY
)
  note "codec graphs vs eager (120 s random codes, real-size random codec, auto): ${l:-FAILED}"
  for g in 1 0; do
    HEARTMULA_NO_CODEC_GRAPHS=$g timeout 200 $B/heartmula-bench --device cuda --frames 0 --codec --codec-path /tmp/rckpt \
      --codec-seconds 30,120 --reps 3 --json -o "$OUTDIR/bench_codecg_$g.json" -q || note "codec bench graphs=$g: FAILED"
  done
  timeout 120 $B/heartmula-bench --device cuda --frames 0 --codec --codec-path /tmp/rckpt --codec-seconds 30 --reps 1 \
    --profile "$OUTDIR/profile_codec_graphs.md" -q >/dev/null 2>&1 || note "codec profile (graphs): FAILED"
  head -40 "$OUTDIR/profile_codec_graphs.md" 2>/dev/null
  python3 - "$OUTDIR" <<'PY' | tee /tmp/codecg_summary.txt
import json, sys
for g in ("1", "0"):
    try:
        rows = json.load(open(f"{sys.argv[1]}/bench_codecg_{g}.json")).get("rows", [])
    except Exception as e:
        print(f">>> codec graphs={'off' if g == '1' else 'on'}: no report ({e})"); continue
    for r in rows:
        if r.get("test") != "codec": continue
        s = r["seconds"]
        print(f">>> codec {r['dtype']} graphs {'on' if r.get('graphs') else 'off'}: {r['audio_seconds']:.0f} s audio in "
              f"{s['mean']:.3f} ± {s.get('sd', 0):.3f} s ({r['seconds_per_window']:.3f} s/window, peak {r['peak_memory_bytes']/1e9:.2f} GB)")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/codecg_summary.txt)
fi

# 7c. Codec decoder layout (issue #7): channels-last (default) vs NCL (HEARTMULA_CODEC_NCL=1) on
#     CUDA: the CUDA test (fused epilogue bit for bit, real-size decode CL vs NCL with timings),
#     120 s decoded both ways (same flow matching, so only the decoder differs), codec rows for
#     both, and a channels-last window's profile (expect no nchwToNhwc / nhwcToNchw kernels).
if want codecl; then
  timeout 300 ctest --test-dir build-device -R CodecDecoderCuda -V >"$OUTDIR/codecl_test.log" 2>&1 \
    && note "CodecDecoderCuda: ok" || { note "CodecDecoderCuda: FAILED"; grep -E "Failure|Expected|Which is|FAILED" "$OUTDIR/codecl_test.log" | head -20; }
  grep -E "ScalarDecoder::decode" "$OUTDIR/codecl_test.log" | sed 's/^[0-9]*: //' | while read -r l; do note "$l"; done
  codec120_inputs
  for n in 0 1; do
    HEARTMULA_CODEC_NCL=$n timeout 120 $B/heartcodec-decode --codec /tmp/rckpt/HeartCodec-oss \
      --codes /tmp/hm/codes120.safetensors --device cuda --seed 0 -o /tmp/hm/ncl$n.safetensors --overwrite \
      2>"$OUTDIR/codecl_decode_$n.log" || note "codec decode (NCL=$n): FAILED"
  done
  l=$(python3 - <<'PY'
import torch
from safetensors.torch import load_file
a = load_file("/tmp/hm/ncl0.safetensors")["wav"]; b = load_file("/tmp/hm/ncl1.safetensors")["wav"]
if a.shape != b.shape: print(f"shapes differ {tuple(a.shape)} {tuple(b.shape)}")
else: print(f"max |cl - ncl| / max |ncl| = {((a - b).abs().max() / b.abs().max()).item():.3g}, equal: {torch.equal(a, b)}")
PY
)
  note "codec decoder channels-last vs NCL (120 s random codes, real-size random codec, auto): ${l:-FAILED}"
  for n in 0 1 b; do  # b: channels-last with HEARTMULA_CODEC_CUDNN_BENCHMARK=1
    HEARTMULA_CODEC_NCL=$([ $n = 1 ] && echo 1 || echo 0) HEARTMULA_CODEC_CUDNN_BENCHMARK=$([ $n = b ] && echo 1 || echo 0) \
      timeout 200 $B/heartmula-bench --device cuda --frames 0 --codec --codec-path /tmp/rckpt \
      --codec-seconds 30,120 --reps 3 --json -o "$OUTDIR/bench_codecl_$n.json" -q || note "codec bench $n: FAILED"
  done
  timeout 120 $B/heartmula-bench --device cuda --frames 0 --codec --codec-path /tmp/rckpt --codec-seconds 30 --reps 1 \
    --profile "$OUTDIR/profile_codec_cl.md" -q >/dev/null 2>&1 || note "codec profile (channels-last): FAILED"
  head -40 "$OUTDIR/profile_codec_cl.md" 2>/dev/null
  grep -cE "nchwToNhwc|nhwcToNchw" "$OUTDIR/profile_codec_cl.md" 2>/dev/null | sed 's/^/layout-conversion kernel lines in the profile: /'
  python3 - "$OUTDIR" <<'PY' | tee /tmp/codecl_summary.txt
import json, sys
names = {"0": "channels-last", "1": "NCL", "b": "channels-last + cuDNN benchmark"}
for n in ("0", "1", "b"):
    try:
        rows = json.load(open(f"{sys.argv[1]}/bench_codecl_{n}.json")).get("rows", [])
    except Exception as e:
        print(f">>> codec decoder {names[n]}: no report ({e})"); continue
    for r in rows:
        if r.get("test") != "codec": continue
        s = r["seconds"]
        print(f">>> codec {r['dtype']} decoder {names[n]}: {r['audio_seconds']:.0f} s audio in "
              f"{s['mean']:.3f} ± {s.get('sd', 0):.3f} s ({r['seconds_per_window']:.3f} s/window, peak {r['peak_memory_bytes']/1e9:.2f} GB)")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/codecl_summary.txt)
fi

# 7d. Codec A/B (issue #7): 120 s of random codes decoded with each CODEC_VARIANTS entry
#     ("name:ENV=V,ENV=V"; default: the defaults and cuDNN's transposed conv (HEARTMULA_CODEC_CONVT_CUDNN=1)):
#     the audio of each against the first (bit for bit or the max difference), the codec rows,
#     and a 120 s profile (idle gaps; the Chrome trace in $OUTDIR/codec_trace.json).
if want codecab; then
  codec120_inputs
  variants=${CODEC_VARIANTS:-"default: cudnnct:HEARTMULA_CODEC_CONVT_CUDNN=1"}
  first=""
  for v in $variants; do
    name=${v%%:*}; envs=${v#*:}; IFS=, read -ra ev <<<"$envs"
    env ${ev[@]+"${ev[@]}"} timeout 120 $B/heartcodec-decode --codec /tmp/rckpt/HeartCodec-oss \
      --codes /tmp/hm/codes120.safetensors --device cuda --seed 0 -o /tmp/hm/ab_$name.safetensors --overwrite \
      2>"$OUTDIR/codecab_$name.log" || note "codec decode ($name): FAILED"
    if [ -z "$first" ]; then first=$name; else
      l=$(python3 - $first $name <<'PY'
import sys, torch
from safetensors.torch import load_file
a = load_file(f"/tmp/hm/ab_{sys.argv[1]}.safetensors")["wav"]; b = load_file(f"/tmp/hm/ab_{sys.argv[2]}.safetensors")["wav"]
print("EQUAL" if a.shape == b.shape and torch.equal(a, b) else
      f"max |a-b| / max |a| = {((a - b).abs().max() / a.abs().max()).item():.3g} (shapes {tuple(a.shape)} {tuple(b.shape)})")
PY
)
      note "codec audio $name vs $first (120 s random codes, real-size random codec): ${l:-FAILED}"
    fi
    env ${ev[@]+"${ev[@]}"} timeout 200 $B/heartmula-bench --device cuda --frames 0 --codec --codec-path /tmp/rckpt \
      --codec-seconds 30,120 --reps 3 --json -o "$OUTDIR/bench_codecab_$name.json" -q || note "codec bench $name: FAILED"
    python3 - "$OUTDIR/bench_codecab_$name.json" $name <<'PY' | tee -a /tmp/codecab_summary.txt
import json, sys
try:
    rows = json.load(open(sys.argv[1])).get("rows", [])
except Exception as e:
    rows = []; print(f">>> codec {sys.argv[2]}: no report ({e})")
for r in rows:
    if r.get("test") != "codec": continue
    s = r["seconds"]
    print(f">>> codec {sys.argv[2]} ({r['dtype']}): {r['audio_seconds']:.0f} s audio in {s['mean']:.3f} ± {s.get('sd', 0):.3f} s "
          f"({r['seconds_per_window']:.3f} s/window, peak {r['peak_memory_bytes']/1e9:.2f} GB)")
PY
  done
  HEARTMULA_PROFILE_CODEC_FRAMES=1500 HEARTMULA_PROFILE_TRACE=/tmp/hm/codec_trace.json timeout 120 $B/heartmula-bench \
    --device cuda --frames 0 --codec --codec-path /tmp/rckpt --codec-seconds 30 --reps 1 \
    --profile "$OUTDIR/profile_codecab.md" -q >/dev/null 2>&1 || note "codec profile (120 s): FAILED"
  gzip -c /tmp/hm/codec_trace.json > "$OUTDIR/codec_trace.json.gz" 2>/dev/null
  cat "$OUTDIR/profile_codecab.md" 2>/dev/null | head -60
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/codecab_summary.txt)
fi

# 7b. 8-bit weights (docs/quantization.md): the int8 kernel's tests, per-shape GEMM rows (int8
#     kernel vs bf16 cuBLAS, GB/s of weights against the measured copy bandwidth), frames/s int8
#     vs bf16 in this call, fidelity int8 vs bf16 (random real shapes and the tiny fixture), the
#     tiny fixture's int8 frames on CUDA vs on the CPU.
if want int8; then
  build-device/tests/unit/test_cuda_kernels --gtest_filter="${INT8_TEST_FILTER:-Int8*}" >"$OUTDIR/int8_test.log" 2>&1 \
    && note "int8 kernel tests: $(grep -c '^\[       OK' "$OUTDIR/int8_test.log") passed" \
    || { note "int8 kernel tests: FAILED"; grep -E "Failure|FAILED|error" "$OUTDIR/int8_test.log" | head -20; }
  # GEMM rows without and with programmatic dependent launch (HEARTMULA_PDL=1).
  if [ "${INT8_GEMM:-1}" = 1 ]; then
    for pdl in ${INT8_GEMM_PDL:-0 1}; do
      HEARTMULA_PDL=$pdl timeout 240 $B/heartmula-bench --device cuda --frames 0 --gemm --gemm-rows ${GEMM_ROWS:-1,2,4,16,32} ${GEMM_EXTRA:-} -q \
        -o "$OUTDIR/gemm_pdl$pdl.md" && { echo "--- HEARTMULA_PDL=$pdl"; cat "$OUTDIR/gemm_pdl$pdl.md"; } || note "gemm bench (PDL $pdl): FAILED"
    done
  fi
  # Frame rows, one per variant NAME[:ENV=VALUE]: bf16, int8 (the default fusion set, "glu"), int8
  # without fusions, int8 with the norm fusion too (HEARTMULA_INT8_FUSION, src/model/fused_ops.h).
  for v in ${INT8_FRAME_VARIANTS-bf16 int8 int8-nofuse:HEARTMULA_INT8_FUSION=0 int8-normglu:HEARTMULA_INT8_FUSION=norm,glu}; do
    name=${v%%:*}; envs=(); [[ "$v" == *:* ]] && envs=("${v#*:}")
    dt=${name%%-*}
    env "${envs[@]}" timeout 240 $B/heartmula-bench --device cuda --dtype $dt --cfg 1.5,1.0 --positions ${INT8_POSITIONS:-226,1000} \
      --frames 96 --reps 2 --json -o "$OUTDIR/bench_frames_$name.json" -q || note "frames bench $name: FAILED"
  done
  python3 - "$OUTDIR" <<'PY' | tee /tmp/int8_summary.txt
import glob, json, os, sys
for f in sorted(glob.glob(f"{sys.argv[1]}/bench_frames_*.json")):
    name = os.path.basename(f)[len("bench_frames_"):-len(".json")]
    try: d = json.load(open(f))
    except Exception as e: print(f">>> frames {name}: no report ({e})"); continue
    for r in d["rows"]:
        if r.get("test") != "frames": continue
        fps = r["frames_per_second"]
        print(f">>> frames {name}: cfg {r['cfg']} pos {r['position']}: {fps['mean']:.1f} ± {fps.get('sd', 0):.1f} frames/s, "
              f"{r['ms_per_frame']:.2f} ms/frame, {r['weight_gbps']:.0f} GB/s of weights, peak {r['peak_memory_bytes']/1e9:.2f} GB")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/int8_summary.txt)
  [ "${INT8_FIDELITY_RANDOM:-1}" = 1 ] && { timeout 200 $B/heartmula-bench --device cuda --frames 0 --compare-dtype bf16,int8 --compare-frames 64 -q \
    -o "$OUTDIR/fidelity_random.md" && grep -A12 '^fidelity' "$OUTDIR/fidelity_random.md" || note "fidelity (random): FAILED"; }
  timeout 100 $B/heartmula-bench --device cuda --model-path $CK --frames 0 --positions 200 --compare-dtype bf16,int8 \
    --compare-frames 64 -q -o "$OUTDIR/fidelity_tiny.md" && grep -A12 '^fidelity' "$OUTDIR/fidelity_tiny.md" \
    || note "fidelity (tiny): FAILED"
  for v in cpu cuda cuda_nofuse:HEARTMULA_INT8_FUSION=0 cuda_normglu:HEARTMULA_INT8_FUSION=norm,glu cuda_pdl:HEARTMULA_PDL=1; do
    name=${v%%:*}; envs=(); [[ "$v" == *:* ]] && envs=("${v#*:}")
    env "${envs[@]}" $B/heartmula-gen --model-path $CK --tags "Piano,Happy" --lyrics /tmp/lyrics.txt --topk 1 --cfg-scale 1.5 \
      --device ${name%%_*} --mula-dtype int8 --codes-out $W/int8_$name.safetensors --no-audio --seed 1 --quiet --ignore-eos \
      --max-audio-length-ms 5040 || note "gen int8 $name: FAILED"
  done
  # Sampled (top-k 50) int8 frames: the fused kernels and PDL must give the unfused path's frames exactly.
  for v in unfused:HEARTMULA_INT8_FUSION=0 glu normglu:HEARTMULA_INT8_FUSION=norm,glu pdl:HEARTMULA_PDL=1; do
    name=${v%%:*}; envs=(); [[ "$v" == *:* ]] && envs=("${v#*:}")
    env "${envs[@]}" $B/heartmula-gen --model-path $CK --tags "Piano,Happy" --lyrics /tmp/lyrics.txt --topk 50 --cfg-scale 1.5 \
      --device cuda --mula-dtype int8 --codes-out $W/int8s_$name.safetensors --no-audio --seed 7 --quiet --ignore-eos \
      --max-audio-length-ms 16000 || note "gen int8 sampled $name: FAILED"
  done
  python3 - <<'PY' | tee /tmp/int8_parity.txt
import torch
from safetensors.torch import load_file
try:
    a = load_file("/tmp/hm/int8_cpu.safetensors")["frames"]; b = load_file("/tmp/hm/int8_cuda.safetensors")["frames"]
    n = min(a.shape[0], b.shape[0]); eq = (a[:n] == b[:n])
    print(f">>> int8 tiny greedy cfg 1.5, cuda vs cpu: {n} frames, agreement {eq.float().mean().item():.3f}"
          + ("" if eq.all() else f", first difference at frame {int((~eq.all(1)).nonzero()[0])}"))
except Exception as e:
    print(f">>> int8 tiny cuda vs cpu: missing ({e})")
for ref, others in (("int8_cuda_nofuse", ("int8_cuda", "int8_cuda_normglu", "int8_cuda_pdl")),
                    ("int8s_unfused", ("int8s_glu", "int8s_normglu", "int8s_pdl"))):
    for o in others:
        try:
            a = load_file(f"/tmp/hm/{ref}.safetensors")["frames"]; b = load_file(f"/tmp/hm/{o}.safetensors")["frames"]
            same = a.shape == b.shape and bool((a == b).all())
            print(f">>> int8 tiny {o} vs {ref}: {'EQUAL' if same else 'DIFFERENT'} ({b.shape[0]} vs {a.shape[0]} frames)")
        except Exception as e:
            print(f">>> int8 tiny {o} vs {ref}: missing ({e})")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/int8_parity.txt)
fi

# 8. Memory: a 4-minute song (3000 frames, cfg 1.5, bf16 LM, --codec-dtype auto) at the real
#    shapes on random weights built on the device (no checkpoint), without and with lazy load:
#    seconds and peak device memory per phase, KV-cache bytes per minute of audio.
if want memory; then
  for dt in ${MEM_DTYPES:-bf16}; do
    timeout 400 $B/heartmula-bench --device cuda --dtype $dt --frames 0 --cfg 1.5 --song-seconds 240 \
      --song-lazy-load ${MEM_LAZY:-off,on} --json -o "$OUTDIR/bench_song_$dt.json" -q || note "song bench $dt: FAILED"
  done
  python3 - "$OUTDIR"/bench_song_*.json <<'PY' | tee /tmp/memory_summary.txt
import json, sys
rows = []
for f in sys.argv[1:]:
    try:
        rows += json.load(open(f))["rows"]
    except Exception as e:
        print(f">>> memory: no report in {f} ({e})")
G = 1e9
for r in rows:
    if r.get("test") != "song": continue
    print(f">>> song {r['song_seconds']:.0f} s, lazy load {'on' if r['lazy_load'] else 'off'} (LM {r['lm_dtype']}, codec {r['codec_dtype']}): "
          f"total {r['total_seconds']:.1f} s = LM load {r['lm_load_seconds']:.1f} + frames {r['lm_seconds']:.1f} "
          f"({r['frames_per_second']:.0f}/s) + codec load {r['codec_load_seconds']:.1f} + codec {r['codec_seconds']:.2f} + MP3 {r['mp3_seconds']:.1f}; "
          f"peak GB: LM {r['peak_lm_bytes']/G:.2f}, codec {r['peak_codec_bytes']/G:.2f}, overall {r['peak_bytes']/G:.2f} "
          f"(freed {r['lazy_freed_bytes']/G:.2f}); KV cache {r['kv_cache_bytes_per_minute']/G:.3f} GB/min")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/memory_summary.txt)
fi

# 8b. The song's wall time as a person sees it (scripts/wall-time.sh, issue #20) on the real-size random
#     checkpoint (/tmp/rckpt, made once): bf16 and int8, 30 s and 240 s songs; the quantized checkpoint
#     (heartmula-quantize) against quantizing at load, cold page cache; int8 240 s songs with and
#     without lazy load (peak memory).
if want walltime; then
  t0=$(date +%s)
  [ -f /tmp/rckpt/HeartMuLa-oss-3B/config.json ] || $B/make-random-checkpoint --out /tmp/rckpt --size real --what all \
    --tokenizer .cache/llama3/tokenizer.json >"$OUTDIR/mkckpt_all.log" 2>&1 || note "make-random-checkpoint (all): FAILED"
  cp .cache/llama3/tokenizer.json /tmp/rckpt/tokenizer.json 2>/dev/null || true
  note "random real-size checkpoint: $(( $(date +%s) - t0 )) s, $(du -sh /tmp/rckpt | cut -f1)"
  # Variants NAME[:ENV=VALUE], NAME's part before "-" the dtype (e.g. "bf16-serial:HEARTMULA_SERIAL_LOAD=1").
  for v in ${WALL_DTYPES:-bf16 int8}; do
    name=${v%%:*}; envs=(); [[ "$v" == *:* ]] && envs=("${v#*:}"); dt=${name%%-*}
    env "${envs[@]}" HEARTMULA_GEN=$B/heartmula-gen WALL_TIME_DIR=/tmp/wall_$name DURATIONS="${WALL_DURATIONS:-30 240}" \
      timeout 240 bash scripts/wall-time.sh /tmp/rckpt cuda $dt >"$OUTDIR/wall_time_$name.txt" 2>&1 \
      && { echo "--- wall time, $name"; cat "$OUTDIR/wall_time_$name.txt"; \
           note "wall time $name: $(grep 'whole process' "$OUTDIR/wall_time_$name.txt" | tr -s ' ')"; } \
      || { note "wall time $name: FAILED"; tail -5 "$OUTDIR/wall_time_$name.txt"; }
  done
  [ "${WALL_QUANTIZE:-1}" = 1 ] && {
  t0=$(date +%s)
  rm -rf /tmp/qckpt
  if timeout 200 $B/heartmula-quantize --model-path /tmp/rckpt --dtype int8 -o /tmp/qckpt >"$OUTDIR/quantize.log" 2>&1; then
    note "heartmula-quantize: $(( $(date +%s) - t0 )) s; $(du -sh /tmp/rckpt/HeartMuLa-oss-3B | cut -f1) -> $(du -shL /tmp/qckpt/HeartMuLa-oss-3B | cut -f1)"
    for d in $([ "${WALL_LOADBENCH:-1}" = 1 ] && echo qckpt rckpt); do
      timeout 200 $B/heartmula-bench --device cuda --dtype int8 --frames 0 --load /tmp/$d --load-cold --reps 2 \
        -o "$OUTDIR/load_int8_$d.md" -q && { echo "--- load int8 from /tmp/$d"; cat "$OUTDIR/load_int8_$d.md"; } \
        || note "load bench int8 /tmp/$d: FAILED"
    done
    # The whole process on the quantized checkpoint (a quarter of the bytes to load).
    HEARTMULA_GEN=$B/heartmula-gen WALL_TIME_DIR=/tmp/wall_q DURATIONS="${WALL_DURATIONS:-30 240}" \
      timeout 240 bash scripts/wall-time.sh /tmp/qckpt cuda int8 >"$OUTDIR/wall_time_int8_quantized.txt" 2>&1 \
      && { echo "--- wall time, int8 from the quantized checkpoint"; cat "$OUTDIR/wall_time_int8_quantized.txt"; \
           note "wall time int8, quantized checkpoint: $(grep 'whole process' "$OUTDIR/wall_time_int8_quantized.txt" | tr -s ' ')"; } \
      || { note "wall time int8 quantized: FAILED"; tail -5 "$OUTDIR/wall_time_int8_quantized.txt"; }
  else note "heartmula-quantize: FAILED"; tail -5 "$OUTDIR/quantize.log"; fi
  }
  for v in ${WALL_SONGS-int8}; do
    name=${v%%:*}; envs=(); [[ "$v" == *:* ]] && envs=("${v#*:}")
    env "${envs[@]}" timeout 200 $B/heartmula-bench --device cuda --dtype int8 --frames 0 --cfg 1.5 --song-seconds 240 \
      --song-lazy-load $([ $name = int8 ] && echo off,on || echo on) --json -o "$OUTDIR/song_$name.json" -q \
      || note "song bench $name: FAILED"
    python3 - "$OUTDIR/song_$name.json" "$name" <<'PY' | tee -a /tmp/walltime_summary.txt
import json, sys
try:
    for r in json.load(open(sys.argv[1]))["rows"]:
        if r.get("test") == "song":
            print(f">>> song 240 s {sys.argv[2]}, lazy load {'on' if r['lazy_load'] else 'off'}: frames {r['lm_seconds']:.2f} s "
                  f"({r['frames_per_second']:.1f}/s), total {r['total_seconds']:.1f} s, peak {r['peak_bytes']/1e9:.2f} GB")
except Exception as e:
    print(f">>> song {sys.argv[2]}: no report ({e})")
PY
  done
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/walltime_summary.txt 2>/dev/null)
fi

# 8c. Several devices on one GPU (issue #21): --device cuda:0,cuda:0 (two workers, each with its own
#     model copy, frame loop, graphs and codec worker) against --device cuda on the tiny checkpoint:
#     the same songs byte for byte (audio and codes), each song reported once with its worker.
if want multi; then
  # Two workers on one GPU against one device with the same groups (--batch-size 3: songs 1-3 and
  # 4-6 on either), which must give the same bytes; and against one batch of 6, which may differ
  # (cuBLAS picks its bf16 GEMM kernel by the row count: docs/usage.md).
  multi_run() {  # NAME DEVICE [EXTRA...]
    local name=$1 dev=$2 d=/tmp/multi_$1; shift 2; rm -rf $d; mkdir -p $d
    timeout 200 $B/heartmula-gen --model-path $CK --device $dev --tags "Piano,Happy" --lyrics /tmp/lyrics.txt \
      --ignore-eos --duration 4 --codec-steps 2 --seed 21 --num-songs 6 "$@" -o $d/x.wav --codes-out $d/x.safetensors \
      --json >$d/report.jsonl 2>$d/stderr.txt || { note "multi $name ($dev $*): FAILED"; tail -5 $d/stderr.txt; }
  }
  multi_run one6 cuda
  multi_run two cuda:0,cuda:0 --batch-size 3
  multi_run one3 cuda --batch-size 3
  python3 - <<'PY' | tee /tmp/multi_summary.txt
import glob, json, os
from safetensors.torch import load_file
def compare(a, b, what):
    files = sorted(os.path.basename(f) for f in glob.glob(a + "/*.wav") + glob.glob(a + "/*.safetensors"))
    same = [f for f in files if os.path.exists(f"{b}/{f}") and open(f"{a}/{f}", "rb").read() == open(f"{b}/{f}", "rb").read()]
    detail = []
    for f in files:
        if f in same or not f.endswith(".safetensors"): continue
        try:
            x = load_file(f"{a}/{f}")["frames"]; y = load_file(f"{b}/{f}")["frames"]; n = min(len(x), len(y))
            d = (x[:n] != y[:n]).any(1).nonzero()
            detail.append(f"{f}: codes from frame {int(d[0]) if len(d) else n} of {n}")
        except Exception as e:
            detail.append(f"{f}: {e}")
    wav_diff = [f for f in files if f.endswith(".wav") and f not in same]
    print(f">>> multi {what}: {len(same)} of {len(files)} files equal ({'EQUAL' if files and len(same) == len(files) else 'DIFFERENT'})"
          + (f"; differ: {'; '.join(detail)}; wav {', '.join(wav_diff)}" if detail or wav_diff else ""))
try:
    devs = [json.loads(l).get("device") for l in open("/tmp/multi_two/report.jsonl") if l.startswith("{")]
    print(">>> multi cuda:0,cuda:0 songs per worker: " + ", ".join(f"{d}: {devs.count(d)}" for d in sorted(set(map(str, devs)))))
except Exception as e:
    print(f">>> multi: no report ({e})")
compare("/tmp/multi_one3", "/tmp/multi_two", "cuda:0,cuda:0 vs cuda, both --batch-size 3")
compare("/tmp/multi_one6", "/tmp/multi_one3", "info: cuda, one batch of 6 vs --batch-size 3 (batch shape)")
PY
  while read -r l; do summary+=("${l#>>> }"); done < <(grep '^>>>' /tmp/multi_summary.txt)
fi

# 9. GPU evidence (verify): every CUDA test binary, then the dated table of pass/fail per check.
if want verify; then
  source scripts/gpu-verify.sh
  gpu_verify_report "$OUTDIR/gpu-verification.md"
fi

echo; echo "=== summary ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)) ==="
for l in "${summary[@]}"; do echo "$l"; done
