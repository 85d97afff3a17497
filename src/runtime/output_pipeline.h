// The codec side of generation: a song's frames -> codes file, codec (at once or window by
// window with --stream), audio file. OutputPipeline owns the codec worker thread; an
// OutputBatch carries one frame-loop batch's songs to their files, on that worker as each song
// ends, or on the calling thread after the loop (--lazy-load). Who runs what, and which lock
// orders what: runtime/threading.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <exception>
#include <memory>
#include <vector>

#include "codec/heartcodec.h"
#include "heartmula/generation.h"
#include "runtime/model_session.h"
#include "runtime/threading.h"
#include "runtime/worker.h"

namespace heartmula::codec {
class StreamDecoder;
}
namespace heartmula::io {
class AudioWriter;
}

namespace heartmula::runtime {

// Codes the LM may emit that the codec has no entry for (special ids below audio_eos_id; upstream
// lets them through) are replaced by the previous frame's code of their codebook (0 in the first
// frame). frames [T, N] int64 on the CPU; returns how many were replaced.
int64_t sanitize_codes(at::Tensor& frames, int64_t codebook_size);
// The same for frames [n, N] that follow `prev` ([1, N], already sanitized; undefined before the
// first frame): equal to sanitizing all frames at once.
int64_t sanitize_codes_after(at::Tensor& frames, const at::Tensor& prev, int64_t codebook_size);

// How a song of a batch ended on the codec side: its error (null: saved) and when its file was done.
struct SongOutcome {
  std::exception_ptr error;
  Clock::time_point done_at = Clock::now();
};

class OutputPipeline {
 public:
  explicit OutputPipeline(ModelSession& session);
  ~OutputPipeline();  // runs the jobs still queued, then joins the worker
  OutputPipeline(const OutputPipeline&) = delete;
  OutputPipeline& operator=(const OutputPipeline&) = delete;

  // The codec worker (made on first use, kept for later batches).
  Worker& worker();
  ModelSession& session() { return session_; }

  // On the calling thread: a song's frames -> its codes file (codes_out), the codec and its
  // audio file (--lazy-load frees the language model first). Fills the result's paths,
  // frames, codec/encode timings, audio_s and first_audio_s (from `t_ready`). Throws.
  void finish_song(const SongRequest& request, const at::Tensor& frames, SongResult& result, Clock::time_point t_ready);

 private:
  friend class OutputBatch;
  struct Song;  // one song on its way to its file (output_pipeline.cpp)
  std::unique_ptr<io::AudioWriter> open_writer(const SongRequest& request, uint64_t seed) const;
  void save_codes(const SongRequest& request, const at::Tensor& frames, SongResult& result) const;
  // --stream, on the worker: the song's next frames -> windows now complete -> its file.
  void stream_frames(Song& song, const at::Tensor& frames, Clock::time_point t_ready);
  // On the worker: the song has ended -> the rest of its audio (or all of it) -> its file.
  void end_song(Song& song, const at::Tensor& frames, Clock::time_point t_ready);
  void stream_end(Song& song, const at::Tensor& frames, Clock::time_point t_ready);
  void write_samples(Song& song, const at::Tensor& audio, Clock::time_point t_ready);

  ModelSession& session_;
  std::unique_ptr<Worker> worker_;
};

// One frame-loop batch's songs on their way to their files. Made on the loop thread; its
// frames() / song_ended() / warm_up() post jobs to the pipeline's worker (on_worker) or keep
// the frames for finish() after the loop. Its destructor drains the worker (threading.h), so
// the jobs never outlive the songs they point at.
class OutputBatch {
 public:
  // `results[i]` (owned by the caller, alive until this goes) is song i's result; `indices[i]`
  // its index for `saved` (called on the worker, or in finish(), as each file is complete).
  OutputBatch(OutputPipeline& pipeline, const std::vector<const SongRequest*>& songs,
              const std::vector<SongResult*>& results, const std::vector<size_t>& indices, bool on_worker,
              SongSavedFn saved);
  ~OutputBatch();
  OutputBatch(const OutputBatch&) = delete;
  OutputBatch& operator=(const OutputBatch&) = delete;

  bool on_worker() const { return worker_ != nullptr; }
  // The batch's start (weights loaded): first_audio_s and the trace count from it.
  void start_clock() { t_ready_ = Clock::now(); }
  Clock::time_point t_ready() const { return t_ready_; }

  // Loop thread, on_worker only: song `s`'s next frames [n, N] (songs without --stream ignore them).
  void frames(size_t s, const at::Tensor& frames);
  // Loop thread: song `s` has ended with these frames (all of them).
  void song_ended(size_t s, const at::Tensor& frames);
  // Loop thread, on_worker only: queues the codec's warm-up window (HeartCodec::warm_up); its
  // time goes to every song's codec_warmup_s. A failure is left to the first window to report.
  void warm_up(const codec::DetokenizeOptions& options, bool streaming);
  // Returns once every job posted for the batch has run; then the loop thread owns the songs.
  void drain();
  // After the loop (drains first): without a worker, finishes each song here, in order; then
  // each song's outcome.
  std::vector<SongOutcome> finish();

 private:
  OutputPipeline& pipe_;
  std::vector<std::unique_ptr<OutputPipeline::Song>> songs_;
  Worker* worker_;
  SongSavedFn saved_;
  Clock::time_point t_ready_ = Clock::now();
  DrainOnExit drain_on_exit_;  // declared last, so it waits before the songs go
};

}  // namespace heartmula::runtime
