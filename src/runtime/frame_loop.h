// The language-model frame loop (upstream HeartMuLaGenPipeline._forward + generate_frame).
//
// One frame = N audio codes (8): the backbone reads the prompt (first frame) or the previous
// frame, codebook 0 is sampled from its last hidden state, then the depth decoder (fresh cache
// each frame, positions 0..N-1) yields codebooks 1..N-1. With CFG the batch has 2 rows per song
// (conditional first, unconditional second; the unconditional row's text lanes and MuQ slot use
// unconditional_text_embedding) and the logits are mixed as uncond + (cond - uncond) * scale.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <cstdint>
#include <functional>
#include <vector>

#include "model/attention.h"
#include "model/heartmula.h"
#include "model/prompt.h"
#include "model/rope.h"
#include "runtime/sampler.h"

namespace heartmula::runtime {

struct FrameLoopResult;

struct FrameLoopOptions {
  // Frames to generate at most, the first included (see frames_for_duration).
  int64_t max_frames = 0;
  // Batches: each song's own frame limit (1 <= limit <= max_frames), in song order; a song
  // that reaches it ends there (like an EOS, without one) while the others go on. Empty:
  // max_frames for every song.
  std::vector<int64_t> song_max_frames;
  // Keep going after an EOS frame (such frames are kept as generated: codes >= audio_eos_id,
  // and codes in [codebook size, audio_eos_id) at any time, are the codec side's to guard).
  bool ignore_eos = false;
  // Called after each frame step with (frames generated, max_frames); false = stop now.
  std::function<bool(int64_t done, int64_t planned)> on_frame;
  // Called after each frame step for each song still running (not after the first frame);
  // true ends that song there, as its own length limit would (it keeps its frames so far, its
  // result says interrupted), while the others go on unchanged.
  std::function<bool(int64_t song)> song_stop;
  // Backbone attention length: 0 = exactly the filled part of the KV cache (no mask for a
  // single song); k > 0 = the filled part rounded up to a multiple of k (capped at the cache
  // length), masked, so that step shapes only change at bucket edges (CUDA graphs: one graph
  // per bucket). A k >= the cache length attends over the whole cache. Same results up to
  // rounding.
  int64_t attention_bucket = 0;
  // When set, each frame step's device work runs as step_runner(key, body): key = the
  // attention length (equal keys = equal shapes), body = fixed-shape work on static buffers
  // (e.g. StepGraphs::run). Not with the test hooks below, which run host code in the step.
  std::function<void(int64_t key, const std::function<void()>& body)> step_runner;
  // Capture each frame step as a device graph (CUDA / XPU graphs) and replay it, when the
  // device supports it and no test hook below is set. Needs attention buckets: when
  // attention_bucket is 0, kGraphAttentionBucket is used. Same frames as without graphs.
  bool use_graphs = false;

  // --- songs as they are made (streaming, saving each song when it ends) ---
  // Song `song`'s newly kept frames [n, N] int64 on the CPU (n >= 1), in order, every
  // `frames_chunk` frames (one host copy for all songs) and when the song ends. Only frames
  // that are kept (never the EOS frame) are handed out.
  std::function<void(int64_t song, const at::Tensor& frames)> on_frames;
  int64_t frames_chunk = 16;
  // Also hand out when the songs reach this many frames (0: never): the codec's first window
  // (372 frames) starts at once instead of at the next multiple of frames_chunk.
  int64_t frames_first = 0;
  // Called once per song as soon as it has ended, with its result (all its frames): at its EOS
  // while the other songs go on, or when the loop stops (max_frames, interrupted) for the songs
  // still running, in song order. Its timings are those up to that moment. A finished song's
  // rows stay in the batch (fixed shapes: graphs are captured per batch shape), sampling from
  // their own generator, so they change nothing for the others; their frames are dropped.
  std::function<void(int64_t song, const FrameLoopResult& result)> on_song_end;

  // --- test hooks (they cost a host synchronisation per codebook when set) ---
  // The logits handed to the sampler (after CFG mixing): [songs, V] float32.
  std::function<void(int64_t frame, int64_t codebook, const at::Tensor& logits)> on_logits;
  // Teacher forcing: [T, N] int64; frame t < T feeds these codes (for every song) instead of
  // the samples.
  at::Tensor teacher_frames;
};

// The attention-length bucket used with graphs when none is given (one graph per bucket).
constexpr int64_t kGraphAttentionBucket = 256;

struct FrameLoopResult {
  at::Tensor frames;            // [T, N] int64 on the CPU: the frames kept
  bool stopped_at_eos = false;  // a frame with a code >= audio_eos_id ended the song (not kept)
  bool interrupted = false;     // on_frame returned false, or song_stop true for this song
  int64_t prompt_len = 0;
  double prefill_seconds = 0;  // prompt + first frame (of the whole batch)
  double frame_seconds = 0;    // every later frame (of the whole batch)
  double capture_seconds = 0;  // part of frame_seconds: steps that captured a graph
};

// Upstream's frame limit: the first frame plus max_audio_length_ms / 80 (codec::kFrameMs) more.
int64_t frames_for_duration(int64_t max_audio_length_ms);
// Backbone positions needed for `frames` frames after a prompt of `prompt_len` rows
// (the last frame is never fed back): prompt_len + frames - 1.
int64_t positions_needed(int64_t prompt_len, int64_t frames);
// The one context-fit check (Generator::check before loading, the frame loop before it runs):
// throws UsageError saying by how much the request does not fit the backbone's max_seq_len
// and which --max-audio-length-ms would.
void check_context(int64_t max_seq_len, int64_t prompt_len, int64_t frames);
void check_context(const model::HeartMuLaModel& model, int64_t prompt_len, int64_t frames);

// Runs the whole loop for one prompt. Same seed + settings + device = same frames.
FrameLoopResult run_frame_loop(const model::HeartMuLaModel& model, const model::GenConfig& gen,
                               const model::Prompt& prompt, const SamplingParams& params,
                               const FrameLoopOptions& options);

// Several songs in one batch: the same settings, one seed per song (params.seed is unused).
// Shorter prompts are left-padded (masked); each song draws from its own generator, so a song
// comes out as it would alone, up to floating-point rounding. The loop runs until every song
// has stopped (EOS) or max_frames; results are in the order of `prompts`.
std::vector<FrameLoopResult> run_frame_loop_batch(const model::HeartMuLaModel& model, const model::GenConfig& gen,
                                                  const std::vector<model::Prompt>& prompts,
                                                  const SamplingParams& params, const std::vector<uint64_t>& seeds,
                                                  const FrameLoopOptions& options);

// The per-frame work with static buffers: step_body() has fixed-shape inputs and outputs for
// a given attention length, so a CUDA graph can capture it. Rows R = songs * (cfg ? 2 : 1):
// conditional rows 0..S-1, then the unconditional rows in the same song order.
class FrameStepper {
 public:
  // Caches are preallocated for `max_positions` backbone positions (rounded up to a bucket
  // edge when attention_bucket is smaller); one seed per song.
  FrameStepper(const model::HeartMuLaModel& model, const model::GenConfig& gen, const SamplingParams& params,
               const std::vector<uint64_t>& seeds, int64_t max_positions, int64_t attention_bucket = 0);

  // Runs the prompts (one per song, left-padded to the longest) and samples the first frame.
  void prefill(const std::vector<model::Prompt>& prompts);
  // Feeds frame() back at the next position and samples the next frame into frame().
  void step();
  // The attention length the next step uses (its shape key), and the step's device work.
  int64_t step_key() const;
  void step_body(int64_t kv_len);

  // [R, N] int64 on the model's device; rows 0..S-1 are the songs.
  const at::Tensor& frame() const { return frame_; }
  const std::vector<at::Generator>& generators() const { return gens_; }
  int64_t songs() const { return songs_; }
  int64_t next_slot() const { return filled_; }
  int64_t cache_length() const { return bb_cache_.max_len(); }

  std::function<void(int64_t key, const std::function<void()>& body)> step_runner;
  std::function<void(int64_t, int64_t, const at::Tensor&)> logits_hook;
  at::Tensor teacher_frames;  // [T, N] int64 on the model's device, or undefined
  // Each song's frame limit (in song order): the progress of a temperature schedule
  // (SamplingParams::temperature_at). Needed only when the temperature varies.
  std::vector<int64_t> frame_limits;

 private:
  // Samples codebook `codebook` from the heads' logits [R, >= V] (compute dtype, padded
  // columns ignored) into frame_[:, codebook]; returns the tokens [R, 1].
  at::Tensor sample(const at::Tensor& padded_logits, int64_t codebook);
  void decode_frame(const at::Tensor& last_h);
  int64_t attention_length(int64_t filled) const;
  // A temperature schedule: the temperatures of frame frame_index_ into temperature_ and
  // inv_temperature_ (device fills, queued before the step's work, outside any graph).
  void set_frame_temperature();

  const model::HeartMuLaModel& m_;
  SamplingParams params_;
  bool cfg_;
  int64_t bucket_;
  int64_t rows_, songs_, n_;
  std::vector<at::Generator> gens_;  // one per song
  at::Tensor race_noise_, tokens_;   // fused sampler scratch: [songs, V] float32, [R, 1] int64
  // [songs] float32 on the device: the fused sampler's 1 / temperature (CUDA), and with a
  // schedule the composite sampler's temperature, per song, of the frame being made.
  at::Tensor inv_temperature_, temperature_;
  at::Tensor uncond_;  // [R] bool (true on unconditional rows) or undefined
  at::Tensor pad_;     // [R] int64 left padding per row, or undefined (none)
  model::KVCache bb_cache_, dec_cache_;
  model::RopeTable bb_rope_, dec_rope_;
  std::vector<model::StepContext> dec_ctx_;  // decoder call i (1..N-1) -> dec_ctx_[i - 1]
  at::Tensor row_tokens_;                    // [R, 1, N+1] int64: the frame fed back, lane N = empty_id
  at::Tensor row_mask_;                      // [R, 1, N+1] bool: audio lanes only
  at::Tensor pos_;                           // [R, 1] int64: RoPE position of the row fed next (slot - pad)
  at::Tensor slot_;                          // [1] int64: its cache slot
  at::Tensor frame_;                         // [R, N] int64
  int64_t filled_ = 0;                       // backbone cache slots written (host copy)
  int64_t frame_index_ = 0;
};

}  // namespace heartmula::runtime
