// Songs through the language model: requests -> batches of songs with the same LM settings ->
// one frame loop each, every song handed to the output pipeline as soon as it ends; the
// interruption (StopFn) ends the running batch, every song keeping what it has, and starts no
// later one; a song's own stop (SongStopFn) ends that song alone, as its end token would. Fills the results and their
// timings. Runs on the loop thread (runtime/threading.h).
#pragma once

#include <cstddef>
#include <vector>

#include "heartmula/generation.h"
#include "runtime/model_session.h"
#include "runtime/output_pipeline.h"

namespace heartmula::runtime {

// Songs may share one LM batch when these agree (prompts, seeds and lengths may differ).
bool same_lm_settings(const SongRequest& a, const SongRequest& b);
// Indices of `requests` in batches, in order of first appearance: LM songs with the same
// settings together, each codes-in request alone.
std::vector<std::vector<size_t>> batch_groups(const std::vector<SongRequest>& requests);

class SongScheduler {
 public:
  SongScheduler(ModelSession& session, OutputPipeline& output) : session_(session), output_(output) {}

  // Generator::generate and Generator::generate_many (include/heartmula/generator.h).
  SongResult generate(const SongRequest& request, const ProgressFn& progress, const StopFn& stop);
  std::vector<SongResult> generate_many(const std::vector<SongRequest>& requests, const ProgressFn& progress,
                                        const StopFn& stop, const SongSavedFn& saved, const SongStopFn& song_stop = {});

 private:
  // One frame-loop batch of songs that share their LM settings; returns each song's outcome.
  // `stopped` (when given) is set when `stop` ended the batch.
  std::vector<SongOutcome> run_batch(const std::vector<const SongRequest*>& songs, const std::vector<SongResult*>& out,
                                     const std::vector<size_t>& indices, const ProgressFn& progress, const StopFn& stop,
                                     const SongSavedFn& saved, const SongStopFn& song_stop = {},
                                     bool* stopped = nullptr);
  // A --codes-in song: decoded on this thread, no LM.
  void decode_codes_in(const SongRequest& request, SongResult& result);
  // Loading time not reported yet goes to this song; total_s = time since the call began (to
  // `t_end`, when its file was done) plus the loading done before the call.
  void close_timings(Timings& tm, Clock::time_point t_start, double load_before, Clock::time_point t_end);

  ModelSession& session_;
  OutputPipeline& output_;
};

}  // namespace heartmula::runtime
