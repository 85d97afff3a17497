#include "bench/song_bench.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>

#include "bench/lm_bench.h"
#include "codec/windows.h"
#include "heartmula/error.h"
#include "io/audio_writer.h"
#include "runtime/device.h"
#include "runtime/frame_loop.h"
#include "runtime/step_graphs.h"

namespace heartmula::tools {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs `body` as a phase: peak memory reset before, device synchronised after; returns seconds
// and stores the phase's peak in *peak.
template <class F>
double phase(c10::Device dev, uint64_t* peak, F&& body) {
  runtime::synchronize(dev);
  runtime::reset_peak_memory(dev);
  const auto t0 = Clock::now();
  body();
  runtime::synchronize(dev);
  const double s = seconds_since(t0);
  *peak = runtime::peak_memory_bytes(dev);
  return s;
}

}  // namespace

codec::HeartCodecConfig bench_codec_config(ModelSize size) {
  // HeartCodecConfig reads files only: the built-in JSON goes through a temporary one.
  const std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("heartmula-bench-codec-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(p);
    out << codec_config_json(size).dump();
    if (!out) throw Error("cannot write '" + p.string() + "'");
  }
  codec::HeartCodecConfig c = codec::HeartCodecConfig::from_file(p.string());
  std::filesystem::remove(p);
  return c;
}

uint64_t kv_cache_bytes_per_minute(const model::HeartMuLaConfig& c, c10::ScalarType dtype, int64_t rows) {
  const model::TransformerConfig& b = c.backbone;
  const double per_frame = 2.0 * static_cast<double>(b.num_layers * b.num_kv_heads * b.head_dim()) *
                           static_cast<double>(c10::elementSize(dtype)) * static_cast<double>(rows);
  return static_cast<uint64_t>(std::llround(per_frame * codec::kCodeRate * 60.0));
}

OJson bench_song(const std::function<model::HeartMuLaModel()>& make_lm, const model::GenConfig& gen_in,
                 const std::function<codec::HeartCodec()>& make_codec, c10::Device dev, const SongBenchOptions& o) {
  c10::InferenceMode guard;
  const int64_t frames = std::max<int64_t>(1, std::llround(o.song_seconds * codec::kCodeRate));
  uint64_t peak_lm_load = 0, peak_lm = 0, peak_codec_load = 0, peak_codec = 0, peak_mp3 = 0;
  std::optional<model::HeartMuLaModel> lm;
  const double lm_load_s = phase(dev, &peak_lm_load, [&] { lm.emplace(make_lm()); });
  const model::HeartMuLaConfig lm_config = lm->config;
  const c10::ScalarType lm_dtype = lm->dtype;
  runtime::check_context(*lm, o.prompt_rows, frames);

  // The frame loop of heartmula-gen with --ignore-eos; the EOS id is also put out of reach so
  // that random weights run the whole song (as the frames rows do).
  model::GenConfig gen = gen_in;
  gen.audio_eos_id = lm->audio_vocab();
  runtime::SamplingParams sp;
  sp.cfg_scale = o.cfg, sp.topk = o.topk, sp.temperature = o.temperature, sp.seed = o.seed;
  sp.validate();
  runtime::FrameLoopOptions lo;
  lo.max_frames = frames;
  lo.ignore_eos = true;
  lo.use_graphs = o.use_graphs;
  lo.on_frame = [&](int64_t done, int64_t planned) {
    if (!o.quiet && (done % 250 == 0 || done == planned))
      std::fprintf(stderr, "  song %.0f s%s: frame %lld/%lld\r", o.song_seconds, o.lazy_load ? " (lazy load)" : "",
                   static_cast<long long>(done), static_cast<long long>(planned));
    return true;
  };
  const model::Prompt prompt = synthetic_prompt(o.prompt_rows, lm->num_codebooks(), o.seed);
  at::Tensor codes;
  const double lm_s = phase(dev, &peak_lm, [&] {
    codes = runtime::run_frame_loop(*lm, gen, prompt, sp, lo).frames;  // [T, N] on the CPU
  });
  if (!o.quiet) std::fprintf(stderr, "\n");

  uint64_t freed = 0;
  if (o.lazy_load) {  // as heartmula-gen --lazy-load: the LM and its cached blocks go first
    const uint64_t before = runtime::current_memory_bytes(dev);
    lm.reset();
    runtime::release_cached_memory(dev);
    const uint64_t after = runtime::current_memory_bytes(dev);
    freed = before > after ? before - after : 0;
  }
  std::optional<codec::HeartCodec> codec;
  const double codec_load_s = phase(dev, &peak_codec_load, [&] { codec.emplace(make_codec()); });
  // Random LM weights sample any audio token; the codec takes codes below its codebook size.
  const at::Tensor cb = codes.t().clamp(0, codec->config().codebook_size - 1).contiguous();
  at::Tensor wav;
  const double codec_s = phase(dev, &peak_codec, [&] {
    codec::DetokenizeOptions d;
    d.seed = o.seed;
    d.graphs = runtime::make_codec_graphs(dev);
    wav = codec->detokenize(cb.to(dev), d);
  });
  // Random codec weights make no sound worth hearing; bound it so the encoder sees real samples.
  wav = at::nan_to_num(wav, 0.0, 1.0, -1.0).clamp(-1.0, 1.0).contiguous();
  const std::string mp3 =
      (std::filesystem::temp_directory_path() / ("heartmula-bench-song-" + std::to_string(::getpid()) + ".mp3"))
          .string();
  const double mp3_s = phase(c10::Device(c10::kCPU), &peak_mp3, [&] {
    io::AudioWriteOptions ao;
    ao.sample_rate = static_cast<int>(codec->sample_rate());
    io::write_audio_file(mp3, wav.data_ptr<float>(), static_cast<size_t>(wav.size(1)), ao, true);
  });
  const uint64_t mp3_bytes = std::filesystem::file_size(mp3);
  std::filesystem::remove(mp3);

  const int64_t rows = sp.uses_cfg() ? 2 : 1;
  const uint64_t kv_min = kv_cache_bytes_per_minute(lm_config, lm_dtype, rows);
  const uint64_t peak = std::max({peak_lm_load, peak_lm, peak_codec_load, peak_codec});
  return {{"test", "song"},
          {"lazy_load", o.lazy_load},
          {"song_seconds", static_cast<double>(frames) * codec::kFrameSeconds},
          {"frames", frames},
          {"cfg", o.cfg},
          {"batch_rows", rows},
          {"lm_dtype", lm->precision().name()},
          {"codec_dtype", codec->load_options().label()},
          {"graphs", o.use_graphs && runtime::graphs_supported(dev)},
          {"lm_load_seconds", lm_load_s},
          {"lm_seconds", lm_s},
          {"frames_per_second", static_cast<double>(frames) / lm_s},
          {"codec_load_seconds", codec_load_s},
          {"codec_seconds", codec_s},
          {"mp3_seconds", mp3_s},
          {"total_seconds", lm_load_s + lm_s + codec_load_s + codec_s + mp3_s},
          {"peak_lm_load_bytes", peak_lm_load},
          {"peak_lm_bytes", peak_lm},
          {"lazy_freed_bytes", freed},
          {"peak_codec_load_bytes", peak_codec_load},
          {"peak_codec_bytes", peak_codec},
          {"peak_bytes", peak},
          {"kv_cache_bytes_per_minute", kv_min},
          {"kv_cache_bytes_song", static_cast<uint64_t>(std::llround(
                                      static_cast<double>(kv_min) *
                                      static_cast<double>(runtime::positions_needed(o.prompt_rows, frames)) / 750.0))},
          {"mp3_bytes", mp3_bytes}};
}

}  // namespace heartmula::tools
