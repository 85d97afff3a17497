// The int8 skinny GEMM (model/cuda/int8_linear.cu) against float64 on the dequantized weight,
// at every row count the frame loop has, every layer shape kind, odd feature counts and a poisoned
// output. Built only for CUDA LibTorch builds (tests/unit/cuda_kernels.cmake).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <vector>

#include "model/fused_ops.h"
#include "model/cuda/int8_linear.h"
#include "model/linear.h"
#include "model/rope.h"
#include "model/transformer.h"

namespace heartmula {
namespace {

at::TensorOptions cuda(at::ScalarType t) { return at::TensorOptions().dtype(t).device(at::kCUDA); }

TEST(Int8LinearCuda, MatchesFloat64OnTheDequantizedWeight) {
  at::manual_seed(3);
  struct Shape {
    int64_t n, k;
  };
  // Real shapes (qkv, out, w13, w2, heads) and small odd ones: n not a multiple of 16, k = 64.
  for (Shape s :
       std::vector<Shape>{{5120, 3072}, {3072, 3072}, {3072, 8192}, {8256, 3072}, {37, 64}, {16, 128}, {1, 192}})
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

// T(a + b) with one rounding: what fused_add_rms_norm's `sum` holds (its kernel needs widths that
// are a multiple of 8; this works for every width).
at::Tensor add_rounded(const at::Tensor& a, const at::Tensor& b) {
  return a.to(at::kFloat).add(b.to(at::kFloat)).to(at::kBFloat16);
}

// The fused RMSNorm prologue, the residual epilogue and the silu·mul (GLU) epilogue give the bytes
// of the unfused kernel sequence they replace (fused_add_rms_norm / fused_silu_mul around
// fused_int8_linear).
TEST(Int8LinearCuda, FusedNeighboursEqualTheUnfusedKernels) {
  at::manual_seed(6);
  model::set_int8_fusions(model::kInt8FuseNorm | model::kInt8FuseGlu);  // all of them
  const double eps = 1e-5;
  struct Shape {
    int64_t n, k;
  };
  for (Shape s : std::vector<Shape>{{5120, 3072}, {3072, 3072}, {3072, 8192}, {37, 64}, {100, 1024}})
    for (int64_t rows : {1, 2, 3, 4, 8, 9, 16, 17, 24, 32, 33, 64}) {
      const std::string what = std::to_string(s.n) + "x" + std::to_string(s.k) + " rows " + std::to_string(rows);
      const model::Linear lin = model::quantize_int8(at::randn({s.n, s.k}, cuda(at::kFloat)).mul(0.02));
      const at::Tensor x = at::randn({rows, s.k}, cuda(at::kFloat)).mul(3).to(at::kBFloat16);
      const at::Tensor w = at::rand({s.k}, cuda(at::kFloat)).add(0.5).to(at::kBFloat16);
      const at::Tensor residual = at::randn({rows, s.n}, cuda(at::kFloat)).to(at::kBFloat16);
      at::Tensor sum, normed, plain, fused;
      // RMSNorm -> product (k / 8 <= 1024: every shape here).
      ASSERT_TRUE(model::fused_add_rms_norm(x, at::Tensor(), w, eps, sum, normed)) << what;
      ASSERT_TRUE(model::fused_int8_linear(normed, lin.weight, lin.scale, plain)) << what;
      ASSERT_TRUE(model::fused_int8_linear_ex(x, lin.weight, lin.scale, model::LinearPrologue::RmsNorm, w, eps,
                                              at::Tensor(), fused))
          << what;
      EXPECT_TRUE(fused.equal(plain)) << "RmsNorm " << what << ": max diff "
                                      << (fused.to(at::kFloat) - plain.to(at::kFloat)).abs().max().item<float>();
      // product + residual.
      ASSERT_TRUE(model::fused_int8_linear(x, lin.weight, lin.scale, plain)) << what;
      sum = add_rounded(residual, plain);
      ASSERT_TRUE(model::fused_int8_linear_ex(x, lin.weight, lin.scale, model::LinearPrologue::None, at::Tensor(), 0.0,
                                              residual, fused))
          << what;
      EXPECT_TRUE(fused.equal(sum)) << "residual " << what;
      // product -> silu·mul (the GLU epilogue of w13: the weight is gate rows then up rows), on x
      // normed already and with the RMSNorm prologue.
      const model::Linear lin2 = model::quantize_int8(at::randn({2 * s.n, s.k}, cuda(at::kFloat)).mul(0.05));
      for (bool norm : {false, true}) {
        at::Tensor in = x;
        if (norm) ASSERT_TRUE(model::fused_add_rms_norm(x, at::Tensor(), w, eps, sum, in)) << what;
        at::Tensor gu2, ref;
        ASSERT_TRUE(model::fused_int8_linear(in, lin2.weight, lin2.scale, gu2)) << what;
        ASSERT_TRUE(model::fused_silu_mul(gu2, ref));
        ASSERT_TRUE(model::fused_int8_glu(x, lin2.weight, lin2.scale,
                                          norm ? model::LinearPrologue::RmsNorm : model::LinearPrologue::None, w, eps,
                                          fused))
            << what;
        ASSERT_EQ(fused.sizes(), ref.sizes()) << what;
        EXPECT_TRUE(fused.equal(ref)) << "GLU" << (norm ? " + RmsNorm " : " ") << what << ": max diff "
                                      << (fused.to(at::kFloat) - ref.to(at::kFloat)).abs().max().item<float>();
      }
    }
  // Combinations the kernel does not take fall back (false), never a wrong result.
  const model::Linear lin = model::quantize_int8(at::randn({64, 128}, cuda(at::kFloat)));
  at::Tensor out;
  const at::Tensor x = at::randn({2, 128}, cuda(at::kBFloat16));
  EXPECT_FALSE(model::fused_int8_linear_ex(at::randn({2, 256}, cuda(at::kBFloat16)), lin.weight, lin.scale,
                                           model::LinearPrologue::None, at::Tensor(), 0.0,
                                           at::randn({2, 64}, cuda(at::kBFloat16)), out));  // x is not [.., K]
  EXPECT_FALSE(model::fused_int8_linear_ex(x, lin.weight, lin.scale, model::LinearPrologue::RmsNorm,
                                           at::ones({64}, cuda(at::kBFloat16)), 1e-5, at::Tensor(),
                                           out));  // wrong width
  const model::Linear odd_rows = model::quantize_int8(at::randn({63, 128}, cuda(at::kFloat)));
  EXPECT_FALSE(model::fused_int8_glu(x, odd_rows.weight, odd_rows.scale, model::LinearPrologue::None, at::Tensor(), 0.0,
                                     out));  // gate and up need an even row count
  // A fusion that is off falls back.
  model::set_int8_fusions(model::kInt8FuseNorm);
  EXPECT_FALSE(model::fused_int8_glu(x, lin.weight, lin.scale, model::LinearPrologue::None, at::Tensor(), 0.0, out));
  model::set_int8_fusions(0);
  EXPECT_FALSE(model::fused_int8_linear_ex(x, lin.weight, lin.scale, model::LinearPrologue::None, at::Tensor(), 0.0,
                                           at::randn({2, 64}, cuda(at::kBFloat16)), out));
  model::set_int8_fusions(model::kInt8FusionDefault);
}

// Programmatic dependent launch changes when a kernel starts, not what it computes: a chain of
// dependent products (each reading the one before) gives the same bytes with and without it,
// eagerly and replayed from a captured CUDA graph.
TEST(Int8LinearCuda, ProgrammaticDependentLaunchKeepsTheBytes) {
  at::manual_seed(7);
  const int64_t d = 3072;
  std::vector<model::Linear> lins;
  for (int i = 0; i < 6; ++i) lins.push_back(model::quantize_int8(at::randn({d, d}, cuda(at::kFloat)).mul(0.03)));
  const at::Tensor x0 = at::randn({2, d}, cuda(at::kFloat)).to(at::kBFloat16);
  auto chain = [&](bool pdl, at::Tensor& buf) {  // buf: [7, 2, d], buf[0] = x0
    for (int i = 0; i < 6; ++i) {
      model::cuda::Int8LinearArgs a;
      a.x = buf[i].data_ptr();
      a.q = lins[i].weight.data_ptr<int8_t>();
      a.scale = lins[i].scale.data_ptr<float>();
      a.out = buf[i + 1].data_ptr();
      a.rows = 2;
      a.n_out = d;
      a.k = d;
      a.residual = i % 2 ? buf[i - 1].data_ptr() : nullptr;
      a.pdl = pdl;
      ASSERT_EQ(model::cuda::launch_int8_linear(a, c10::cuda::getCurrentCUDAStream().stream()), 0);
    }
  };
  at::Tensor ref = at::zeros({7, 2, d}, cuda(at::kBFloat16)), got = at::zeros_like(ref);
  ref[0].copy_(x0);
  got[0].copy_(x0);
  chain(false, ref);
  chain(true, got);
  EXPECT_TRUE(got.equal(ref));
  // In a graph: capture on a side stream, replay, compare.
  at::Tensor graphed = at::zeros_like(ref);
  graphed[0].copy_(x0);
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  {
    c10::cuda::CUDAStreamGuard guard(side);
    at::cuda::CUDAGraph graph;
    graph.capture_begin();
    chain(true, graphed);
    graph.capture_end();
    graphed.slice(0, 1).zero_();
    graph.replay();
    side.synchronize();
  }
  EXPECT_TRUE(graphed.equal(ref));
}

// A whole int8 stack (real widths: D 3072, F 8192, 24 heads / 8 kv heads, two layers) on CUDA:
// each set of fused kernels (the norm in the product's prologue with the residual add in its
// epilogue, silu·mul in w13's epilogue) gives the bytes of the unfused sequence, for one song with
// CFG (2 rows), the depth decoder's first step (2 positions) and 16 songs with CFG (32 rows).
TEST(Int8LinearCuda, FusedStackEqualsTheUnfusedStack) {
  at::manual_seed(8);
  model::TransformerStack st;
  st.cfg.embed_dim = 3072;
  st.cfg.num_layers = 2;
  st.cfg.num_heads = 24;
  st.cfg.num_kv_heads = 8;
  st.cfg.intermediate_dim = 8192;
  st.cfg.max_seq_len = 64;
  const int64_t d = 3072, f = 8192, hd = 128;
  auto norm_w = [&] { return at::rand({d}, cuda(at::kFloat)).add(0.5).to(at::kBFloat16); };
  auto lin = [&](int64_t n, int64_t k) { return model::quantize_int8(at::randn({n, k}, cuda(at::kFloat)).mul(0.02)); };
  for (int i = 0; i < 2; ++i) {
    model::LlamaLayer l;
    l.sa_norm = norm_w();
    l.wqkv = lin((24 + 16) * hd, d);
    l.wo = lin(d, d);
    l.mlp_norm = norm_w();
    l.w13 = lin(2 * f, d);
    l.w2 = lin(d, f);
    st.layers.push_back(l);
  }
  st.norm = norm_w();
  const model::RopeTable rope = model::RopeTable::build(st.cfg, 64, at::Device(at::kCUDA));
  for (auto [batch, seq] : std::vector<std::pair<int64_t, int64_t>>{{2, 1}, {2, 2}, {32, 1}}) {
    const at::Tensor x = at::randn({batch, seq, d}, cuda(at::kFloat)).to(at::kBFloat16);
    const unsigned sets[] = {0, model::kInt8FuseNorm, model::kInt8FuseGlu, model::kInt8FuseNorm | model::kInt8FuseGlu};
    at::Tensor outs[4];
    for (int fused = 0; fused < 4; ++fused) {
      model::set_int8_fusions(sets[fused]);
      model::KVCache cache = model::KVCache::allocate(st.cfg, batch, 64, at::kBFloat16, at::Device(at::kCUDA));
      model::StepContext c;
      const at::Tensor slots = at::arange(seq, cuda(at::kLong));
      c.rope = model::gather_rope(rope, slots.view({1, seq}).expand({batch, seq}).contiguous());
      c.slots = slots;
      c.kv_len = seq;
      if (seq > 1) c.mask = model::attention_mask(slots, seq, at::Tensor());
      outs[fused] = st.forward(x, c, cache);
    }
    model::set_int8_fusions(model::kInt8FusionDefault);
    for (int fused = 1; fused < 4; ++fused)
      EXPECT_TRUE(outs[fused].equal(outs[0]))
          << "fusion set " << sets[fused] << ", batch " << batch << " seq " << seq << ": max diff "
          << (outs[fused].to(at::kFloat) - outs[0].to(at::kFloat)).abs().max().item<float>();
  }
}

}  // namespace
}  // namespace heartmula
