#include "runtime/song_scheduler.h"

#include <ATen/ATen.h>
#include <algorithm>
#include <functional>
#include <string>

#include "codec/windows.h"
#include "heartmula/error.h"
#include "io/switches.h"
#include "io/torch_tensors.h"
#include "runtime/device.h"
#include "runtime/frame_loop.h"
#include "runtime/sampler.h"

namespace heartmula::runtime {

namespace {

// Codes from --codes-in: tensor `frames` [T, N] or `codes` [N, T] -> [T, N] int64.
at::Tensor read_codes(const std::string& path) {
  auto tensors = io::load_all_tensors(path);
  if (tensors.count("frames")) {
    at::Tensor f = tensors.at("frames");
    if (f.dim() != 2) throw Error(path + ": tensor 'frames' must be [T, 8]; got " + std::to_string(f.dim()) + " dims");
    return f.to(at::kLong);
  }
  if (tensors.count("codes")) {
    at::Tensor c = tensors.at("codes");
    if (c.dim() != 2) throw Error(path + ": tensor 'codes' must be [8, T]; got " + std::to_string(c.dim()) + " dims");
    return c.to(at::kLong).t().contiguous();
  }
  throw Error(path + ": no tensor 'frames' [T, 8] or 'codes' [8, T]");
}

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace

bool same_lm_settings(const SongRequest& a, const SongRequest& b) {
  return a.temperature == b.temperature && a.temperature_end == b.temperature_end &&
         a.temperature_shape == b.temperature_shape && a.topk == b.topk && a.cfg_scale == b.cfg_scale &&
         a.ignore_eos == b.ignore_eos;
}

std::vector<std::vector<size_t>> batch_groups(const std::vector<SongRequest>& requests) {
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < requests.size(); ++i) {
    const SongRequest& r = requests[i];
    auto joins = [&](const std::vector<size_t>& g) {
      const SongRequest& first = requests[g.front()];
      return r.codes_in.empty() && first.codes_in.empty() && same_lm_settings(first, r);
    };
    auto it = std::find_if(groups.begin(), groups.end(), joins);
    if (it == groups.end())
      groups.push_back({i});
    else
      it->push_back(i);
  }
  return groups;
}

// Each song is finished (codes file, codec, audio file) as soon as it ends, on the codec worker
// while the others go on (with `stream`: its windows while it is made); with lazy_load after
// the loop, one by one.
std::vector<SongOutcome> SongScheduler::run_batch(const std::vector<const SongRequest*>& songs,
                                                  const std::vector<SongResult*>& out,
                                                  const std::vector<size_t>& indices, const ProgressFn& progress,
                                                  const StopFn& stop, const SongSavedFn& saved,
                                                  const SongStopFn& song_stop, bool* stopped) {
  bool any_audio = false, any_stream = false;
  for (const SongRequest* s : songs) {
    any_audio = any_audio || !s->no_audio;
    any_stream = any_stream || s->streamed(session_.settings());  // the decision: SongRequest::streamed
  }
  const bool lazy = session_.settings().lazy_load;
  // Everything the worker will use is loaded before its first job (threading.h).
  session_.ensure_mula();
  if (!lazy && any_audio) session_.ensure_codec();
  const SongRequest& r = *songs.front();
  std::vector<model::Prompt> prompts;
  std::vector<uint64_t> seeds;
  int64_t longest = 0;
  FrameLoopOptions fo;
  for (size_t i = 0; i < songs.size(); ++i) {
    prompts.push_back(session_.prompt_for(*songs[i]));
    seeds.push_back(out[i]->seed);
    longest = std::max(longest, prompts.back().length());
    // Per-song frame limits may differ within a batch; the loop runs to the longest.
    fo.song_max_frames.push_back(frames_for_duration(songs[i]->max_audio_length_ms));
    fo.max_frames = std::max(fo.max_frames, fo.song_max_frames.back());
  }
  SamplingParams sp;
  sp.temperature = r.temperature;
  sp.temperature_end = r.temperature_end, sp.temperature_shape = r.temperature_shape;
  sp.topk = r.topk;
  sp.cfg_scale = r.cfg_scale;
  sp.seed = seeds.front();
  sp.validate();
  fo.ignore_eos = r.ignore_eos;
  if (song_stop) fo.song_stop = [&](int64_t s) { return song_stop(indices[static_cast<size_t>(s)]); };
  fo.use_graphs = true;  // where the device has graphs (HEARTMULA_NO_GRAPHS=1 turns them off)
  check_context(session_.mula(), longest, fo.max_frames);

  // Songs finish on the worker as they end, unless lazy_load (after the loop, on this thread).
  // `outputs` drains the worker when it goes, also if the loop throws (threading.h).
  OutputBatch outputs(output_, songs, out, indices, /*on_worker=*/!lazy, saved);
  const int64_t batch = static_cast<int64_t>(songs.size());
  if (outputs.on_worker() && any_stream) {
    // The first window's 372 frames go to the codec at once.
    fo.frames_first = static_cast<int64_t>(codec::kWindowSeconds * codec::kCodeRate);
    fo.on_frames = [&outputs](int64_t s, const at::Tensor& f) { outputs.frames(static_cast<size_t>(s), f); };
  }
  fo.on_song_end = [&](int64_t s, const FrameLoopResult& fr) {
    SongResult& res = *out[static_cast<size_t>(s)];
    res.stopped_at_eos = fr.stopped_at_eos;
    res.interrupted = fr.interrupted;
    Timings& tm = res.timings;
    tm.frames_planned = fo.song_max_frames[static_cast<size_t>(s)];
    tm.prompt_len = fr.prompt_len;
    tm.prompt_s = fr.prefill_seconds;
    tm.frames_s = fr.frame_seconds;
    tm.batch_songs = batch;
    outputs.song_ended(static_cast<size_t>(s), fr.frames);
  };
  // Windows decoded beside the LM on a GPU: a first window on the worker's thread and stream
  // (loads kernels, creates the thread's cuBLAS/cuDNN handles, fills the stream's allocator
  // cache) while the LM makes its first frames, so that the song's first window does not pay
  // for it (HeartCodec::warm_up). Queued after the loop's second frame, whose graph is captured
  // by then (the warm-up holds capture_lock(), and the loop's first capture would otherwise
  // wait for it), long before a song's first window (372 frames); a failure here is left to the
  // song's own first window to report. (HEARTMULA_NO_CODEC_WARMUP=1 skips it.)
  bool warm_up_due = outputs.on_worker() && session_.codec_device().type() != c10::kCPU &&
                     (any_stream || (any_audio && songs.size() > 1)) && !io::switch_on(io::Switch::kNoCodecWarmup);
  auto t_loop = Clock::now();
  fo.on_frame = [&](int64_t done, int64_t planned) {
    if (warm_up_due && done >= 2) {
      outputs.warm_up(session_.detokenize_options(r, 0), any_stream);
      warm_up_due = false;
    }
    if (progress) progress(done, planned, seconds_since(t_loop));
    const bool stop_now = stop && stop();
    if (stop_now && stopped) *stopped = true;
    return !stop_now;
  };
  outputs.start_clock();
  reset_peak_memory(session_.mula_device());
  std::vector<FrameLoopResult> fr;
  {
    // HEARTMULA_STREAM_PRIORITY=lm: the frame loop on a high-priority stream of its own while
    // the worker decodes beside it (joined back to the current stream when the loop ends).
    const std::shared_ptr<void> lm_stream = outputs.on_worker() && stream_priority() == StreamPriority::lm
                                                ? use_side_stream(session_.mula_device(), /*high_priority=*/true)
                                                : nullptr;
    fr = run_frame_loop_batch(session_.mula(), session_.gen_config(), prompts, sp, seeds, fo);
  }
  const uint64_t peak = peak_memory_bytes(session_.mula_device());
  const auto t_loop_end = Clock::now();  // after_frames_s counts from here
  outputs.drain();
  for (size_t i = 0; i < songs.size(); ++i) {
    out[i]->timings.peak_mula_bytes = peak;
    out[i]->timings.frames_s = fr[i].frame_seconds;  // the whole batch's loop
    out[i]->timings.graph_capture_s = fr[i].capture_seconds;
  }
  std::vector<SongOutcome> outcomes = outputs.finish();
  for (size_t i = 0; i < songs.size() && i < outcomes.size(); ++i)
    out[i]->timings.after_frames_s =
        std::max(0.0, std::chrono::duration<double>(outcomes[i].done_at - t_loop_end).count());
  return outcomes;
}

void SongScheduler::decode_codes_in(const SongRequest& r, SongResult& res) {
  output_.finish_song(r, read_codes(r.codes_in), res, Clock::now());
}

void SongScheduler::close_timings(Timings& tm, Clock::time_point t_start, double load_before, Clock::time_point t_end) {
  tm.load_s = session_.take_unreported_load(&tm);
  tm.total_s = std::chrono::duration<double>(t_end - t_start).count() + load_before;
}

SongResult SongScheduler::generate(const SongRequest& r, const ProgressFn& progress, const StopFn& stop) {
  r.validate();
  const auto t_start = Clock::now();
  const double load_before = session_.unreported_load();  // loading before this call counts into its total
  SongResult res;
  res.seed = r.seed.value_or(0);
  if (!r.codes_in.empty()) {
    decode_codes_in(r, res);
    close_timings(res.timings, t_start, load_before, Clock::now());
    return res;
  }
  const std::vector<SongOutcome> outcome = run_batch({&r}, {&res}, {0}, progress, stop, {});
  if (outcome.front().error) std::rethrow_exception(outcome.front().error);
  close_timings(res.timings, t_start, load_before, outcome.front().done_at);
  return res;
}

std::vector<SongResult> SongScheduler::generate_many(const std::vector<SongRequest>& requests,
                                                     const ProgressFn& progress, const StopFn& stop,
                                                     const SongSavedFn& saved, const SongStopFn& song_stop) {
  for (const auto& r : requests) r.validate();
  const auto t_start = Clock::now();
  const double load_before = session_.unreported_load();
  std::vector<SongResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) results[i].seed = requests[i].seed.value_or(0);
  bool stopped = false;
  for (const std::vector<size_t>& group : batch_groups(requests)) {
    if (stopped) {  // interrupted: later batches do not start
      for (size_t i : group) {
        results[i].interrupted = true;
        results[i].error = "interrupted before this song's batch started";
      }
      continue;
    }
    if (!requests[group.front()].codes_in.empty()) {  // alone, no LM
      const size_t i = group.front();
      try {
        decode_codes_in(requests[i], results[i]);
        if (saved) saved(i, results[i]);
      } catch (const std::exception& e) {
        results[i].error = e.what();
      }
      close_timings(results[i].timings, t_start, load_before, Clock::now());
      continue;
    }
    std::vector<const SongRequest*> rs;
    std::vector<SongResult*> out;
    for (size_t i : group) {
      rs.push_back(&requests[i]);
      out.push_back(&results[i]);
    }
    const std::vector<SongOutcome> outcomes = run_batch(rs, out, group, progress, stop, saved, song_stop, &stopped);
    for (size_t k = 0; k < group.size(); ++k) {
      const size_t i = group[k];
      if (outcomes[k].error) results[i].error = message_of(outcomes[k].error);
      close_timings(results[i].timings, t_start, load_before, outcomes[k].done_at);
    }
  }
  return results;
}

}  // namespace heartmula::runtime
