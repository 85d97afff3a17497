// Plain-pointer launcher of the 8-bit weight GEMM of the frame loop (int8_linear.cu, compiled by
// nvcc without LibTorch headers). Returns a cudaError_t value, or -1 when the shape is not one
// the kernel takes (the caller falls back to dequantize + matmul).
#pragma once

#include <cstdint>

namespace heartmula::model::cuda {

// The most rows (M) the skinny kernel takes: one song with CFG is 2, sixteen songs with CFG 32,
// the depth decoder's first step of sixteen songs with CFG 64. One pass over the weights takes
// up to 32 rows; 33..64 rows take two.
constexpr int64_t kInt8LinearMaxRows = 64;

// out[m, n] = bf16( scale[n] * sum_k x[m, k] * q[n, k] ) for m < rows, n < n_out.
// x [rows, k] bfloat16 (row stride k), q [n_out, k] int8 row-major, scale [n_out] float32,
// out [rows, n_out] bfloat16. Needs k % 64 == 0, every pointer 16-byte aligned, rows <= 64.
int launch_int8_linear(const void* x, const int8_t* q, const float* scale, void* out, int64_t rows, int64_t n_out,
                       int64_t k, void* stream);

}  // namespace heartmula::model::cuda
