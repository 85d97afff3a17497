#!/usr/bin/env bash
# GPU evidence for docs/gpu-verification.md, on the GPU machine:
#   scripts/gpu-verify.sh            (the same as scripts/device-check.sh verify)
# builds build-device, runs the CPU tiers on LibTorch 2.x (ctest), the greedy parity of the tiny
# checkpoint on CUDA against the reference fixtures (fp32, bf16), the CUDA-graphs-vs-eager
# comparisons, and every CUDA test binary of build-device (test_cuda_kernels, test_codec_convt_cuda,
# ...), then writes a dated markdown table (date, card, commit, pass/fail per check) to
# $OUT/gpu-verification.md. Copy its table into docs/gpu-verification.md by hand.
#
# device-check.sh sources this file for its `verify` part and calls gpu_verify_report with its
# summary lines in the array `summary`.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  exec bash "$(dirname "$0")/device-check.sh" verify
fi

# One table row per check: "| check | PASS / FAIL / info | detail |".
gpu_verify_rows=()
gpu_verify_failed=0
gpu_verify_row() {  # RESULT CHECK DETAIL
  [ "$1" = FAIL ] && gpu_verify_failed=$((gpu_verify_failed + 1))
  gpu_verify_rows+=("| $2 | $1 | ${3//|/\\|} |")
}

# Pass/fail of one device-check summary line.
gpu_verify_classify() {
  local l="$1" name="${1%%:*}"
  case "$l" in
    *FAILED*|*missing*|*"no report"*) gpu_verify_row FAIL "$name" "$l" ;;
    "ctest "*) gpu_verify_row PASS "$name" "$l" ;;
    "LM "*" cuda fp32:"*EQUAL*) gpu_verify_row PASS "$name" "${l#*: }" ;;
    "LM "*" cuda fp32:"*) gpu_verify_row FAIL "$name" "${l#*: }" ;;
    # bf16 greedy frames are not expected to equal fp32's reference code for code: reported only.
    "LM "*" cuda bf16:"*) gpu_verify_row info "$name" "${l#*: }" ;;
    "codec "*"cuda vs cpu max rel"*)
      local rel; rel=$(sed -E 's/.*cuda vs cpu max rel ([0-9.e+-]+).*/\1/' <<<"$l")
      if awk -v r="$rel" 'BEGIN { exit !(r + 0 <= 1e-3) }'; then gpu_verify_row PASS "$name" "${l#*: }"
      else gpu_verify_row FAIL "$name" "${l#*: } (over 1e-3)"; fi ;;
    "graphs vs eager"*EQUAL*) gpu_verify_row PASS "$name" "${l#*: }" ;;
    "graphs vs eager"*) gpu_verify_row FAIL "$name" "${l#*: }" ;;
    "fused kernels vs composite"*) gpu_verify_row info "$name" "${l#*: }" ;;
    "int8 tiny "*" vs "*EQUAL*) gpu_verify_row PASS "$name" "${l#*: }" ;;
    "int8 tiny "*" vs "*DIFFERENT*) gpu_verify_row FAIL "$name" "${l#*: }" ;;
    "multi info:"*) gpu_verify_row info "multi (batch shape)" "${l#*: }" ;;
    "multi "*" vs "*EQUAL*) gpu_verify_row PASS "multi (same groups)" "${l#multi }" ;;
    "multi "*" vs "*DIFFERENT*) gpu_verify_row FAIL "multi (same groups)" "${l#multi }" ;;
    "build: ok"*) gpu_verify_row PASS "build (build-device)" "$l" ;;
    *) gpu_verify_row info "$name" "$l" ;;
  esac
}

# Runs the CUDA test binaries and writes the report to $1.
gpu_verify_report() {
  local out="$1" bin log res detail
  for l in "${summary[@]+"${summary[@]}"}"; do gpu_verify_classify "$l"; done
  local bins=()
  while IFS= read -r bin; do bins+=("$bin"); done < <(find build-device/tests -type f -perm -u+x -name 'test_*cuda*' | sort)
  [ ${#bins[@]} -eq 0 ] && gpu_verify_row FAIL "CUDA test binaries" "none found under build-device/tests (CUDA build?)"
  for bin in "${bins[@]+"${bins[@]}"}"; do
    log="$OUTDIR/$(basename "$bin").log"
    if timeout 600 "$bin" >"$log" 2>&1; then res=PASS; else res=FAIL; fi
    detail=$(grep -E '^\[  PASSED  \]|^\[  FAILED  \] [0-9]+ test|^\[  SKIPPED \] [0-9]+ test' "$log" | tr '\n' ' ')
    [ $res = FAIL ] && detail="$detail failed: $(grep -E '^\[  FAILED  \] [A-Za-z]' "$log" | sed 's/^\[  FAILED  \] //' | tr '\n' ' ')"
    [ -z "$detail" ] && detail="no gtest summary (crashed or timed out?), see $(basename "$log")"
    note "$(basename "$bin"): $res $detail"
    gpu_verify_row $res "$(basename "$bin")" "$detail"
  done
  local card commit
  card=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
  commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo " (with uncommitted changes)")
  {
    echo "### $(date -u '+%Y-%m-%d %H:%M UTC') — ${card:-no nvidia-smi} — commit ${commit:-unknown}"
    echo
    echo "Made by \`scripts/device-check.sh verify\`; ${#gpu_verify_rows[@]} checks, $gpu_verify_failed failed."
    echo
    echo "| check | result | detail |"
    echo "|---|---|---|"
    printf '%s\n' "${gpu_verify_rows[@]}"
  } >"$out"
  note "verify: $gpu_verify_failed of ${#gpu_verify_rows[@]} checks failed; report $out"
}
