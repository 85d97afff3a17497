// The scalar decoder's causal transposed convolution on CUDA, channels-last (issue #7): the
// GEMM form (CausalConvTranspose1d::weight_mm, the default) against cuDNN's conv_transpose2d
// (HEARTMULA_CODEC_CONVT_CUDNN=1's form, chosen here with set_convt_gemm before binding) on the
// real stage shapes of one 29.76 s window's row, in IEEE fp32, TF32 (cuDNN and cuBLAS flags on,
// as the decoder's "tf32" scope sets them) and bf16, with both timings. CUDA builds only
// (tests/unit/codec_convt_cuda.cmake); named CodecDecoderCuda.* so device-check's codecl runs it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

#include "codec/layers.h"
#include "io/weight_binder.h"

namespace heartmula::codec {
namespace {

// One channels-last layer bound on CUDA in `dtype`, as GEMMs or as conv_transpose2d.
CausalConvTranspose1d bound_layer(int64_t in, int64_t out, int64_t s, at::ScalarType dtype, bool gemm) {
  const bool was_cl = cuda_channels_last(), was_gemm = convt_gemm();
  set_cuda_channels_last(true);
  set_convt_gemm(gemm);
  CausalConvTranspose1d up;
  up.channels_last = true;
  io::WeightBinder binder(at::kFloat, at::Device(at::kCUDA));
  up.declare_weight_norm(binder, "up", in, out, s, dtype);
  binder.bind_random(1);
  set_cuda_channels_last(was_cl);
  set_convt_gemm(was_gemm);
  return up;
}

// Mean seconds of one forward_cl over `reps` calls after a warm-up (item() syncs).
double seconds_per_call(const CausalConvTranspose1d& up, const at::Tensor& x, at::Tensor& y, int reps) {
  y = up.forward_cl(x);
  y.sum().item<float>();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) y = up.forward_cl(x);
  y.sum().item<float>();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

TEST(CodecDecoderCuda, TransposedConvGemmMatchesCudnnOnRealStages) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  c10::InferenceMode guard;
  struct Stage {
    int64_t in, out, stride, t;
  };
  const std::vector<Stage> stages = {
      {2048, 1024, 5, 744}, {1024, 512, 4, 3720}, {512, 256, 4, 14880}, {256, 128, 4, 59520}, {128, 64, 3, 238080}};
  struct Mode {
    const char* name;
    at::ScalarType dtype;
    bool tf32;
    double bound;  // max |gemm - cudnn| / max |cudnn|
  };
  const std::vector<Mode> modes = {
      {"fp32", at::kFloat, false, 1e-5}, {"tf32", at::kFloat, true, 1e-2}, {"bf16", at::kBFloat16, false, 4e-2}};
  auto& ctx = at::globalContext();
  const bool cudnn_was = ctx.allowTF32CuDNN(), cublas_was = ctx.allowTF32CuBLAS();
  at::manual_seed(31);
  for (const Mode& m : modes) {
    ctx.setAllowTF32CuDNN(m.tf32);
    ctx.setAllowTF32CuBLAS(m.tf32);
    double total_gemm = 0, total_cudnn = 0;
    for (const Stage& st : stages) {
      const CausalConvTranspose1d gemm = bound_layer(st.in, st.out, st.stride, m.dtype, true);
      const CausalConvTranspose1d cudnn = bound_layer(st.in, st.out, st.stride, m.dtype, false);
      ASSERT_TRUE(gemm.weight_mm.defined());
      ASSERT_TRUE(cudnn.weight4.defined());
      // The same usable weights in both (written through the views).
      const at::Tensor w = at::randn(gemm.weight.sizes(), at::TensorOptions().device(at::kCUDA))
                               .div(std::sqrt(double(st.in * 2)))
                               .to(m.dtype);
      gemm.weight.copy_(w);
      cudnn.weight.copy_(w);
      const at::Tensor b = at::randn({st.out}, at::TensorOptions().device(at::kCUDA)).to(m.dtype);
      gemm.bias.copy_(b);
      cudnn.bias.copy_(b);
      const at::Tensor x = at::randn({1, st.in, 1, st.t}, at::TensorOptions().device(at::kCUDA))
                               .to(m.dtype)
                               .contiguous(at::MemoryFormat::ChannelsLast);
      at::Tensor yg, yc;
      const double tg = seconds_per_call(gemm, x, yg, 10), tc = seconds_per_call(cudnn, x, yc, 10);
      total_gemm += tg;
      total_cudnn += tc;
      ASSERT_TRUE(yg.sizes().equals(yc.sizes()));
      EXPECT_TRUE(yg.is_contiguous(at::MemoryFormat::ChannelsLast));
      const at::Tensor gf = yg.to(at::kFloat), cf = yc.to(at::kFloat);
      const double rel = ((gf - cf).abs().max() / cf.abs().max()).item<double>();
      std::cout << "CausalConvTranspose1d " << m.name << " [1, " << st.in << ", 1, " << st.t << "] -> " << st.out
                << " x" << st.stride << ": GEMM " << tg * 1e3 << " ms, conv_transpose2d " << tc * 1e3
                << " ms; max |gemm - cudnn| / max |cudnn| = " << rel << "\n";
      EXPECT_LT(rel, m.bound) << m.name << " stage " << st.in << " -> " << st.out;
    }
    std::cout << "CausalConvTranspose1d " << m.name << " all five stages (one row): GEMM " << total_gemm * 1e3
              << " ms, conv_transpose2d " << total_cudnn * 1e3 << " ms\n";
  }
  ctx.setAllowTF32CuDNN(cudnn_was);
  ctx.setAllowTF32CuBLAS(cublas_was);
}

}  // namespace
}  // namespace heartmula::codec
