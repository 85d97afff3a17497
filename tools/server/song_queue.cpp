// The server's song queue and its worker (song_queue.h).
#include "server/song_queue.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "codec/windows.h"  // kFrameSeconds
#include "heartmula/error.h"
#include "heartmula/generator.h"
#include "runtime/frame_loop.h"      // frames_for_duration
#include "runtime/report.h"          // write_sidecar
#include "runtime/song_scheduler.h"  // same_lm_settings: what batches together

namespace heartmula::server {
namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

uint64_t random_u64() {
  static std::mutex mu;
  static std::random_device rd;
  std::lock_guard<std::mutex> lock(mu);
  return static_cast<uint64_t>(rd()) << 32 | rd();
}

std::string random_id() {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(random_u64()));
  return buf;
}

bool finished_state(SongState s) { return s == SongState::done || s == SongState::failed || s == SongState::cancelled; }

}  // namespace

const char* state_name(SongState s) {
  switch (s) {
    case SongState::queued:
      return "queued";
    case SongState::running:
      return "running";
    case SongState::done:
      return "done";
    case SongState::failed:
      return "failed";
    case SongState::cancelled:
      return "cancelled";
  }
  return "?";
}

struct SongQueue::Song {
  SongStatus status;
  SongRequest request;
  double submitted_s = 0, started_s = 0;
};

SongQueue::SongQueue(std::string output_dir, size_t max_queue, CheckFn check)
    : output_dir_(std::move(output_dir)), max_queue_(max_queue), check_(std::move(check)) {}

SongQueue::Submit SongQueue::submit(SongRequest song, const std::string& format, std::string& id, uint64_t& seed) {
  auto refused = [this]() -> std::optional<Submit> {  // under the lock
    if (shutting_down_) return Submit::shutting_down;
    if (queue_.size() >= max_queue_) {
      ++metrics_.rejected;
      return Submit::queue_full;
    }
    return std::nullopt;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto r = refused()) return *r;
  }
  // Checked without the lock (tokenizing long lyrics takes a while); the id is made unique below.
  auto path_of = [&](const std::string& i) {
    return (std::filesystem::path(output_dir_) / (i + "." + format)).string();
  };
  std::string new_id = random_id();
  if (!song.seed) song.seed = random_u64() & 0x7fffffffffffffffull;  // heartmula-gen's range
  song.save_path = path_of(new_id);
  song.overwrite = false;
  // Windows are decoded and written while the song is made (heartmula-gen's default), and an
  // MP3 gets no LAME tag frame (rewritten at the end otherwise): every byte of the file is final
  // once written, so GET .../audio streams it as it grows (docs/server.md).
  song.stream = StreamMode::automatic;
  song.mp3_lame_tag = false;
  song.validate();  // throws UsageError
  if (check_) check_(song);
  std::lock_guard<std::mutex> lock(mu_);
  if (const auto r = refused()) return *r;
  while (songs_.count(new_id)) new_id = random_id();
  song.save_path = path_of(new_id);
  auto s = std::make_shared<Song>();
  s->request = song;
  s->submitted_s = now_s();
  s->status.id = new_id;
  s->status.format = format;
  s->status.seed = *song.seed;
  s->status.frames_planned = runtime::frames_for_duration(song.max_audio_length_ms);
  songs_[new_id] = s;
  queue_.push_back(new_id);
  id = new_id;
  seed = *song.seed;
  cv_.notify_all();
  return Submit::accepted;
}

std::optional<SongStatus> SongQueue::status(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = songs_.find(id);
  if (it == songs_.end()) return std::nullopt;
  SongStatus st = it->second->status;
  if (st.state == SongState::queued) st.queued_s = now_s() - it->second->submitted_s;
  return st;
}

SongQueue::Cancel SongQueue::cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = songs_.find(id);
  if (it == songs_.end()) return Cancel::not_found;
  SongStatus& st = it->second->status;
  if (st.state == SongState::queued) {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
    st.state = SongState::cancelled;
    st.cancel_requested = true;
    ++metrics_.cancelled;
    return Cancel::removed;
  }
  if (st.state == SongState::running) {
    st.cancel_requested = true;
    return Cancel::stopping;
  }
  return Cancel::finished;
}

QueueMetrics SongQueue::metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  QueueMetrics m = metrics_;
  m.queued = queue_.size();
  m.running = 0;
  for (const auto& kv : songs_) m.running += kv.second->status.state == SongState::running;
  return m;
}

int SongQueue::retry_after_s() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::max(1, static_cast<int>(std::ceil(last_batch_s_)));
}

std::vector<std::pair<std::string, SongRequest>> SongQueue::next_batch(size_t max_batch) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return shutting_down_ || !queue_.empty(); });
  std::vector<std::pair<std::string, SongRequest>> batch;
  if (shutting_down_) return batch;
  const SongRequest first = songs_.at(queue_.front())->request;
  for (auto it = queue_.begin(); it != queue_.end() && batch.size() < std::max<size_t>(1, max_batch);) {
    const auto& s = songs_.at(*it);
    if (!runtime::same_lm_settings(first, s->request)) {
      ++it;
      continue;
    }
    s->status.state = SongState::running;
    s->status.queued_s = now_s() - s->submitted_s;
    s->started_s = now_s();
    batch.emplace_back(*it, s->request);
    it = queue_.erase(it);
  }
  for (const auto& b : batch) songs_.at(b.first)->status.batch_songs = static_cast<int64_t>(batch.size());
  return batch;
}

void SongQueue::progress(const std::vector<std::string>& ids, int64_t done) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& id : ids) {
    SongStatus& st = songs_.at(id)->status;
    if (st.state != SongState::running) continue;
    st.frames = std::min(done, st.frames_planned);
    st.audio_s = static_cast<double>(st.frames) * codec::kFrameSeconds;
  }
}

bool SongQueue::cancel_requested(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = songs_.find(id);
  return it != songs_.end() && it->second->status.cancel_requested;
}

bool SongQueue::should_stop(const std::vector<std::string>& ids) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return true;
  for (const auto& id : ids)
    if (!songs_.at(id)->status.cancel_requested) return false;
  return true;
}

void SongQueue::finished(const std::string& id, const SongResult& r) {
  std::lock_guard<std::mutex> lock(mu_);
  SongStatus& st = songs_.at(id)->status;
  if (st.state == SongState::failed) return;
  const bool first = !finished_state(st.state);
  st.timings = r.timings;
  st.frames = r.timings.frames;
  st.audio_s = r.timings.audio_s > 0 ? r.timings.audio_s : static_cast<double>(st.frames) * codec::kFrameSeconds;
  st.seed = r.seed;
  st.partial = r.interrupted;
  st.file = r.save_path;
  if (!r.error.empty()) {
    if (!first) --(st.state == SongState::done ? metrics_.done : metrics_.cancelled);
    st.state = SongState::failed;
    st.error = r.error;
    ++metrics_.failed;
  } else if (first) {
    st.state = st.cancel_requested || r.interrupted ? SongState::cancelled : SongState::done;
    ++(st.state == SongState::done ? metrics_.done : metrics_.cancelled);
  }
}

void SongQueue::failed(const std::string& id, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  SongStatus& st = songs_.at(id)->status;
  if (finished_state(st.state)) return;
  st.state = SongState::failed;
  st.error = error;
  ++metrics_.failed;
}

void SongQueue::batch_done(const Timings& t, size_t songs) {
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.last_batch_frames_per_s = t.frames_s > 0 ? static_cast<double>(t.frames) / t.frames_s : 0;
  metrics_.last_batch_songs = static_cast<int64_t>(songs);
  metrics_.last_peak_mula_bytes = t.peak_mula_bytes;
  metrics_.last_peak_codec_bytes = t.peak_codec_bytes;
  last_batch_s_ = t.total_s;
}

void SongQueue::shutdown(std::vector<std::string>& cancelled_queued, std::vector<std::string>& running) {
  std::lock_guard<std::mutex> lock(mu_);
  shutting_down_ = true;
  for (const auto& id : queue_) {
    SongStatus& st = songs_.at(id)->status;
    st.state = SongState::cancelled;
    st.cancel_requested = true;
    ++metrics_.cancelled;
    cancelled_queued.push_back(id);
  }
  queue_.clear();
  for (const auto& kv : songs_)
    if (kv.second->status.state == SongState::running) running.push_back(kv.first);
  cv_.notify_all();
}

void run_worker(Generator& gen, SongQueue& queue, size_t max_batch) {
  for (;;) {
    const auto batch = queue.next_batch(max_batch);
    if (batch.empty()) return;
    std::vector<std::string> ids;
    std::vector<SongRequest> requests;
    for (const auto& b : batch) {
      ids.push_back(b.first);
      requests.push_back(b.second);
    }
    // A song is done as soon as its file is (the codec worker's `saved`), while the other songs
    // of the batch go on; its final timings and sidecar (<id>.json, as heartmula-gen writes it)
    // come when the batch ends.
    auto saved = [&](size_t i, const SongResult& r) { queue.finished(ids[i], r); };
    // A cancelled song ends alone at its next frame (partial, saved); the others go on.
    auto song_stop = [&](size_t i) { return queue.cancel_requested(ids[i]); };
    try {
      std::vector<SongResult> results = gen.generate_many(
          requests, [&](int64_t done, int64_t, double) { queue.progress(ids, done); },
          [&] { return queue.should_stop(ids); }, saved, song_stop);
      Timings batch_timings;
      for (size_t i = 0; i < results.size(); ++i) {
        SongResult& r = results[i];
        if (r.error.empty() && !r.save_path.empty()) {
          try {
            runtime::write_sidecar(gen.settings(), requests[i], r);
          } catch (const std::exception& e) {
            r.error = std::string("the sidecar could not be written: ") + e.what();
          }
        }
        queue.finished(ids[i], r);
        batch_timings.frames += r.timings.frames;
        batch_timings.frames_s = std::max(batch_timings.frames_s, r.timings.frames_s);
        batch_timings.total_s = std::max(batch_timings.total_s, r.timings.total_s);
        batch_timings.peak_mula_bytes = std::max(batch_timings.peak_mula_bytes, r.timings.peak_mula_bytes);
        batch_timings.peak_codec_bytes = std::max(batch_timings.peak_codec_bytes, r.timings.peak_codec_bytes);
      }
      queue.batch_done(batch_timings, results.size());
    } catch (const std::exception& e) {  // the batch itself failed (out of memory, ...): its songs fail
      std::fprintf(stderr, "heartmula-server: a batch of %zu songs failed: %s\n", ids.size(), e.what());
      for (const auto& id : ids) queue.failed(id, e.what());
    }
  }
}

}  // namespace heartmula::server
