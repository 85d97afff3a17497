// The codec and checkpoint-loading rows of heartmula-bench.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <cstdint>
#include <memory>
#include <string>

#include "bench/bench_report.h"
#include "codec/heartcodec.h"
#include "model/linear.h"

namespace heartmula::tools {

struct CodecBenchOptions {
  double audio_seconds = 30;  // detokenize round(audio_seconds * 12.5) frames of random codes
  int64_t reps = 3;
  uint64_t seed = 0;
  bool quiet = false;
  std::shared_ptr<codec::SolverGraphs> graphs;  // runtime::make_codec_graphs (null: eager)
};

// One untimed detokenize of one window's worth of codes (with `graphs`: two windows, so that
// the timed runs replay a captured graph).
void warm_up_codec(const codec::HeartCodec& codec, uint64_t seed, const std::shared_ptr<codec::SolverGraphs>& graphs);

// heartmula-bench --codec --profile: one window's detokenize (375 random codes) under the
// device's kernel profiler; markdown summary per window, *json the figures.
std::string profile_codec_window(const codec::HeartCodec& codec, uint64_t seed, const std::string& label, OJson* json,
                                 const std::shared_ptr<codec::SolverGraphs>& graphs);

// One "codec" row: seconds to detokenize random codes (default DetokenizeOptions), per minute of
// audio and per 29.76 s window.
OJson bench_codec(const codec::HeartCodec& codec, const CodecBenchOptions& o);

// "load" rows: loading the checkpoint in `dir` onto `device` in `dtype`, `reps` times (the first
// may read from disk, later ones from the page cache), synchronised; GB/s of bytes read. cold:
// the folder's files are dropped from the page cache before each load (io::drop_from_page_cache);
// the row says how many bytes were still cached ("cached_before_bytes", the largest of the reps).
OJson bench_load_lm(const std::string& dir, const model::LmPrecision& precision, c10::Device device, int64_t reps,
                    bool quiet, bool cold);
OJson bench_load_codec(const std::string& dir, const codec::CodecLoad& load, int64_t reps, bool quiet, bool cold);

}  // namespace heartmula::tools
