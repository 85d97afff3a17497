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

// What the kernel does to the activations before the product.
enum class Int8Prologue {
  None,     // x [rows, k]
  RmsNorm,  // x [rows, k] -> T(T(x * rsqrt(mean(x^2) + eps)) * norm_weight): fused_kernels.cu's
            // add_rms_norm output, element for element (same float operations, same order)
};

// The product with its neighbours fused (each combination the frame step has):
// RmsNorm -> product (qkv, w13), product + residual (wo, w2), product -> silu·mul (w13, `glu`).
// With `residual` [rows, n_out] bf16: out = T(T(product) + residual), the residual add of
// add_rms_norm (bit for bit). `pdl`: launched with programmatic stream serialization (sm_90):
// the weights' first loads start while the previous kernel finishes.
struct Int8LinearArgs {
  const void* x = nullptr;
  const int8_t* q = nullptr;
  const float* scale = nullptr;
  void* out = nullptr;
  int64_t rows = 0, n_out = 0, k = 0;
  Int8Prologue prologue = Int8Prologue::None;
  const void* norm_weight = nullptr;  // RmsNorm: [k] bf16
  float eps = 0.f;
  const void* residual = nullptr;  // [rows, n_out] bf16, or null
  // GLU epilogue (w13 of the MLP): q [2 n_out, k] = gate rows then up rows, scale [2 n_out];
  // out[m, n] = T(T(silu(gate[m, n])) * up[m, n]) with gate and up the bf16 products the plain
  // kernel writes: silu_mul_kernel after the product, bit for bit. Not with a residual.
  bool glu = false;
  bool pdl = false;
};
// -1 when the kernel does not take these arguments (the caller runs the unfused sequence).
int launch_int8_linear(const Int8LinearArgs& args, void* stream);

}  // namespace heartmula::model::cuda
