// Plain-pointer launchers of the fused kernels (fused_kernels.cu, compiled by nvcc without
// LibTorch headers). dtype: 0 float32, 1 bfloat16, 2 float16. Return a cudaError_t value.
#pragma once

#include <cstdint>

namespace heartmula::model::cuda {

int launch_rms_norm(int dtype, const void* x, const void* scale, void* out, int64_t rows, int64_t d, float eps,
                    void* stream);
int launch_rope_qk(int dtype, void* qkv, const float* cos, const float* sin, int64_t rows, int64_t row_stride,
                   int64_t heads, int64_t half, void* stream);

// sum = x + y (y may be null: plain RMSNorm; sum_out may be null: not stored), out = RMSNorm(sum).
// Returns -1 when d does not suit the vectorised kernel (the caller falls back).
int launch_add_rms_norm(int dtype, const void* x, const void* y, const void* scale, void* sum_out, void* out,
                        int64_t rows, int64_t d, float eps, void* stream);
// out [rows, f] = silu(gu[:, :f]) * gu[:, f:], gu [rows, 2f].
int launch_silu_mul(int dtype, const void* gu, void* out, int64_t rows, int64_t f, void* stream);
// RoPE on the q and k heads of qkv in place, and k/v written to the caches at slots[s].
int launch_rope_qk_cache(int dtype, void* qkv, const float* cos, const float* sin, const int64_t* slots, void* k_cache,
                         void* v_cache, int64_t batch, int64_t seq, int64_t heads, int64_t kv_heads, int64_t half,
                         int64_t max_len, void* stream);

}  // namespace heartmula::model::cuda
