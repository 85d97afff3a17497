#include "runtime/output_pipeline.h"

#include <ATen/ATen.h>
#include <cstdio>
#include <mutex>

#include "codec/stream_decoder.h"
#include "codec/windows.h"
#include "heartmula/error.h"
#include "io/audio_writer.h"
#include "io/switches.h"
#include "io/torch_tensors.h"
#include "runtime/device.h"

namespace heartmula::runtime {

namespace {

// HEARTMULA_STREAM_TRACE=1: when frames reach the codec worker and when its windows come out
// (stderr, seconds since the frame loop began); for finding where time to first audio goes.
bool stream_trace() {
  static const bool on = io::switch_on(io::Switch::kStreamTrace);
  return on;
}

void warn_replaced(int64_t replaced) {
  if (replaced > 0)
    std::fprintf(
        stderr,
        "warning: %lld code(s) outside the codec's codebook (special ids) were replaced by the previous frame's\n",
        static_cast<long long>(replaced));
}

// While the codec streams beside the frame loop, its GEMMs leave 30 % of the SMs to the
// loop's kernels (runtime::leave_sms_free; HEARTMULA_CODEC_SM_FREE=N, 0 = all SMs): on the
// H100 the loop ran 9.7 % slower beside the codec instead of 10.3 %, each window's flow
// matching 0.134 s instead of 0.115 s (docs/performance.md "Streaming").
std::shared_ptr<void> beside_the_loop(c10::Device codec_device) {
  return leave_sms_free(codec_device, codec_sm_free());
}

}  // namespace

int64_t sanitize_codes(at::Tensor& frames, int64_t codebook_size) {
  auto acc = frames.accessor<int64_t, 2>();
  int64_t replaced = 0;
  for (int64_t t = 0; t < frames.size(0); ++t)
    for (int64_t c = 0; c < frames.size(1); ++c)
      if (acc[t][c] < 0 || acc[t][c] >= codebook_size) {
        acc[t][c] = t > 0 ? acc[t - 1][c] : 0;
        ++replaced;
      }
  return replaced;
}

int64_t sanitize_codes_after(at::Tensor& frames, const at::Tensor& prev, int64_t codebook_size) {
  if (!prev.defined()) return sanitize_codes(frames, codebook_size);
  at::Tensor both = at::cat({prev, frames}, 0);
  const int64_t replaced = sanitize_codes(both, codebook_size);
  frames = both.narrow(0, 1, frames.size(0)).clone();
  return replaced;
}

struct OutputPipeline::Song {
  const SongRequest* request = nullptr;
  SongResult* result = nullptr;
  size_t index = 0;                               // in the caller's request list
  at::Tensor frames;                              // all its frames, once it has ended (no worker)
  std::unique_ptr<codec::StreamDecoder> decoder;  // --stream
  std::unique_ptr<io::AudioWriter> writer;        // --stream
  at::Tensor last;                                // --stream: the last frame decoded (sanitized) [1, N]
  int64_t replaced = 0;                           // codes replaced by sanitizing
  int64_t samples = 0;                            // written, per channel
  SongOutcome outcome;

  bool streamed(const ModelSettings& s) const { return request->streamed(s); }
};

OutputPipeline::OutputPipeline(ModelSession& session) : session_(session) {}
OutputPipeline::~OutputPipeline() = default;

Worker& OutputPipeline::worker() {
  if (!worker_) worker_ = std::make_unique<Worker>(session_.codec_device());
  return *worker_;
}

std::unique_ptr<io::AudioWriter> OutputPipeline::open_writer(const SongRequest& r, uint64_t seed) const {
  io::AudioWriteOptions ao;
  ao.sample_rate = static_cast<int>(session_.codec().sample_rate());
  ao.mp3_bitrate_kbps = r.mp3_bitrate_kbps;
  ao.mp3_lame_tag = r.mp3_lame_tag;
  ao.title = "heartmula-gen song (seed " + std::to_string(seed) + ")";
  ao.comment = "tags: " + r.tags.substr(0, 200);
  if (r.save_path == "-")
    return io::AudioWriter::open_stdout(r.stdout_format == "wav" ? io::AudioFormat::Wav : io::AudioFormat::Mp3, ao);
  return io::AudioWriter::open(r.save_path, ao, r.overwrite);
}

void OutputPipeline::save_codes(const SongRequest& r, const at::Tensor& frames, SongResult& res) const {
  if (r.codes_out.empty()) return;
  io::save_tensors(r.codes_out, {{"frames", frames.contiguous()}},
                   {{"seed", std::to_string(res.seed)}, {"producer", "heartmula-gen " HEARTMULA_VERSION}});
  res.codes_path = r.codes_out;
}

void OutputPipeline::finish_song(const SongRequest& r, const at::Tensor& frames, SongResult& res,
                                 Clock::time_point t_ready) {
  Timings& tm = res.timings;
  tm.frames = frames.size(0);
  save_codes(r, frames, res);
  if (r.no_audio) {
    tm.audio_s = static_cast<double>(tm.frames) * codec::kFrameSeconds;
    return;
  }
  if (frames.size(0) == 0) throw Error("no frames were generated; nothing to save");
  if (session_.settings().lazy_load) session_.unload_mula(false);
  session_.ensure_codec();
  const codec::HeartCodec& codec = session_.codec();
  const c10::Device dev = session_.codec_device();
  at::Tensor codes = frames.clone();
  warn_replaced(sanitize_codes(codes, codec.config().codebook_size));
  auto t_codec = Clock::now();
  reset_peak_memory(dev);
  at::Tensor wav = codec.detokenize(codes.t().contiguous().to(dev), session_.detokenize_options(r, res.seed));
  tm.peak_codec_bytes = peak_memory_bytes(dev);
  tm.codec_s = seconds_since(t_codec);

  auto t_enc = Clock::now();
  wav = wav.to(at::kCPU, at::kFloat).contiguous();
  auto writer = open_writer(r, res.seed);
  writer->write_planar(wav.data_ptr<float>(), wav.data_ptr<float>() + wav.size(1), static_cast<size_t>(wav.size(1)));
  writer->finish();
  tm.encode_s = seconds_since(t_enc);
  tm.first_audio_s = seconds_since(t_ready);
  tm.audio_s = static_cast<double>(wav.size(1)) / static_cast<double>(codec.sample_rate());
  res.save_path = r.save_path;
}

void OutputPipeline::write_samples(Song& o, const at::Tensor& audio, Clock::time_point t_ready) {
  const int64_t m = audio.size(1);
  if (m == 0) return;
  auto t = Clock::now();
  const float* p = audio.data_ptr<float>();
  o.writer->write_planar(p, p + m, static_cast<size_t>(m));
  Timings& tm = o.result->timings;
  tm.encode_s += seconds_since(t);
  if (o.samples == 0) tm.first_audio_s = seconds_since(t_ready);
  o.samples += m;
}

void OutputPipeline::stream_frames(Song& o, const at::Tensor& frames, Clock::time_point t_ready) {
  if (o.outcome.error) return;
  try {
    const codec::HeartCodec& codec = session_.codec();
    if (!o.decoder) {
      o.writer = open_writer(*o.request, o.result->seed);
      o.decoder =
          std::make_unique<codec::StreamDecoder>(codec, session_.detokenize_options(*o.request, o.result->seed));
    }
    at::Tensor codes = frames.clone();
    o.replaced += sanitize_codes_after(codes, o.last, codec.config().codebook_size);
    o.last = codes.narrow(0, codes.size(0) - 1, 1).clone();
    auto t = Clock::now();
    at::Tensor audio;
    const size_t windows_before = o.decoder->windows_decoded();
    {
      const WorkerDeviceWork exclusive;
      const auto sms = beside_the_loop(session_.codec_device());
      audio = o.decoder->push(codes.t().contiguous());
    }
    o.result->timings.codec_s += seconds_since(t);
    if (stream_trace() && o.decoder->windows_decoded() > windows_before)
      std::fprintf(stderr, "heartmula trace %8.3f s: song %zu: %lld frames in, windows %zu..%zu decoded in %.3f s\n",
                   seconds_since(t_ready), o.index, static_cast<long long>(o.decoder->codes()), windows_before,
                   o.decoder->windows_decoded() - 1, seconds_since(t));
    write_samples(o, audio, t_ready);
  } catch (...) {
    o.outcome.error = std::current_exception();
  }
}

void OutputPipeline::stream_end(Song& o, const at::Tensor& frames, Clock::time_point t_ready) {
  const SongRequest& r = *o.request;
  SongResult& res = *o.result;
  res.timings.frames = frames.size(0);
  try {
    save_codes(r, frames, res);
  } catch (...) {
    if (!o.outcome.error) o.outcome.error = std::current_exception();
  }
  if (o.outcome.error) return;
  try {
    if (!o.decoder || frames.size(0) == 0) throw Error("no frames were generated; nothing to save");
    auto t = Clock::now();
    at::Tensor audio;
    {
      const WorkerDeviceWork exclusive;
      const auto sms = beside_the_loop(session_.codec_device());
      audio = o.decoder->finish();
    }
    res.timings.codec_s += seconds_since(t);
    write_samples(o, audio, t_ready);
    t = Clock::now();
    o.writer->finish();
    res.timings.encode_s += seconds_since(t);
    res.timings.peak_codec_bytes = peak_memory_bytes(session_.codec_device());
    res.timings.audio_s = static_cast<double>(o.samples) / static_cast<double>(session_.codec().sample_rate());
    res.save_path = r.save_path;
    warn_replaced(o.replaced);
  } catch (...) {
    o.outcome.error = std::current_exception();
  }
}

void OutputPipeline::end_song(Song& o, const at::Tensor& frames, Clock::time_point t_ready) {
  if (o.streamed(session_.settings())) {
    stream_end(o, frames, t_ready);
  } else {
    try {
      const WorkerDeviceWork exclusive;
      finish_song(*o.request, frames, *o.result, t_ready);
    } catch (...) {
      o.outcome.error = std::current_exception();
    }
  }
  o.outcome.done_at = Clock::now();
  o.writer.reset();
  o.decoder.reset();
}

OutputBatch::OutputBatch(OutputPipeline& pipeline, const std::vector<const SongRequest*>& songs,
                         const std::vector<SongResult*>& results, const std::vector<size_t>& indices, bool on_worker,
                         SongSavedFn saved)
    : pipe_(pipeline),
      worker_(on_worker ? &pipeline.worker() : nullptr),
      saved_(std::move(saved)),
      drain_on_exit_(worker_) {
  for (size_t i = 0; i < songs.size(); ++i) {
    auto s = std::make_unique<OutputPipeline::Song>();
    s->request = songs[i];
    s->result = results[i];
    s->index = indices[i];
    songs_.push_back(std::move(s));
  }
}

OutputBatch::~OutputBatch() = default;  // drain_on_exit_ waits first

void OutputBatch::frames(size_t s, const at::Tensor& f) {
  OutputPipeline::Song* o = songs_.at(s).get();
  if (!worker_ || !o->streamed(pipe_.session_.settings())) return;
  if (stream_trace())
    std::fprintf(stderr, "heartmula trace %8.3f s: song %zu: %lld frames handed to the codec worker\n",
                 seconds_since(t_ready_), s, static_cast<long long>(f.size(0)));
  const Clock::time_point t0 = t_ready_;
  OutputPipeline* pipe = &pipe_;
  worker_->post([pipe, o, f, t0] { pipe->stream_frames(*o, f, t0); });
}

void OutputBatch::song_ended(size_t s, const at::Tensor& frames) {
  OutputPipeline::Song* o = songs_.at(s).get();
  o->frames = frames;
  if (!worker_) return;
  const Clock::time_point t0 = t_ready_;
  OutputPipeline* pipe = &pipe_;
  const SongSavedFn* saved = &saved_;
  worker_->post([pipe, o, frames, t0, saved] {
    pipe->end_song(*o, frames, t0);
    if (!o->outcome.error && *saved) (*saved)(o->index, *o->result);
  });
}

void OutputBatch::warm_up(const codec::DetokenizeOptions& options, bool streaming) {
  if (!worker_) return;
  std::vector<SongResult*> results;
  for (const auto& s : songs_) results.push_back(s->result);
  const Clock::time_point t0 = t_ready_;
  ModelSession* session = &pipe_.session();
  worker_->post([session, options, results, streaming, t0] {
    try {
      const WorkerDeviceWork exclusive;
      const auto sms = streaming ? beside_the_loop(session->codec_device()) : nullptr;  // the song's graph keeps it
      const double s = session->codec().warm_up(options);
      for (SongResult* res : results) res->timings.codec_warmup_s = s;
      if (stream_trace())
        std::fprintf(stderr, "heartmula trace %8.3f s: codec warm-up done (%.3f s)\n", seconds_since(t0), s);
    } catch (const std::exception&) {  // the first window meets the same error and reports it
    }
  });
}

void OutputBatch::drain() {
  if (worker_) worker_->wait();
}

std::vector<SongOutcome> OutputBatch::finish() {
  drain();
  std::vector<SongOutcome> outcomes;
  for (auto& o : songs_) {
    if (!worker_) {  // lazy load: after the loop, one by one
      try {
        pipe_.finish_song(*o->request, o->frames, *o->result, t_ready_);
      } catch (...) {
        o->outcome.error = std::current_exception();
      }
      o->outcome.done_at = Clock::now();
      if (!o->outcome.error && saved_) saved_(o->index, *o->result);
    }
    outcomes.push_back(o->outcome);
  }
  return outcomes;
}

}  // namespace heartmula::runtime
