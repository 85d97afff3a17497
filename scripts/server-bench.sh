#!/usr/bin/env bash
# Songs per hour through heartmula-server with 1, 4 and 16 concurrent clients, against the same
# songs through `heartmula-gen --batch` (--batch-size 1, 4, 16) on this machine, and the first
# audio byte's latency for one client. Prints a table (docs/server.md). Needs curl.
#
#   scripts/server-bench.sh --model-path ./ckpt [--songs 16] [--duration 30] [--bin build/tools]
#                           [-- extra options for both binaries, e.g. --device cuda --mula-dtype bf16]
set -euo pipefail

MODEL=""
SONGS=16
DURATION=30
BIN=build/tools
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model-path) MODEL=$2; shift 2 ;;
    --songs) SONGS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "$MODEL" ]] || { echo "usage: $0 --model-path CKPT [--songs N] [--duration S] [--bin DIR] [-- OPTIONS]" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() { [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
lyrics() { printf '[Verse]\\nSong number %d walks along the river\\n[Chorus]\\nLa la la' "$1"; }

# The same songs for both: seeds 1..N, one lyric each, the same tags and length.
for i in $(seq 1 "$SONGS"); do
  printf '{"lyrics": "%s", "tags": "piano,happy", "seed": %d, "max_audio_length_ms": %d}\n' \
    "$(lyrics "$i")" "$i" "$((DURATION * 1000))"
done > "$WORK/songs.jsonl"

declare -A GEN SRV
for c in 1 4 16; do
  rm -rf "$WORK/gen" && mkdir -p "$WORK/gen"
  t0=$(now)
  "$BIN/heartmula-gen" --model-path "$MODEL" "${EXTRA[@]}" --batch "$WORK/songs.jsonl" --batch-size "$c" \
    -o "$WORK/gen/" -q
  GEN[$c]=$(calc "$SONGS / ($(now) - $t0) * 3600")
done

"$BIN/heartmula-server" --model-path "$MODEL" "${EXTRA[@]}" --port 0 --max-batch 16 --max-queue "$SONGS" \
  --output-dir "$WORK/srv" -q > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 600); do
  URL=$(grep -o 'http://[0-9.:]*' "$WORK/server.out" || true)
  [[ -n "$URL" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; exit 1; }
  sleep 0.5
done
[[ -n "$URL" ]] || { echo "the server did not start" >&2; exit 1; }

# One client: posts song $1, waits until it is done, downloads it.
one_song() {
  local id state
  id=$(curl -sf -X POST "$URL/v1/songs" -H 'Content-Type: application/json' \
         -d "$(sed -n "${1}p" "$WORK/songs.jsonl")" | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
  while :; do
    state=$(curl -sf "$URL/v1/songs/$id" | grep -o '"state":"[a-z]*"' | cut -d'"' -f4)
    [[ "$state" == done ]] && break
    [[ "$state" == queued || "$state" == running ]] || { echo "song $1: $state" >&2; return 1; }
    sleep 0.2
  done
  curl -sf -o "$WORK/srv-$1.mp3" "$URL/v1/songs/$id/audio"
}

for c in 1 4 16; do
  t0=$(now)
  for k in $(seq 0 $((c - 1))); do
    ( for i in $(seq $((k + 1)) "$c" "$SONGS"); do one_song "$i"; done ) &
  done
  wait $(jobs -p | grep -v "^$SERVER_PID$")
  SRV[$c]=$(calc "$SONGS / ($(now) - $t0) * 3600")
done

# First audio byte for one client: from the POST to the first byte of the audio itself (the body
# of GET .../audio: 409 while the song waits for the worker, then streamed as the codec delivers
# it). curl's time_starttransfer would time the response's headers, which come at once.
t0=$(now)
id=$(curl -sf -X POST "$URL/v1/songs" -H 'Content-Type: application/json' -d "$(sed -n 1p "$WORK/songs.jsonl")" |
       grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
for _ in $(seq 1 6000); do
  got=$(set +o pipefail; curl -sfN "$URL/v1/songs/$id/audio" 2>/dev/null | head -c 1 | wc -c)
  [[ "$got" == 1 ]] && break
  sleep 0.05
done
[[ "$got" == 1 ]] || { echo "no audio for the latency song after 5 minutes" >&2; exit 1; }
FIRST=$(calc "$(now) - $t0")

printf '\n%d songs of %d s (%s)\n' "$SONGS" "$DURATION" "${EXTRA[*]:-default options}"
printf '%-10s %22s %22s\n' clients "heartmula-server s/h" "heartmula-gen --batch s/h"
for c in 1 4 16; do printf '%-10s %22.1f %22.1f\n' "$c" "${SRV[$c]}" "${GEN[$c]}"; done
printf 'heartmula-gen includes loading the model each run; the server loaded it once before.\n'
printf 'first audio byte, one client: %.2f s after the POST\n' "$FIRST"
