// Plain-pointer launchers of the DiT block's fused kernels (dit_kernels.cu, compiled by nvcc
// without LibTorch headers; codec/cuda/fused_ops_cuda.cpp checks the tensors and calls them).
// dtype: 0 float32, 1 bfloat16, 2 float16 (io/cuda/dtype_code.h). Each launches on `stream`
// and returns a cudaError_t value, or -1 when the shape/alignment does not suit the kernel (the
// caller then runs the composite ATen code).
#pragma once

#include <cstdint>

namespace heartmula::codec::cuda {

// out[r, :] = T((w * (x[r] * rsqrt(mean(x[r]^2) + eps))) * (1 + scale) + shift), float32 math,
// with shift = mod[b, shift_row, :], scale = mod[b, scale_row, :], b = r / seq.
// x float32 [rows, d], w float32 [d], mod float32 [rows / seq, mod_rows, d]; d % 4 == 0.
int launch_modulated_rms_norm(int out_dtype, const float* x, const float* w, const float* mod, void* out, int64_t rows,
                              int64_t seq, int64_t d, int64_t mod_rows, int64_t shift_row, int64_t scale_row, float eps,
                              void* stream);

// Both in one pass: x_out = x + gate_mod[b, gate_row, :] * float(y) as launch_gated_residual
// (x_out may be x), then out = the modulated RMSNorm of x_out as launch_modulated_rms_norm; y and
// out in `dtype`; gate_mod and mod both [rows / seq, mod_rows, d]. Bit for bit the two launches.
int launch_gated_residual_rms_norm(int dtype, const float* x, float* x_out, const float* gate_mod, int64_t gate_row,
                                   const void* y, const float* w, const float* mod, void* out, int64_t rows,
                                   int64_t seq, int64_t d, int64_t mod_rows, int64_t shift_row, int64_t scale_row,
                                   float eps, void* stream);

// out[r, :] = x[r, :] + mod[b, gate_row, :] * float(y[r, :]) (two roundings), b = r / seq.
// out may be x (in place). x, out float32 [rows, d]; y [rows, d] in y_dtype; d % 4 == 0.
int launch_gated_residual(int y_dtype, const float* x, float* out, const float* mod, const void* y, int64_t rows,
                          int64_t seq, int64_t d, int64_t mod_rows, int64_t gate_row, void* stream);

// out [rows, f] = T(T(silu(gu[:, :f])) * gu[:, f:]) for gu [rows, 2f].
int launch_silu_mul(int dtype, const void* gu, void* out, int64_t rows, int64_t f, void* stream);

// In place on qkv [batch * seq rows of row_stride elements]: heads 0..heads-1 (head_dim each,
// from the row start) become a*cos + swap_pairs(a)*sin with ATen's roundings, the table
// cos/sin [seq, head_dim] in the same dtype as qkv.
int launch_rope_heads(int dtype, void* qkv, const void* cos, const void* sin, int64_t rows, int64_t seq,
                      int64_t row_stride, int64_t heads, int64_t head_dim, void* stream);

}  // namespace heartmula::codec::cuda
