// Plain-pointer launchers of the fused kernels (fused_kernels.cu, compiled by nvcc without
// LibTorch headers). dtype: 0 float32, 1 bfloat16, 2 float16. Return a cudaError_t value.
#pragma once

#include <cstdint>

namespace heartmula::model::cuda {

int launch_rms_norm(int dtype, const void* x, const void* scale, void* out, int64_t rows, int64_t d,
                    float eps, void* stream);
int launch_rope_qk(int dtype, void* qkv, const float* cos, const float* sin, int64_t rows, int64_t row_stride,
                   int64_t heads, int64_t half, void* stream);

}  // namespace heartmula::model::cuda
