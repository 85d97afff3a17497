// Which fused kernel or fallback ran: one counter pair per fused-op dispatch point (a fused CUDA
// kernel where it applies, else the composite ATen code). The dispatchers record each choice
// (one relaxed atomic add); heartmula-bench's report header and heartmula-gen --verbose print
// the result. Counts are host-side dispatches: a replayed CUDA graph re-runs what its capture
// recorded without counting again.
#pragma once

#include <cstdint>
#include <string>

namespace heartmula::io {

enum class KernelPath : int {
  kLmRmsNorm,           // model: RMSNorm
  kLmAddRmsNorm,        // model: residual add + RMSNorm
  kLmSiluMul,           // model: SiLU(gate) * up
  kLmRopeCache,         // model: RoPE + KV-cache write in one kernel
  kLmRope,              // model: RoPE in place (when the cache write did not fuse)
  kLmAttention,         // model: single-query attention over the KV cache
  kInt8Linear,          // model: int8 weights x bf16 activations
  kInt8Fused,           // model: the int8 product with its RMSNorm / residual add fused
  kInt8Glu,             // model: the int8 w13 product with SiLU·mul in its epilogue
  kSampler,             // runtime: CFG + top-k sampling of a codebook
  kCodecModRmsNorm,     // codec DiT: modulated RMSNorm
  kCodecGatedResidual,  // codec DiT: gated residual (+ the next modulated RMSNorm where it fuses)
  kCodecSiluMul,        // codec DiT: SiLU(gate) * up
  kCodecRope,           // codec DiT: RoPE on q and k
  kCodecBiasPrelu,      // codec decoder: bias + PReLU (+ residual)
  kCodecConv64,         // codec decoder: the 64-channel residual unit
  kCodecPointwise,      // codec decoder: the 128-channel unit's pointwise half
  kCodecPostOut64,      // codec decoder: PostProcessor + output conv
  kCount
};

const char* kernel_path_name(KernelPath p);

// Records one dispatch of p: `fused` true when the fused kernel ran. Returns `fused`, so that a
// dispatcher reads `if (record_path(KernelPath::kX, fused_x(...))) return out;`.
bool record_path(KernelPath p, bool fused);

struct PathCounts {
  uint64_t fused = 0, fallback = 0;
};
PathCounts path_counts(KernelPath p);
void reset_path_counts();  // for tests

// "name: fused N, fallback M" per path that ran at least once, joined by `separator`; "none" if
// nothing ran.
std::string describe_paths(const std::string& separator = "\n");

}  // namespace heartmula::io
