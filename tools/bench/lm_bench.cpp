#include "bench/lm_bench.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <chrono>
#include <cstdio>

#include "heartmula/error.h"
#include "io/weight_binder.h"
#include "runtime/device.h"
#include "runtime/frame_loop.h"
#include "runtime/step_graphs.h"

namespace heartmula::tools {

namespace {

using Clock = std::chrono::steady_clock;

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

size_t numel(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

// The loop's stopping rule runs as in heartmula-gen (one check per frame) but can never fire:
// random weights would otherwise end a repetition early at a random frame.
model::GenConfig never_ending(model::GenConfig gen, const model::HeartMuLaModel& m) {
  gen.audio_eos_id = m.audio_vocab();
  return gen;
}

runtime::SamplingParams sampling(const FrameBenchOptions& o, uint64_t seed) {
  runtime::SamplingParams p;
  p.cfg_scale = o.cfg;
  p.topk = o.topk;
  p.temperature = o.temperature;
  p.seed = seed;
  p.validate();
  return p;
}

// The batch's prompts and seeds: the same prompt for every song, a seed each.
std::vector<model::Prompt> prompts_for(const model::Prompt& p, int64_t songs) {
  return std::vector<model::Prompt>(static_cast<size_t>(songs), p);
}
std::vector<uint64_t> seeds_for(uint64_t seed, int64_t songs) {
  std::vector<uint64_t> s;
  for (int64_t i = 0; i < songs; ++i) s.push_back(seed + 7919 * static_cast<uint64_t>(i));
  return s;
}

}  // namespace

FrameBytes frame_weight_bytes(const model::HeartMuLaConfig& config, const model::LmPrecision& precision) {
  model::HeartMuLaModel m;
  m.config = config;
  m.dtype = precision.compute;
  io::WeightBinder binder(precision.compute, c10::Device(c10::DeviceType::CPU));
  m.declare(binder);  // the float checkpoint's keys and shapes
  const size_t esize = c10::elementSize(precision.compute), steps = static_cast<size_t>(config.audio_num_codebooks - 1);
  const bool int8 = precision.weights == model::WeightQuant::Int8;
  FrameBytes b;
  for (const auto& d : binder.declarations()) {
    size_t bytes = numel(d.shape) * esize;
    if (int8 && model::is_linear_weight_key(d.key))  // int8 values + a float32 scale per output row
      bytes = numel(d.shape) + numel(d.shape) / static_cast<size_t>(d.shape[1]) * 4;  // rows: all dims but [1]
    b.parameters += numel(d.shape);
    if (starts_with(d.key, "backbone."))
      b.backbone += bytes;
    else if (starts_with(d.key, "decoder.") || d.key == "projection.weight")
      b.decoder += bytes * steps;
    else if (d.key == "codebook0_head.weight" || d.key == "audio_head")
      b.heads += bytes;
  }
  return b;
}

size_t kv_bytes_per_frame(const model::HeartMuLaConfig& c, c10::ScalarType dtype, int64_t rows, int64_t position) {
  auto per_pos = [&](const model::TransformerConfig& t) {
    return static_cast<size_t>(2 * t.num_layers * rows * t.num_kv_heads * t.head_dim()) * c10::elementSize(dtype);
  };
  size_t decoder_positions = 0;  // decoder call i (1..N-1) attends over i + 1 positions
  for (int64_t i = 1; i < c.audio_num_codebooks; ++i) decoder_positions += static_cast<size_t>(i + 1);
  return per_pos(c.backbone) * static_cast<size_t>(position + 1) + per_pos(c.decoder) * decoder_positions;
}

model::Prompt synthetic_prompt(int64_t rows, int64_t num_codebooks, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor tokens = at::zeros({rows, num_codebooks + 1}, at::kLong);
  tokens.select(1, num_codebooks).random_(0, 128000, gen);
  return model::prompt_from_tokens(tokens, std::min<int64_t>(rows - 1, 8));
}

void check_fits(const model::HeartMuLaModel& m, const FrameBenchOptions& o) {
  const int64_t max_seq = m.config.backbone.max_seq_len;
  const int64_t need = runtime::positions_needed(o.position, 1 + o.warmup + o.frames);
  if (o.position < 1 || need > max_seq)
    throw UsageError("--positions " + std::to_string(o.position) + ": a prompt of that length plus " +
                     std::to_string(1 + o.warmup + o.frames) + " frames needs " + std::to_string(need) +
                     " positions; the model's context (max_seq_len) is " + std::to_string(max_seq));
}

void warm_up(const model::HeartMuLaModel& m, const model::GenConfig& gen, const FrameBenchOptions& o) {
  c10::InferenceMode guard;
  runtime::FrameLoopOptions lo;
  lo.max_frames = 1 + o.warmup;
  lo.attention_bucket = o.attention_bucket;
  lo.use_graphs = o.use_graphs;
  runtime::run_frame_loop_batch(m, never_ending(gen, m),
                                prompts_for(synthetic_prompt(o.position, m.num_codebooks(), o.seed), o.songs),
                                sampling(o, o.seed), seeds_for(o.seed, o.songs), lo);
  runtime::synchronize(m.device);
}

OJson bench_frames(const model::HeartMuLaModel& m, const model::GenConfig& gen, const FrameBenchOptions& o) {
  c10::InferenceMode guard;
  check_fits(m, o);
  const model::GenConfig g = never_ending(gen, m);
  const model::Prompt prompt = synthetic_prompt(o.position, m.num_codebooks(), o.seed);
  const int64_t first = 1 + o.warmup, last = first + o.frames;  // on_frame counts kept frames
  std::vector<double> prefill_ms, fps;
  runtime::reset_peak_memory(m.device);
  for (int64_t rep = 0; rep < o.reps; ++rep) {
    Clock::time_point t0, t1;
    runtime::FrameLoopOptions lo;
    lo.max_frames = last;
    lo.attention_bucket = o.attention_bucket;
    lo.use_graphs = o.use_graphs;
    lo.on_frame = [&](int64_t done, int64_t) {
      if (done == first || done == last) runtime::synchronize(m.device);
      if (done == first) t0 = Clock::now();
      if (done == last) t1 = Clock::now();
      return true;
    };
    if (!o.quiet)
      std::fprintf(stderr, "  cfg %.2f position %lld songs %lld: repetition %lld/%lld\r", o.cfg,
                   static_cast<long long>(o.position), static_cast<long long>(o.songs), static_cast<long long>(rep + 1),
                   static_cast<long long>(o.reps));
    const uint64_t seed = o.seed + static_cast<uint64_t>(rep);
    const runtime::FrameLoopResult r = runtime::run_frame_loop_batch(m, g, prompts_for(prompt, o.songs),
                                                                     sampling(o, seed), seeds_for(seed, o.songs), lo)
                                           .front();
    if (r.frames.size(0) != last)
      throw Error("the frame loop stopped after " + std::to_string(r.frames.size(0)) + " of " + std::to_string(last) +
                  " frames");
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    prefill_ms.push_back(r.prefill_seconds * 1e3);
    fps.push_back(static_cast<double>(o.frames) / secs);
  }
  if (!o.quiet) std::fprintf(stderr, "\n");
  const Summary f = summarize(fps);
  const double ms = 1e3 / f.mean;
  const FrameBytes bytes = frame_weight_bytes(m.config, m.precision());
  const double gbps = static_cast<double>(bytes.total()) / 1e9 / (ms / 1e3);
  const int64_t rows = (o.cfg > 1.0 ? 2 : 1) * o.songs;
  Summary song_fps = f;
  for (double& x : song_fps.samples) x *= static_cast<double>(o.songs);
  song_fps.mean *= static_cast<double>(o.songs);
  song_fps.sd *= static_cast<double>(o.songs);
  OJson row = {{"test", "frames"},
               {"cfg", o.cfg},
               {"batch_rows", rows},
               {"position", o.position},
               {"songs", o.songs},
               {"frames", o.frames},
               {"warmup", o.warmup},
               {"reps", o.reps},
               {"attention_bucket", o.attention_bucket},
               {"graphs", o.use_graphs && runtime::graphs_supported(m.device)},
               {"prefill_ms", to_json(summarize(prefill_ms))},
               {"frames_per_second", to_json(f)},
               {"song_frames_per_second", to_json(song_fps)},
               {"ms_per_frame", ms},
               {"peak_memory_bytes", runtime::peak_memory_bytes(m.device)},
               {"weight_bytes_per_frame", bytes.total()},
               {"kv_cache_bytes_per_frame", kv_bytes_per_frame(m.config, m.dtype, rows, o.position)},
               {"weight_gbps", gbps}};
  if (o.mem_bw_gbps > 0) {
    row["floor_ms"] = static_cast<double>(bytes.total()) / 1e9 / o.mem_bw_gbps * 1e3;
    row["floor_fraction"] = gbps / o.mem_bw_gbps;
  } else {
    row["floor_ms"] = nullptr;
    row["floor_fraction"] = nullptr;
  }
  return row;
}

}  // namespace heartmula::tools
