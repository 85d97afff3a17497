// The int8 skinny GEMM (model/cuda/int8_linear.cu) against float64 on the dequantized weight,
// at every row count the frame loop has, every layer shape kind, odd feature counts and a poisoned
// output. Built only for CUDA LibTorch builds (tests/unit/cuda_kernels.cmake).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <vector>

#include "model/fused_ops.h"
#include "model/linear.h"

namespace heartmula {
namespace {

at::TensorOptions cuda(at::ScalarType t) { return at::TensorOptions().dtype(t).device(at::kCUDA); }

TEST(Int8LinearCuda, MatchesFloat64OnTheDequantizedWeight) {
  at::manual_seed(3);
  struct Shape { int64_t n, k; };
  // Real shapes (qkv, out, w13, w2, heads) and small odd ones: n not a multiple of 16, k = 64.
  for (Shape s : std::vector<Shape>{{5120, 3072}, {3072, 3072}, {3072, 8192}, {8256, 3072}, {37, 64}, {16, 128}, {1, 192}})
    for (int64_t rows : {1, 2, 3, 4, 8, 9, 16, 17, 24, 32, 33, 64}) {
      if (s.n * s.k > 3072 * 8192 && rows > 4) continue;  // keep the test short
      const model::Linear lin = model::quantize_int8(at::randn({s.n, s.k}, cuda(at::kFloat)).mul(0.02));
      const at::Tensor x = at::randn({rows, s.k}, cuda(at::kFloat)).to(at::kBFloat16);
      at::Tensor out;
      ASSERT_TRUE(model::fused_int8_linear(x, lin.weight, lin.scale, out)) << s.n << "x" << s.k << " rows " << rows;
      ASSERT_EQ(out.sizes(), (std::vector<int64_t>{rows, s.n}));
      ASSERT_EQ(out.scalar_type(), at::kBFloat16);
      const at::Tensor ref = at::matmul(x.to(at::kDouble), lin.dense(at::kDouble).t()).to(at::kCPU);
      const at::Tensor got = out.to(at::kCPU, at::kDouble);
      ASSERT_TRUE(at::isfinite(got).all().item<bool>());
      // One bf16 rounding of the result (2^-9 relative) plus float32 summation: per element.
      const double err = ((got - ref).abs() - ref.abs().mul(1.0 / 256)).max().item<double>();
      EXPECT_LE(err, 1e-4 * ref.abs().max().item<double>()) << s.n << "x" << s.k << " rows " << rows;
    }
}

TEST(Int8LinearCuda, LinearTakesTheKernelAndKeepsLeadingDims) {
  at::manual_seed(4);
  const model::Linear lin = model::quantize_int8(at::randn({300, 256}, cuda(at::kFloat)));
  const at::Tensor x = at::randn({2, 1, 256}, cuda(at::kFloat)).to(at::kBFloat16);
  const at::Tensor y = lin(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 1, 300}));
  // 65 rows: past the kernel, dequantize + matmul; the same function.
  const at::Tensor big = at::randn({65, 256}, cuda(at::kFloat)).to(at::kBFloat16);
  at::Tensor unused;
  EXPECT_FALSE(model::fused_int8_linear(big, lin.weight, lin.scale, unused));
  const at::Tensor yb = lin(big).to(at::kDouble), ref = at::matmul(big.to(at::kDouble), lin.dense(at::kDouble).t());
  EXPECT_LE(((yb - ref).abs() - ref.abs().mul(1.0 / 128)).max().item<double>(), 1e-3);
  // Shapes the kernel refuses: k not a multiple of 64, float32 activations, a transposed weight.
  const model::Linear odd = model::quantize_int8(at::randn({8, 100}, cuda(at::kFloat)));
  EXPECT_FALSE(model::fused_int8_linear(at::randn({2, 100}, cuda(at::kBFloat16)), odd.weight, odd.scale, unused));
  EXPECT_FALSE(model::fused_int8_linear(x.to(at::kFloat), lin.weight, lin.scale, unused));
  EXPECT_FALSE(model::fused_int8_linear(x, lin.weight.t(), lin.scale, unused));
}

TEST(Int8LinearCuda, QuantizesToTheSameBytesAsTheCpu) {
  at::manual_seed(5);
  const at::Tensor w = at::randn({512, 3072}, at::kFloat).mul(0.05);
  const model::Linear a = model::quantize_int8(w), b = model::quantize_int8(w.to(at::kCUDA));
  EXPECT_TRUE(a.weight.equal(b.weight.to(at::kCPU)));
  EXPECT_TRUE(a.scale.equal(b.scale.to(at::kCPU)));
}

}  // namespace
}  // namespace heartmula
