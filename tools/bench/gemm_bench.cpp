#include "bench/gemm_bench.h"

#include <ATen/ATen.h>
#include <chrono>
#include <cstdio>
#include <string>

#include "model/linear.h"
#include "runtime/device.h"
#include "runtime/step_graphs.h"

namespace heartmula::tools {

namespace {

struct Shape {
  const char* layer;
  int64_t n, k;
};

std::vector<Shape> shapes(const model::HeartMuLaConfig& c) {
  auto attn = [](const model::TransformerConfig& t) { return (t.num_heads + 2 * t.num_kv_heads) * t.head_dim(); };
  const int64_t vp = (c.audio_vocab_size + 63) / 64 * 64;
  return {{"backbone qkv", attn(c.backbone), c.backbone.embed_dim},
          {"backbone out", c.backbone.embed_dim, c.backbone.num_heads * c.backbone.head_dim()},
          {"backbone w13", 2 * c.backbone.intermediate_dim, c.backbone.embed_dim},
          {"backbone w2", c.backbone.embed_dim, c.backbone.intermediate_dim},
          {"decoder qkv", attn(c.decoder), c.decoder.embed_dim},
          {"decoder out", c.decoder.embed_dim, c.decoder.num_heads * c.decoder.head_dim()},
          {"decoder w13", 2 * c.decoder.intermediate_dim, c.decoder.embed_dim},
          {"decoder w2", c.decoder.embed_dim, c.decoder.intermediate_dim},
          {"projection", c.decoder.embed_dim, c.backbone.embed_dim},
          {"heads", vp, c.decoder.embed_dim}};
}

// Seconds per call of `call(i)` over `copies` weight copies: a graph of one pass over the copies
// replayed `reps` times (CUDA), or plain calls elsewhere.
double seconds_per_call(c10::Device device, int64_t copies, int64_t reps, const std::function<void(int64_t)>& call) {
  auto pass = [&] {
    for (int64_t i = 0; i < copies; ++i) call(i);
  };
  std::unique_ptr<runtime::StepGraphs> graphs = runtime::make_step_graphs(device, {});
  auto run = [&] {
    if (graphs)
      graphs->run(0, pass);
    else
      pass();
  };
  for (int w = 0; w < 3; ++w) run();  // eager, capture, replay
  runtime::synchronize(device);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < reps; ++r) run();
  runtime::synchronize(device);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return secs / static_cast<double>(reps * copies);
}

}  // namespace

double measure_copy_gbps(c10::Device device) {
  const int64_t bytes = device.is_cpu() ? (int64_t{1} << 28) : (int64_t{1} << 30);
  at::Tensor a = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).device(device)).fill_(1);
  at::Tensor b = at::empty_like(a);
  b.copy_(a);
  runtime::synchronize(device);
  const int reps = 5;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) (i % 2 ? a : b).copy_(i % 2 ? b : a);
  runtime::synchronize(device);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 2.0 * static_cast<double>(bytes) * reps / secs / 1e9;
}

std::vector<OJson> bench_gemms(const model::HeartMuLaConfig& config, c10::Device device, double copy_gbps,
                               const GemmBenchOptions& o) {
  std::vector<OJson> rows;
  at::manual_seed(o.seed);
  for (const Shape& s : shapes(config)) {
    auto bf16 = at::TensorOptions().dtype(at::kBFloat16).device(device);
    const double dense_bytes = static_cast<double>(s.n * s.k * 2);
    // Enough copies that one pass overflows any L2 (≥ 256 MB of bf16 weights), at most 16.
    const int64_t copies = std::max<int64_t>(2, std::min<int64_t>(16, static_cast<int64_t>(256e6 / dense_bytes) + 1));
    std::vector<at::Tensor> dense;
    std::vector<model::Linear> q8;
    for (int64_t i = 0; i < copies; ++i) {
      at::Tensor w = at::randn({s.n, s.k}, bf16.dtype(at::kFloat)).mul(0.02).to(at::kBFloat16);
      q8.push_back(model::quantize_int8(w));
      dense.push_back(w);
    }
    const double int8_bytes = static_cast<double>(q8.front().bytes());
    for (int64_t m : o.rows) {
      at::Tensor x = at::randn({m, s.k}, bf16.dtype(at::kFloat)).to(at::kBFloat16);
      at::Tensor sink;
      const double t8 =
          seconds_per_call(device, copies, o.reps, [&](int64_t i) { sink = q8[static_cast<size_t>(i)](x); });
      const double t16 = seconds_per_call(device, copies, o.reps,
                                          [&](int64_t i) { sink = at::linear(x, dense[static_cast<size_t>(i)]); });
      const double g8 = int8_bytes / t8 / 1e9, g16 = dense_bytes / t16 / 1e9;
      OJson row = {{"test", "gemm"},   {"layer", s.layer},    {"n", s.n},        {"k", s.k},
                   {"rows", m},        {"int8_us", t8 * 1e6}, {"int8_gbps", g8}, {"bf16_us", t16 * 1e6},
                   {"bf16_gbps", g16}, {"speedup", t16 / t8}};
      row["int8_copy_fraction"] = copy_gbps > 0 ? OJson(g8 / copy_gbps) : OJson(nullptr);
      row["bf16_copy_fraction"] = copy_gbps > 0 ? OJson(g16 / copy_gbps) : OJson(nullptr);
      if (!o.quiet)
        std::fprintf(stderr,
                     "gemm %-13s n %6lld k %5lld rows %2lld: int8 %7.1f us %6.0f GB/s, bf16 %7.1f us %6.0f GB/s\n",
                     s.layer, static_cast<long long>(s.n), static_cast<long long>(s.k), static_cast<long long>(m),
                     t8 * 1e6, g8, t16 * 1e6, g16);
      rows.push_back(row);
    }
  }
  return rows;
}

}  // namespace heartmula::tools
