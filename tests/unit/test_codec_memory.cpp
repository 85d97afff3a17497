// What the codec keeps in memory (issue #7): its weights, held once each in the dtype the
// precision policy gives them (docs/codec.md "Precision"), and a scalar decoder that decodes
// row by row and the PostProcessor chunk by chunk with the numbers of one pass, bit for bit.
#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "codec/heartcodec.h"
#include "codec/scalar_decoder.h"
#include "io/checkpoint.h"
#include "io/weight_binder.h"

namespace hc = heartmula::codec;
namespace io = heartmula::io;

namespace {

const std::string kCodecDir = std::string(HEARTMULA_TEST_DATA) + "/ckpt/HeartCodec-oss";

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// The policy: the estimator's block projections (fused q/k/v, o, fused gate/up, down) and its
// three ProjectLayers run in the estimator dtype; everything else is float32 unless it is part
// of the scalar decoder, which has the decoder dtype.
c10::ScalarType expected_dtype(const std::string& name, const hc::CodecLoad& o) {
  if (contains(name, "scalar_model.decoder.")) return o.decoder_dtype;
  const bool block = contains(name, ".transformer_blocks");
  if (block && (contains(name, ".attn.wqkv") || contains(name, ".attn.o_proj.") || contains(name, ".mlp.w_gate_up") ||
                contains(name, ".mlp.down.")))
    return o.estimator_dtype;
  if (contains(name, ".proj_in.") || contains(name, ".connection_proj.") || contains(name, ".proj_out."))
    return o.estimator_dtype;
  return at::kFloat;
}

// Parameters the checkpoint declarations add up to once loaded: fusing keeps the count, folding
// weight norm drops the magnitudes (original0).
int64_t loaded_parameter_count(const hc::HeartCodecConfig& cfg) {
  int64_t n = 0;
  for (const auto& d : hc::HeartCodec::declarations(cfg)) {
    if (contains(d.key, ".parametrizations.weight.original0")) continue;
    int64_t e = 1;
    for (int64_t s : d.shape) e *= s;
    n += e;
  }
  return n;
}

void check_weights(const hc::CodecLoad& o) {
  const auto codec = hc::HeartCodec::load(kCodecDir, o);
  const auto weights = codec.weights();
  ASSERT_FALSE(weights.empty());
  std::map<c10::ScalarType, size_t> bytes, expected;
  std::set<const void*> seen;
  int64_t params = 0;
  for (const auto& [name, t] : weights) {
    const size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
    EXPECT_EQ(t.scalar_type(), expected_dtype(name, o)) << name << " under " << o.label();
    EXPECT_EQ(t.device(), o.device) << name;
    // Held once: its own storage, exactly its size (no view into a larger buffer such as an
    // unfused or float32 copy), shared with no other weight.
    EXPECT_EQ(t.storage().nbytes(), nbytes) << name;
    EXPECT_EQ(t.storage_offset(), 0) << name;
    EXPECT_TRUE(seen.insert(t.storage().data()).second) << name << " shares its storage";
    EXPECT_FALSE(contains(name, "q_proj") || contains(name, "k_proj") || contains(name, "v_proj") ||
                 contains(name, "mlp.gate.") || contains(name, "mlp.up."))
        << name << ": unfused projections are not kept";
    bytes[t.scalar_type()] += nbytes;
    expected[expected_dtype(name, o)] += static_cast<size_t>(t.numel()) * c10::elementSize(expected_dtype(name, o));
    params += t.numel();
  }
  EXPECT_EQ(params, loaded_parameter_count(codec.config()));
  EXPECT_EQ(bytes, expected);
  size_t low = 0;  // bf16 bytes: every estimator projection, nothing else
  for (const auto& [name, t] : weights)
    if (expected_dtype(name, o) != at::kFloat) low += static_cast<size_t>(t.numel()) * 2;
  if (o.estimator_dtype == at::kBFloat16) {
    EXPECT_GT(low, 0u);
    EXPECT_EQ(bytes[at::kBFloat16], low);
  } else {
    EXPECT_EQ(bytes.count(at::kBFloat16), 0u);
  }
}

// The scalar decoder of the tiny checkpoint, float32 on the CPU.
hc::ScalarDecoder tiny_decoder() {
  const auto cfg = hc::HeartCodecConfig::from_file(kCodecDir + "/config.json");
  const io::Checkpoint ckpt = io::Checkpoint::open(kCodecDir);
  io::WeightBinder b(ckpt, at::kFloat, at::kCPU);
  hc::ScalarDecoder d;
  d.declare(b, "scalar_model.decoder", cfg, at::kFloat, at::kFloat);
  b.bind();
  return d;
}

// The decoder as one pass over the batch with every intermediate kept (the code before the
// memory changes): upstream's order of operations.
at::Tensor one_pass(const hc::ScalarDecoder& d, const at::Tensor& latent) {
  at::Tensor x = at::round(latent * 9) / 9;
  x = d.pre(x);
  for (const auto& blk : d.blocks) {
    x = blk.up_conv(x);
    for (const auto& u : blk.convs) x = u.activation2(u.conv2(u.activation1(u.conv1(x)))) + x;
  }
  x = x.repeat_interleave(d.num_samples, 2);
  x = d.post_activation(d.post_conv(x));
  return d.out(x);
}

// Counts the bytes of live CPU tensors allocated through it (installed once for this process).
class CountingAllocator final : public c10::Allocator {
 public:
  static CountingAllocator& install() {
    static CountingAllocator* a = [] {
      auto* p = new CountingAllocator();  // never freed: tensors may outlive any scope
      c10::SetCPUAllocator(p, /*priority=*/100);
      return p;
    }();
    return *a;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> l(mu_);
    peak_ = live_;
  }
  size_t live() const {
    std::lock_guard<std::mutex> l(mu_);
    return live_;
  }
  size_t peak() const {
    std::lock_guard<std::mutex> l(mu_);
    return peak_;
  }

  // allocate() is const in LibTorch 1.x and non-const in later 2.x: both are given (no
  // `override`, so that each version compiles).
  c10::DataPtr allocate(size_t n) const { return const_cast<CountingAllocator*>(this)->make(n); }
  c10::DataPtr allocate(size_t n) { return make(n); }
  c10::DeleterFnPtr raw_deleter() const { return &release; }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

 private:
  c10::DataPtr make(size_t n) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, std::max<size_t>(n, 64)) != 0) throw std::bad_alloc();
    {
      std::lock_guard<std::mutex> l(mu_);
      sizes_[p] = n;
      live_ += n;
      peak_ = std::max(peak_, live_);
    }
    return {p, p, &release, c10::Device(c10::kCPU)};
  }
  static void release(void* p) {
    if (p == nullptr) return;
    CountingAllocator& a = install();
    {
      std::lock_guard<std::mutex> l(a.mu_);
      auto it = a.sizes_.find(p);
      if (it != a.sizes_.end()) {
        a.live_ -= it->second;
        a.sizes_.erase(it);
      }
    }
    std::free(p);
  }
  mutable std::mutex mu_;
  std::map<void*, size_t> sizes_;
  size_t live_ = 0, peak_ = 0;
};

}  // namespace

TEST(CodecMemory, WeightsFp32AreHeldOnceInFloat32) {
  hc::CodecLoad o;  // float32, CPU
  check_weights(o);
}

TEST(CodecMemory, WeightsBf16EstimatorFollowThePolicy) {
  // bf16 estimator on the CPU (the decoder stays float32 there), as --codec-dtype bf16.
  check_weights(hc::CodecLoad::parse("bf16", c10::Device(c10::kCPU)));
}

TEST(CodecMemory, DecoderRowsAndChunksMatchOnePassBitForBit) {
  c10::InferenceMode guard;
  const hc::ScalarDecoder d = tiny_decoder();
  at::manual_seed(3);
  const at::Tensor latent = at::randn({2, 128, 744}) * 1.5;  // one window, both channels
  const at::Tensor ref = one_pass(d, latent);
  ASSERT_EQ(ref.sizes(), at::IntArrayRef({2, 1, 744 * 1920}));
  // 2^17 (the default: 11 chunks), an odd size, two unequal chunks, one chunk.
  for (int64_t chunk : {int64_t(1) << 17, int64_t(40001), int64_t(1000000), int64_t(1) << 22}) {
    hc::ScalarDecoder c = d;
    c.post_chunk_samples = chunk;
    EXPECT_TRUE(at::equal(c.decode(latent), ref)) << "post_chunk_samples " << chunk;
  }
  // A single row decodes as it does beside the other.
  EXPECT_TRUE(at::equal(d.decode(latent.narrow(0, 1, 1)), ref.narrow(0, 1, 1)));
}

TEST(CodecMemory, DecoderWorkingSetIsAFractionOfOnePass) {
  c10::InferenceMode guard;
  const hc::ScalarDecoder d = tiny_decoder();
  CountingAllocator& alloc = CountingAllocator::install();
  at::manual_seed(4);
  const at::Tensor latent = at::randn({2, 128, 744}) * 1.5;
  // One row at the last stage's rate (init_channel x 1920 samples per frame, float32): the
  // PostProcessor's tensors. One pass holds ~3 of them for both rows at once (6 rows' worth).
  const size_t row_post = static_cast<size_t>(d.post_conv.weight.size(0)) * 744 * 1920 * 4;

  size_t base = alloc.live();
  alloc.reset_peak();
  const at::Tensor ref = one_pass(d, latent);
  const size_t old_peak = alloc.peak() - base;

  base = alloc.live();
  alloc.reset_peak();
  const at::Tensor got = d.decode(latent);
  const size_t new_peak = alloc.peak() - base;
  std::printf("decoder working set, tiny codec, one window: one pass %.1f MB, now %.1f MB (row post tensor %.1f MB)\n",
              old_peak / 1e6, new_peak / 1e6, row_post / 1e6);
  EXPECT_TRUE(at::equal(got, ref));
  EXPECT_GE(old_peak, 5 * row_post);  // the counter sees the one-pass working set
  // Rows one at a time, intermediates freed early, chunked PostProcessor: 0.30 of one pass on
  // LibTorch 1.13 here (68.6 of 228.6 MB); the bound leaves room for other CPU kernels' buffers.
  EXPECT_LE(new_peak * 2, old_peak);
}
