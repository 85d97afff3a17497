#!/usr/bin/env bash
# The song's wall time as a person sees it: heartmula-gen from exec to exit, for a 30-second and
# a 4-minute song, broken down into its phases (docs/performance.md, "Wall time").
#
#   scripts/wall-time.sh MODEL_PATH [DEVICE [DTYPE [EXTRA FLAGS...]]]
#
#   MODEL_PATH  checkpoint folder (HeartMuLa-oss-3B/, HeartCodec-oss/, tokenizer.json, gen_config.json)
#   DEVICE      --device (default auto)
#   DTYPE       --mula-dtype (default: heartmula-gen's own; "" for the same)
#   EXTRA       any further heartmula-gen flags (e.g. --no-stream, --codec-steps 1, --threads 2)
#
# Environment: HEARTMULA_GEN (the binary; default build/tools/heartmula-gen, then the PATH),
# DURATIONS (seconds of each song; default "30 240"), WALL_TIME_DIR (where songs and reports go;
# default a fresh temp folder, kept). Each song is one process, --ignore-eos (the full length),
# seed 1, MP3 output; the wall time is taken around the process (date before exec, after exit),
# the phases from its --json report (Timings: process_s, setup_s, device_init_s, lm_load_s,
# codec_load_s, prompt_s, graph_capture_s, frames_s, after_frames_s, reported_at_s).
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
model=$1
device=${2:-auto}
dtype=${3:-}
shift $(($# < 3 ? $# : 3))

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${HEARTMULA_GEN:-}
if [ -z "$bin" ]; then
  if [ -x "$root/build/tools/heartmula-gen" ]; then bin="$root/build/tools/heartmula-gen"
  else bin=$(command -v heartmula-gen || true); fi
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "wall-time.sh: no heartmula-gen (set HEARTMULA_GEN)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "wall-time.sh: python3 is needed for the table" >&2; exit 2; }
out=${WALL_TIME_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/wall-time.XXXXXX")}
mkdir -p "$out"
durations=${DURATIONS:-"30 240"}

args=(--model-path "$model" --device "$device" --ignore-eos --seed 1 --json --quiet --overwrite)
[ -n "$dtype" ] && args+=(--mula-dtype "$dtype")

reports=()
for d in $durations; do
  json="$out/song-${d}s.report.json"
  t0=$(date +%s.%N)
  if ! "$bin" "${args[@]}" --duration "$d" -o "$out/song-${d}s.mp3" "$@" >"$json" 2>"$out/song-${d}s.stderr"; then
    echo "wall-time.sh: heartmula-gen failed for --duration $d (see $out/song-${d}s.stderr):" >&2
    tail -5 "$out/song-${d}s.stderr" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  reports+=("$d" "$json" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')")
done

echo "heartmula-gen: $bin"
echo "command: ${args[*]} --duration D -o SONG.mp3 $*"
echo "songs and reports: $out"
python3 - "${reports[@]}" <<'EOF'
import json, sys

runs = []
a = sys.argv[1:]
for i in range(0, len(a), 3):
    with open(a[i + 1]) as f:
        lines = [l for l in f.read().splitlines() if l.startswith("{")]
    t = json.loads(lines[-1])["timings"]
    runs.append((a[i], t, float(a[i + 2])))

def g(t, k):
    return float(t.get(k, 0) or 0)

# Phases in the order they happen; together with "between phases" and "exit" they make the
# measured wall time.
rows = [
    ("process start -> main()", lambda t, w: g(t, "process_s")),
    ("options, checks, tokenizer", lambda t, w: g(t, "setup_s")),
    ("device context", lambda t, w: g(t, "device_init_s")),
    ("LM load", lambda t, w: g(t, "lm_load_s")),
    ("codec load", lambda t, w: g(t, "codec_load_s")),
    ("prompt (prefill, frame 0)", lambda t, w: g(t, "prompt_s")),
    ("graph captures", lambda t, w: g(t, "graph_capture_s")),
    ("frames (rest of the loop)", lambda t, w: g(t, "frames_s") - g(t, "graph_capture_s")),
    ("after the last frame", lambda t, w: g(t, "after_frames_s")),
]
def measured(t):
    return g(t, "process_s") + g(t, "setup_s") + g(t, "load_s") + g(t, "prompt_s") + g(t, "frames_s") + g(t, "after_frames_s")
rows += [
    ("between phases", lambda t, w: g(t, "reported_at_s") - measured(t)),
    ("report, exit", lambda t, w: w - g(t, "reported_at_s")),
    ("whole process (measured)", lambda t, w: w),
]
info = [
    ("  load_s (device + LM + codec)", "load_s"),
    ("  codec, all windows", "codec_s"),
    ("  encode, all windows", "encode_s"),
    ("  codec warm-up beside the loop", "codec_warmup_s"),
    ("  first audio after loading", "first_audio_s"),
    ("  frames", "frames"),
    ("  frames/s", "frames_per_s"),
]
head = "%-32s" % "seconds" + "".join("%14s" % ("--duration " + d) for d, _, _ in runs)
print(head)
print("-" * len(head))
for name, f in rows:
    if name == "whole process (measured)":
        print("-" * len(head))
    print("%-32s" % name + "".join("%14.3f" % f(t, w) for _, t, w in runs))
print("of which (codec and encode run beside the loop when streamed):")
for name, k in info:
    fmt = "%14d" if k == "frames" else "%14.3f"
    print("%-32s" % name + "".join(fmt % g(t, k) for _, t, _ in runs))
EOF
