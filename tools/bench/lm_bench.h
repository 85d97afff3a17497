// The language-model rows of heartmula-bench: frames/s at a given prompt length, measured
// through runtime::run_frame_loop, the loop heartmula-gen runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "model/config.h"
#include "model/linear.h"
#include "model/heartmula.h"
#include "model/prompt.h"

namespace heartmula::tools {

// Bytes of weights one frame must read, in the compute dtype: the backbone once, the depth
// decoder and the projection N-1 times, the codebook-0 head and the audio heads once (each
// decoder step reads one [Dd, V] slice). Embedding rows and the KV cache are not counted.
struct FrameBytes {
  size_t backbone = 0, decoder = 0, heads = 0;
  size_t total() const { return backbone + decoder + heads; }
  size_t parameters = 0;  // every declared parameter (elements)
};
FrameBytes frame_weight_bytes(const model::HeartMuLaConfig& config, const model::LmPrecision& precision);

// Bytes of backbone + decoder KV cache read by one frame at `position` with `rows` batch rows.
size_t kv_bytes_per_frame(const model::HeartMuLaConfig& config, c10::ScalarType dtype, int64_t rows, int64_t position);

struct FrameBenchOptions {
  double cfg = 1.5;
  int64_t songs = 1;       // songs in the batch (2 rows each with cfg > 1), as --num-songs runs them
  int64_t position = 226;  // prompt rows (the attention length the frames start at)
  int64_t frames = 64;     // measured frames per repetition
  int64_t warmup = 8;      // frames run before the measured ones, in every repetition
  int64_t reps = 3;
  int64_t topk = 50;
  double temperature = 1.0;
  uint64_t seed = 0;
  int64_t attention_bucket = 0;  // FrameLoopOptions::attention_bucket (0: as heartmula-gen)
  bool use_graphs = true;        // FrameLoopOptions::use_graphs (as heartmula-gen)
  double mem_bw_gbps = 0;        // device bandwidth the floor is taken at; 0: unknown
  bool quiet = false;
};

// A synthetic prompt of `rows` rows: random text ids below the BOS id, MuQ slot at row
// min(rows - 1, 8), as model::prompt_from_tokens builds it.
model::Prompt synthetic_prompt(int64_t rows, int64_t num_codebooks, uint64_t seed);

// Throws UsageError (naming --positions) when position + warm-up + frames exceed the context.
void check_fits(const model::HeartMuLaModel& m, const FrameBenchOptions& o);

// One untimed loop (prompt of `o.position` rows, warm-up frames) to settle the device.
void warm_up(const model::HeartMuLaModel& m, const model::GenConfig& gen, const FrameBenchOptions& o);

// One "frames" row: repetitions of [prefill, warm-up frames, measured frames], all songs of
// the batch through runtime::run_frame_loop_batch (the loop of heartmula-gen --num-songs).
// frames_per_second counts batch steps; song_frames_per_second = songs x that.
OJson bench_frames(const model::HeartMuLaModel& m, const model::GenConfig& gen, const FrameBenchOptions& o);

}  // namespace heartmula::tools
