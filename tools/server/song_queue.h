// The server's songs: a bounded queue of requests, each song's state and progress, and the one
// worker that runs them through the Generator in batches. HTTP threads call submit / status /
// cancel; the worker thread (run_worker) owns the Generator. Everything here is guarded by one
// mutex; no call blocks on generation except next_batch().
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "heartmula/generation.h"

namespace heartmula {
class Generator;
}

namespace heartmula::server {

enum class SongState { queued, running, done, failed, cancelled };
const char* state_name(SongState s);

// What GET /v1/songs/{id} reports about one song.
struct SongStatus {
  std::string id;
  SongState state = SongState::queued;
  std::string format;  // mp3 | wav
  uint64_t seed = 0;
  int64_t frames = 0;          // frames made so far (running) or kept (finished)
  int64_t frames_planned = 0;  // the song's own length limit in frames
  double audio_s = 0;          // seconds of audio in the frames made
  bool cancel_requested = false;
  bool partial = false;     // stopped before its end (cancelled or shut down while running)
  int64_t batch_songs = 0;  // songs in the batch it ran in
  std::string error;        // failed: why
  std::string file;         // the audio file once written ("" before)
  Timings timings;          // once finished
  double queued_s = 0;      // seconds it waited in the queue
};

struct QueueMetrics {
  size_t queued = 0, running = 0;
  uint64_t done = 0, failed = 0, cancelled = 0, rejected = 0;
  double last_batch_frames_per_s = 0;  // the last finished batch's frame loop
  int64_t last_batch_songs = 0;
  uint64_t last_peak_mula_bytes = 0, last_peak_codec_bytes = 0;  // the last batch's device peaks
};

class SongQueue {
 public:
  // Checks a request against the model before it is queued (Generator::check: the prompt plus
  // the frames fit the context); throws UsageError saying why not. Called without the queue's
  // lock held, from the HTTP threads.
  using CheckFn = std::function<void(const SongRequest&)>;
  // Songs are written to "<output_dir>/<id>.<format>" (the id is random hex: no request names a path).
  SongQueue(std::string output_dir, size_t max_queue, CheckFn check = {});

  enum class Submit { accepted, queue_full, shutting_down };
  // Queues a song (its seed chosen here when absent; save_path set to the id's file). Throws
  // UsageError when the request does not pass SongRequest::validate() or the check, so that a
  // song that cannot run is refused alone instead of failing the batch it would join.
  Submit submit(SongRequest song, const std::string& format, std::string& id, uint64_t& seed);
  std::optional<SongStatus> status(const std::string& id) const;
  enum class Cancel { not_found, removed, stopping, finished };
  // queued: removed from the queue (state cancelled); running: asks the worker to stop it at
  // the next frame (what exists is kept); finished: nothing to do.
  Cancel cancel(const std::string& id);
  QueueMetrics metrics() const;
  // Seconds a client should wait before trying again after queue_full (the last batch's time).
  int retry_after_s() const;
  const std::string& output_dir() const { return output_dir_; }

  // ---- the worker's side ----
  // Waits for queued songs, then takes the oldest and the next ones with the same LM settings
  // (temperature, topk, cfg_scale, ignore_eos; what Generator::generate_many batches
  // together), up to `max_batch`, and marks them running. Empty once shutdown() was called.
  std::vector<std::pair<std::string, SongRequest>> next_batch(size_t max_batch);
  void progress(const std::vector<std::string>& ids, int64_t done);
  // DELETE asked for this song: the SongStopFn of its batch (it ends alone at its next frame).
  bool cancel_requested(const std::string& id) const;
  // True when every song of the batch was cancelled, or on shutdown: the StopFn of the batch.
  bool should_stop(const std::vector<std::string>& ids) const;
  // A song's result: first when its file is complete (state done, or cancelled when a cancel was
  // asked for or it was cut short), again with the final timings when its batch ends (an error
  // then, e.g. of the sidecar, makes it failed).
  void finished(const std::string& id, const SongResult& result);
  void failed(const std::string& id, const std::string& error);
  void batch_done(const Timings& t, size_t songs);

  // Stops taking songs: queued ones are cancelled, the running batch is asked to stop,
  // next_batch() returns empty. Returns the ids of the songs that were queued and running.
  void shutdown(std::vector<std::string>& cancelled_queued, std::vector<std::string>& running);

 private:
  struct Song;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string output_dir_;
  size_t max_queue_;
  CheckFn check_;
  bool shutting_down_ = false;
  std::deque<std::string> queue_;
  std::map<std::string, std::shared_ptr<Song>> songs_;
  QueueMetrics metrics_;
  double last_batch_s_ = 0;
};

// The worker loop: batches from the queue through gen.generate_many() until shutdown, the
// sidecar (<id>.json) written beside each file. Returns when next_batch() is empty.
void run_worker(Generator& gen, SongQueue& queue, size_t max_batch);

}  // namespace heartmula::server
