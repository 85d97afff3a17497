// Plain-pointer launcher of the scalar decoder's fused elementwise kernel (decoder_kernels.cu,
// compiled by nvcc without LibTorch headers; codec/cuda/fused_ops_cuda.cpp checks the tensors
// and calls it). dtype: 0 float32, 1 bfloat16, 2 float16 (model/cuda/dtype_code.h). Launches on
// `stream`; returns a cudaError_t value, or -1 when the sizes do not suit (the caller then runs
// the composite ATen code).
#pragma once

#include <cstdint>

namespace heartmula::codec::cuda {

// In place on x (n elements of `dtype`, dense in memory), element i of channel
// c = (i / inner) % channels (inner 1: channels innermost, as channels-last [1, C, 1, L]; inner L:
// [B, C, L] contiguous):
//   v = T(x + bias[c])            (skipped when bias is null)
//   v = v > 0 ? v : T(slope * v)  (slope: one element on the device)
//   x = T(v + residual[i])        (skipped when residual is null; same layout as x)
// with the composite's roundings (float math, one rounding to T per step).
int launch_bias_prelu(int dtype, void* x, const void* bias, const void* slope, const void* residual, int64_t n,
                      int64_t channels, int64_t inner, void* stream);

}  // namespace heartmula::codec::cuda
