// The codec's fused DiT-block kernels (codec/fused_ops.h) against the composite ATen code they
// replace, on CUDA tensors of the real estimator shapes: B 2, T 744 and the two block stacks,
// D 1536 (24 heads of 64, MLP hidden 4096) and D 3072 (24 heads of 128, hidden 8192). Part of
// test_cuda_kernels (CUDA builds only, tests/unit/cuda_kernels.cmake).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

#include "codec/dit_block.h"
#include "codec/fused_ops.h"
#include "codec/rope.h"

namespace heartmula::codec {
namespace {

constexpr int64_t kB = 2, kT = 744, kHeads = 24;

// transformer_blocks and transformer_blocks_2 of the real estimator.
struct Stack {
  int64_t d, head_dim, hidden;
};
const std::vector<Stack> kStacks = {{1536, 64, 4096}, {3072, 128, 8192}};

at::TensorOptions cuda(at::ScalarType t) { return at::TensorOptions().dtype(t).device(at::kCUDA); }

// Relative precision of one unit in the last place (bf16 8 bits, fp16 11, fp32 24 of mantissa).
double ulp(at::ScalarType t) {
  return t == at::kBFloat16 ? std::ldexp(1.0, -7) : t == at::kHalf ? std::ldexp(1.0, -10) : std::ldexp(1.0, -23);
}

// max over elements of |a - b| / (rel * |b| + abs_tol), in double on the CPU; <= 1 means within.
double worst(const at::Tensor& a, const at::Tensor& b, double rel, double abs_tol) {
  at::Tensor ad = a.to(at::kCPU, at::kDouble), bd = b.to(at::kCPU, at::kDouble);
  return ((ad - bd).abs() / (bd.abs() * rel + abs_tol)).max().item<double>();
}

int64_t differing(const at::Tensor& a, const at::Tensor& b) { return a.ne(b).sum().item<int64_t>(); }

// The block's modulation rows: scale_shift_table + timestep embedding, [B, 6, D] float32.
at::Tensor random_mod(int64_t d) { return at::randn({kB, 6, d}, cuda(at::kFloat)).mul(0.5); }

TEST(CodecCudaKernels, ModulatedRmsNormMatchesTheComposite) {
  at::manual_seed(11);
  for (const Stack& st : kStacks)
    for (auto dtype : {at::kBFloat16, at::kFloat, at::kHalf}) {
      const int64_t d = st.d;
      at::Tensor x = at::randn({kB, kT, d}, cuda(at::kFloat)).mul(3), w = at::randn({d}, cuda(at::kFloat));
      at::Tensor mod = random_mod(d), out;
      ASSERT_TRUE(fused_modulated_rms_norm(x, w, mod, 3, 4, 1e-6, dtype, out));
      const at::Tensor ref = (rms_norm(x, w, 1e-6) * (1 + mod.narrow(1, 4, 1)) + mod.narrow(1, 3, 1)).to(dtype);
      ASSERT_EQ(out.scalar_type(), dtype);
      // Only rsqrt(mean(x^2)) may differ (reduction order), by a few float ulps; after the
      // rounding to T that is at most one ulp of T (abs 1e-5: cancellation against the shift).
      EXPECT_LE(worst(out, ref, ulp(dtype) * (dtype == at::kFloat ? 16 : 1), 1e-5), 1.0) << dtype << " D " << d;
      std::cout << "modulated_rms_norm D " << d << " " << dtype << ": " << differing(out, ref) << " of " << ref.numel()
                << " elements differ from the composite\n";
    }
  // Not handled: CPU tensors, D % 4 != 0, D > 16384 (the composite runs).
  at::Tensor out;
  EXPECT_FALSE(
      fused_modulated_rms_norm(at::randn({1, 3, 8}), at::ones({8}), at::zeros({1, 6, 8}), 0, 1, 1e-6, at::kFloat, out));
  EXPECT_FALSE(fused_modulated_rms_norm(at::randn({1, 3, 6}, cuda(at::kFloat)), at::ones({6}, cuda(at::kFloat)),
                                        at::zeros({1, 6, 6}, cuda(at::kFloat)), 0, 1, 1e-6, at::kFloat, out));
  EXPECT_FALSE(fused_modulated_rms_norm(at::randn({1, 3, 16388}, cuda(at::kFloat)), at::ones({16388}, cuda(at::kFloat)),
                                        at::zeros({1, 6, 16388}, cuda(at::kFloat)), 0, 1, 1e-6, at::kFloat, out));
}

TEST(CodecCudaKernels, GatedResidualIsBitForBitTheComposite) {
  at::manual_seed(12);
  for (const Stack& st : kStacks)
    for (auto dtype : {at::kBFloat16, at::kFloat, at::kHalf}) {
      const int64_t d = st.d;
      at::Tensor x = at::randn({kB, kT, d}, cuda(at::kFloat)), y = at::randn({kB, kT, d}, cuda(dtype));
      at::Tensor mod = random_mod(d);
      const at::Tensor ref = x + mod.narrow(1, 2, 1) * y;
      at::Tensor out;
      ASSERT_TRUE(fused_gated_residual(x, mod, 2, y, out));
      EXPECT_TRUE(at::equal(out, ref)) << dtype;
      at::Tensor x2 = x.clone();
      ASSERT_TRUE(fused_gated_residual_(x2, mod, 2, y));
      EXPECT_TRUE(at::equal(x2, ref)) << dtype;
      EXPECT_FALSE(at::equal(x, ref));  // the out-of-place form left x alone
    }
}

// The gated residual and the next modulated RMSNorm in one kernel: bit for bit the two kernels
// one after the other (x_out and h), out of place (x left alone) and in place; the norm's
// modulation from another tensor (the next block's, as run_dit_stack passes it).
TEST(CodecCudaKernels, GatedResidualRmsNormIsTheTwoKernels) {
  at::manual_seed(16);
  for (const Stack& st : kStacks)
    for (auto dtype : {at::kBFloat16, at::kFloat, at::kHalf}) {
      const int64_t d = st.d;
      const at::Tensor x = at::randn({kB, kT, d}, cuda(at::kFloat)), y = at::randn({kB, kT, d}, cuda(dtype));
      const at::Tensor mod = random_mod(d), next_mod = random_mod(d);
      const at::Tensor w = at::randn({d}, cuda(at::kFloat)).mul(0.1).add(1), x_copy = x.clone();
      at::Tensor x_ref, h_ref;
      ASSERT_TRUE(fused_gated_residual(x, mod, 5, y, x_ref));
      ASSERT_TRUE(fused_modulated_rms_norm(x_ref, w, next_mod, 0, 1, 1e-6, dtype, h_ref));
      at::Tensor x_out, h;
      ASSERT_TRUE(fused_gated_residual_rms_norm(x, mod, 5, y, w, next_mod, 0, 1, 1e-6, /*in_place=*/false, x_out, h));
      EXPECT_TRUE(at::equal(x, x_copy)) << dtype;
      EXPECT_TRUE(at::equal(x_out, x_ref)) << dtype << " D " << d;
      ASSERT_EQ(h.scalar_type(), dtype);
      EXPECT_TRUE(at::equal(h, h_ref)) << dtype << " D " << d;
      at::Tensor x2 = x.clone(), h2;
      ASSERT_TRUE(fused_gated_residual_rms_norm(x2, mod, 5, y, w, next_mod, 0, 1, 1e-6, /*in_place=*/true, x2, h2));
      EXPECT_TRUE(at::equal(x2, x_ref)) << dtype;
      EXPECT_TRUE(at::equal(h2, h_ref)) << dtype;
    }
  // Shapes it does not take: nothing written, false (the caller runs the two steps).
  const at::Tensor x = at::randn({kB, kT, 1536}, cuda(at::kFloat)), y = at::randn({kB, kT, 1536}, cuda(at::kFloat));
  at::Tensor x_out, h;
  EXPECT_FALSE(fused_gated_residual_rms_norm(x, random_mod(1536), 5, y, at::ones({1535}, cuda(at::kFloat)),
                                             random_mod(1536), 0, 1, 1e-6, false, x_out, h));
  EXPECT_FALSE(x_out.defined());
}

TEST(CodecCudaKernels, SiluMulMatchesTheComposite) {
  at::manual_seed(13);
  for (auto dtype : {at::kBFloat16, at::kFloat, at::kHalf}) {
    for (int64_t hidden : {kStacks[0].hidden, kStacks[1].hidden, int64_t{13}}) {  // 13: the unvectorised kernel
      at::Tensor gu = at::randn({kB, kT, 2 * hidden}, cuda(dtype)).mul(2), out;
      ASSERT_TRUE(fused_silu_mul(gu, hidden, out));
      const at::Tensor ref = at::silu(gu.narrow(-1, 0, hidden)) * gu.narrow(-1, hidden, hidden);
      ASSERT_TRUE(out.sizes().equals(ref.sizes()));
      // Same operations as ATen; allow one ulp of T in case expf differs.
      EXPECT_LE(worst(out, ref, ulp(dtype) * (dtype == at::kFloat ? 4 : 1), 1e-30), 1.0) << dtype << " " << hidden;
      std::cout << "silu_mul " << dtype << " hidden " << hidden << ": " << differing(out, ref) << " of " << ref.numel()
                << " elements differ from the composite\n";
    }
  }
}

TEST(CodecCudaKernels, RopeOnTheQkHeadsIsTheComposite) {
  at::manual_seed(14);
  for (const Stack& st : kStacks)
    for (auto dtype : {at::kBFloat16, at::kFloat, at::kHalf}) {
      const int64_t hd = st.head_dim;
      const RopeTable rope = make_rope(hd, kT, dtype, at::Device(at::kCUDA));
      at::Tensor qkv = at::randn({kB, kT, 3 * kHeads, hd}, cuda(dtype));
      const at::Tensor ref_qk = apply_rope(qkv.narrow(2, 0, 2 * kHeads), rope);
      const at::Tensor v = qkv.narrow(2, 2 * kHeads, kHeads).clone();
      ASSERT_TRUE(fused_rope_heads_(qkv, 2 * kHeads, rope));
      const at::Tensor got = qkv.narrow(2, 0, 2 * kHeads);
      // ATen: T(x * cos), then addcmul in float rounded to T; the kernel does the same.
      EXPECT_EQ(differing(got, ref_qk), 0)
          << dtype << ": max |diff| " << (got.to(at::kFloat) - ref_qk.to(at::kFloat)).abs().max().item<float>();
      EXPECT_LE(worst(got, ref_qk, ulp(dtype), 1e-30), 1.0) << dtype;
      EXPECT_TRUE(at::equal(qkv.narrow(2, 2 * kHeads, kHeads), v));  // v untouched
    }
}

// A DiT block with random weights of the real size: the fused forward against the composite one.
DiTBlock random_block(const Stack& st, at::ScalarType dtype) {
  const int64_t d = st.d, hidden = st.hidden;
  DiTBlock b;
  b.dim = d, b.heads = kHeads, b.head_dim = st.head_dim, b.mlp_hidden = hidden, b.compute = dtype;
  const double s = 1.0 / std::sqrt(static_cast<double>(d));
  b.attn_norm = at::randn({d}, cuda(at::kFloat)).mul(0.1).add(1);
  b.mlp_norm = at::randn({d}, cuda(at::kFloat)).mul(0.1).add(1);
  b.wqkv = at::randn({3 * d, d}, cuda(at::kFloat)).mul(s).to(dtype);
  b.o_proj.weight = at::randn({d, d}, cuda(at::kFloat)).mul(s).to(dtype);
  b.w_gate_up = at::randn({2 * hidden, d}, cuda(at::kFloat)).mul(s).to(dtype);
  b.down.weight = at::randn({d, hidden}, cuda(at::kFloat)).mul(1.0 / std::sqrt(double(hidden))).to(dtype);
  b.scale_shift_table = at::randn({6, d}, cuda(at::kFloat)).mul(0.1);
  return b;
}

TEST(CodecCudaKernels, DiTBlockForwardFusedMatchesComposite) {
  at::manual_seed(15);
  for (const Stack& st : kStacks)
    for (auto dtype : {at::kBFloat16, at::kFloat}) {
      const int64_t d = st.d;
      const DiTBlock block = random_block(st, dtype);
      const RopeTable rope = make_rope(st.head_dim, kT, dtype, at::Device(at::kCUDA));
      const at::Tensor x = at::randn({kB, kT, d}, cuda(at::kFloat)),
                       tmod = at::randn({kB, 6 * d}, cuda(at::kFloat)).mul(0.5);
      const at::Tensor x_copy = x.clone();
      set_fused_ops_enabled(false);
      const at::Tensor ref = block.forward(x, tmod, rope);
      set_fused_ops_enabled(true);
      const at::Tensor got = block.forward(x, tmod, rope);
      EXPECT_TRUE(at::equal(x, x_copy));  // the input is not modified
      const double rel = ((got - ref).abs().max() / ref.abs().max()).item<double>();
      std::cout << "DiTBlock::forward D " << d << " " << dtype
                << ": max |fused - composite| / max |composite| = " << rel << "\n";
      // fp32: float rounding only; bf16: a one-ulp flip in a normed input moves the projections.
      EXPECT_LT(rel, dtype == at::kFloat ? 1e-5 : 2e-2) << dtype << " D " << d;
    }
}

// A stack of blocks with the norms chained between them (run_dit_stack, as the estimator runs
// them) against each block's forward() one after the other: bit for bit, both dtypes.
TEST(CodecCudaKernels, ChainedDiTStackIsTheBlocksOneByOne) {
  at::manual_seed(17);
  for (auto dtype : {at::kBFloat16, at::kFloat}) {
    const Stack& st = kStacks[0];
    std::vector<DiTBlock> blocks;
    for (int i = 0; i < 3; ++i) blocks.push_back(random_block(st, dtype));
    const RopeTable rope = make_rope(st.head_dim, kT, dtype, at::Device(at::kCUDA));
    const at::Tensor x = at::randn({kB, kT, st.d}, cuda(at::kFloat));
    const at::Tensor tmod = at::randn({kB, 6 * st.d}, cuda(at::kFloat)).mul(0.5), x_copy = x.clone();
    at::Tensor ref = x;
    for (const DiTBlock& b : blocks) ref = b.forward(ref, tmod, rope);
    const at::Tensor got = run_dit_stack(blocks, x, tmod, rope);
    EXPECT_TRUE(at::equal(x, x_copy));
    EXPECT_TRUE(at::equal(got, ref)) << dtype << ": max |diff| " << (got - ref).abs().max().item<float>();
  }
}

}  // namespace
}  // namespace heartmula::codec
