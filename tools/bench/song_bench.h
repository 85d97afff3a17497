// The whole-song row of heartmula-bench: load the LM, generate a song's frames with the frame
// loop heartmula-gen runs, (with lazy load: free the LM), load the codec, decode, encode MP3;
// seconds and peak device memory per phase (docs/performance.md "Memory").
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <cstdint>
#include <functional>

#include "bench/bench_report.h"
#include "bench/model_configs.h"
#include "codec/heartcodec.h"
#include "model/config.h"
#include "model/heartmula.h"

namespace heartmula::tools {

struct SongBenchOptions {
  double song_seconds = 240;  // frames = round(song_seconds * 12.5), generated to the end (no EOS)
  double cfg = 1.5;
  int64_t topk = 50;
  double temperature = 1.0;
  uint64_t seed = 0;
  int64_t prompt_rows = 226;  // synthetic prompt length
  bool lazy_load = false;     // free the LM (weights, caches, cached blocks) before the codec loads
  bool use_graphs = true;
  bool quiet = false;
};

// Backbone KV-cache bytes per minute of audio: 2 (k, v) x layers x kv_heads x head_dim x dtype
// bytes x rows (2 with CFG) x 12.5 frames/s x 60. The depth decoder's cache is per frame (N
// positions, reused) and not counted.
uint64_t kv_cache_bytes_per_minute(const model::HeartMuLaConfig& config, c10::ScalarType dtype, int64_t rows);

// The codec config of a model size (model_configs.h's codec_config_json), checked.
codec::HeartCodecConfig bench_codec_config(ModelSize size);

// One "song" row. `make_lm` builds (or loads) the LM on `device`; `make_codec` the codec.
OJson bench_song(const std::function<model::HeartMuLaModel()>& make_lm, const model::GenConfig& gen,
                 const std::function<codec::HeartCodec()>& make_codec, c10::Device device, const SongBenchOptions& o);

}  // namespace heartmula::tools
