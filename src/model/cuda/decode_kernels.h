// Plain-pointer launchers of the decode-step kernels (decode_kernels.cu, nvcc, no LibTorch
// headers): single-query attention over the KV cache. dtype: 0 float32, 1 bfloat16, 2 float16.
// Return a cudaError_t value, or -1 when the sizes do not suit the kernel (the caller falls
// back to ATen).
#pragma once

#include <cstdint>

namespace heartmula::model::cuda {

// One query position per row: q [B, H, hd] (row b at q + b * q_batch_stride, heads hd apart),
// caches [B, Hkv, cache_len, hd] contiguous, attending over positions [0, kv_len) where
// mask[b * mask_batch_stride + j] is true (mask null: all). out [B, H, hd] contiguous.
// scratch: at least decode_attention_scratch_floats(B, H, hd, kv_len) floats.
// Head dims above 128 (the depth decoder's 384) take a kernel for a few positions: kv_len at most
// this (else -1).
constexpr int kDecodeAttentionShortMax = 32;
int64_t decode_attention_scratch_floats(int64_t batch, int64_t heads, int64_t head_dim, int64_t kv_len);
int launch_decode_attention(int dtype, const void* q, int64_t q_batch_stride, const void* k_cache, const void* v_cache,
                            const bool* mask, int64_t mask_batch_stride, void* out, float* scratch, int64_t batch,
                            int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t cache_len, int64_t kv_len,
                            float scale, void* stream);

}  // namespace heartmula::model::cuda
