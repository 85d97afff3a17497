// The generation pipeline behind heartmula-gen: tokenize -> LM frame loop -> codec -> file.
#include "heartmula/generator.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <filesystem>
#include <optional>
#include <string>

#include "codec/heartcodec.h"
#include "codec/windows.h"
#include "codec/stream_decoder.h"
#include "heartmula/error.h"
#include "io/audio_writer.h"
#include "io/env.h"
#include "io/torch_tensors.h"
#include "io/weight_binder.h"
#include "codec/config.h"
#include "model/config.h"
#include "model/heartmula.h"
#include "model/prompt.h"
#include "runtime/device.h"
#include "runtime/frame_loop.h"
#include "runtime/process_clock.h"
#include "runtime/sampler.h"
#include "runtime/step_graphs.h"
#include "runtime/worker.h"
#include "text/tokenizer.h"

namespace fs = std::filesystem;

namespace heartmula {

namespace {

using Clock = std::chrono::steady_clock;
// HEARTMULA_STREAM_TRACE=1: when frames reach the codec worker and when its windows come out
// (stderr, seconds since the frame loop began); for finding where time to first audio goes.
bool stream_trace() {
  static const bool on = io::env_flag("HEARTMULA_STREAM_TRACE");
  return on;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}


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

// Codes the LM may emit that the codec has no entry for (upstream lets them through: the
// special ids below audio_eos_id). Each is replaced by the previous frame's code of its
// codebook (0 in the first frame). Returns how many were replaced.
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

// sanitize_codes for frames [n, N] that follow `prev` ([1, N], already sanitized; undefined
// before the first frame): the same result as sanitizing all frames at once.
int64_t sanitize_codes_after(at::Tensor& frames, const at::Tensor& prev, int64_t codebook_size) {
  if (!prev.defined()) return sanitize_codes(frames, codebook_size);
  at::Tensor both = at::cat({prev, frames}, 0);
  const int64_t replaced = sanitize_codes(both, codebook_size);
  frames = both.narrow(0, 1, frames.size(0)).clone();
  return replaced;
}

// Songs may share one LM batch when these agree (prompts, seeds and lengths may differ).
bool same_lm_settings(const SongRequest& a, const SongRequest& b) {
  return a.temperature == b.temperature && a.temperature_end == b.temperature_end &&
         a.temperature_shape == b.temperature_shape && a.topk == b.topk && a.cfg_scale == b.cfg_scale &&
         a.ignore_eos == b.ignore_eos;
}

// One song of a batch on its way to its file (its codec side runs on the codec worker).
struct SongOutput {
  const SongRequest* request = nullptr;
  SongResult* result = nullptr;
  size_t index = 0;                                // in the caller's request list
  at::Tensor frames;                               // all its frames, once it has ended
  std::unique_ptr<codec::StreamDecoder> decoder;   // --stream
  std::unique_ptr<io::AudioWriter> writer;         // --stream
  at::Tensor last;                                 // --stream: the last frame decoded (sanitized) [1, N]
  int64_t replaced = 0;                            // codes replaced by sanitizing
  int64_t samples = 0;                             // written, per channel
  std::exception_ptr error;
  Clock::time_point done_at = Clock::now();
};

struct SongOutcome {
  std::exception_ptr error;
  Clock::time_point done_at;
};

// Indices of `requests` in batches, in order of first appearance: LM songs with the same
// settings together, each codes-in request alone.
std::vector<std::vector<size_t>> batch_groups(const std::vector<SongRequest>& requests) {
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < requests.size(); ++i) {
    const SongRequest& r = requests[i];
    auto joins = [&](const std::vector<size_t>& g) {
      const SongRequest& first = requests[g.front()];
      return r.codes_in.empty() && first.codes_in.empty() && same_lm_settings(first, r);
    };
    auto it = std::find_if(groups.begin(), groups.end(), joins);
    if (it == groups.end()) groups.push_back({i});
    else it->push_back(i);
  }
  return groups;
}

}  // namespace

std::string validate_checkpoint(const ModelSettings& s) {
  c10::InferenceMode guard;
  check_model_folder(s);
  const fs::path root(s.model_path);
  std::string report;
  auto gb = [](size_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f GB", static_cast<double>(bytes) / 1e9);
    return std::string(buf);
  };
  if (s.need_lm) {
    const std::string dir = (root / ("HeartMuLa-oss-" + s.version)).string();
    model::HeartMuLaModel m;
    m.config = model::HeartMuLaConfig::from_file(dir + "/config.json");
    model::GenConfig::from_file((root / "gen_config.json").string()).validate_against(m.config);
    io::Checkpoint ckpt = io::Checkpoint::open(dir);
    io::WeightBinder binder(ckpt, at::kFloat, at::kCPU);
    const bool stored_int8 = !m.config.quantization.empty();
    if (stored_int8) m.weights = model::WeightQuant::Int8;
    m.declare(binder, stored_int8);
    binder.check();
    auto tok = text::Tokenizer::from_file((root / "tokenizer.json").string());
    report += "language model " + dir + ": " + std::to_string(binder.declarations().size()) + " tensors, " +
              std::to_string(ckpt.files().size()) + " file(s), " + gb(ckpt.total_bytes()) + ": OK\n";
    report += "tokenizer " + (root / "tokenizer.json").string() + ": " + std::to_string(tok.vocab_size()) +
              " tokens: OK\n";
  }
  if (s.need_codec) {
    const std::string dir = (root / "HeartCodec-oss").string();
    auto cfg = codec::HeartCodecConfig::from_file(dir + "/config.json");
    io::Checkpoint ckpt = io::Checkpoint::open(dir);
    io::WeightBinder binder(ckpt, at::kFloat, at::kCPU);
    std::vector<at::Tensor> slots;
    const auto decls = codec::HeartCodec::declarations(cfg);
    slots.resize(decls.size());
    for (size_t i = 0; i < decls.size(); ++i) binder.expect(decls[i].key, decls[i].shape, &slots[i]);
    binder.check();
    report += "codec " + dir + ": " + std::to_string(decls.size()) + " tensors, " +
              std::to_string(ckpt.files().size()) + " file(s), " + gb(ckpt.total_bytes()) + ": OK\n";
  }
  return report;
}

struct Generator::Impl {
  ModelSettings settings;
  c10::Device mula_device{c10::kCPU}, codec_device{c10::kCPU};
  model::LmPrecision mula_precision;
  codec::CodecLoad codec_load;  // device and precision of the codec
  std::string mula_dir, codec_dir;

  std::optional<text::Tokenizer> tokenizer;
  std::optional<model::HeartMuLaConfig> mula_config;
  std::optional<model::GenConfig> gen_config;
  std::optional<model::HeartMuLaModel> mula;
  std::optional<codec::HeartCodec> codec;
  // The codec's Euler-solve graphs (null where the device has none): made with the codec, used
  // by one thread at a time (the codec worker, or this thread after the loop with --lazy-load).
  std::shared_ptr<codec::SolverGraphs> codec_graphs;
  double load_s = 0;           // loading time so far
  double load_reported = 0;    // part of it already reported with an earlier song
  Timings loading, loading_reported;  // its parts (device_init_s, lm_load_s, codec_load_s), the same way
  std::vector<c10::Device> devices_ready;  // contexts made (init_device)
  Clock::time_point t_ready = Clock::now();  // the batch's start (weights loaded): first_audio_s counts from it
  // The codec worker: decodes and saves songs beside the frame loop (made on first use;
  // declared last, so it is joined before the models go).
  std::unique_ptr<runtime::Worker> worker;

  runtime::Worker& codec_worker() {
    if (!worker) worker = std::make_unique<runtime::Worker>(codec_device);
    return *worker;
  }

  void resolve() {
    const std::string& md = settings.mula_device.empty() ? settings.device : settings.mula_device;
    const std::string& cd = settings.codec_device.empty() ? settings.device : settings.codec_device;
    mula_device = runtime::parse_device(md, settings.mula_device.empty() ? "--device" : "--mula-device");
    codec_device = runtime::parse_device(cd, settings.codec_device.empty() ? "--device" : "--codec-device");
    mula_precision = settings.mula_dtype.empty() ? model::LmPrecision{runtime::default_lm_dtype(mula_device)}
                                                 : model::parse_lm_precision(settings.mula_dtype);
    codec_load = codec::CodecLoad::parse(settings.codec_dtype, codec_device);
    mula_dir = (fs::path(settings.model_path) / ("HeartMuLa-oss-" + settings.version)).string();
    codec_dir = (fs::path(settings.model_path) / "HeartCodec-oss").string();
    if (settings.threads > 0) at::set_num_threads(settings.threads);
  }

  void load_light() {
    if (!settings.need_lm || tokenizer) return;
    tokenizer = text::Tokenizer::from_file((fs::path(settings.model_path) / "tokenizer.json").string());
    mula_config = model::HeartMuLaConfig::from_file((fs::path(mula_dir) / "config.json").string());
    gen_config = model::GenConfig::from_file((fs::path(settings.model_path) / "gen_config.json").string());
    gen_config->validate_against(*mula_config);
  }

  // The device's context, timed on its own (device_init_s) before the first weights go there.
  void init_device(c10::Device d) {
    if (std::find(devices_ready.begin(), devices_ready.end(), d) != devices_ready.end()) return;
    devices_ready.push_back(d);
    const double s = runtime::init_device(d);
    load_s += s, loading.device_init_s += s;
  }

  void ensure_mula() {
    if (mula) return;
    load_light();
    init_device(mula_device);
    auto t0 = Clock::now();
    model::LoadStats stats;
    mula.emplace(model::HeartMuLaModel::load(mula_dir, mula_precision, mula_device, &stats));
    runtime::synchronize(mula_device);
    const double s = seconds_since(t0);
    loading.lm_load_s += s, load_s += s;
    if (!stats.unexpected.empty())
      std::fprintf(stderr, "warning: %zu tensor(s) in %s are not used by the model (first: %s)\n",
                   stats.unexpected.size(), mula_dir.c_str(), stats.unexpected.front().c_str());
  }

  void ensure_codec() {
    if (codec) return;
    init_device(codec_device);
    auto t0 = Clock::now();
    codec.emplace(codec::HeartCodec::load(codec_dir, codec_load));
    codec_graphs = runtime::make_codec_graphs(codec_device);
    runtime::synchronize(codec_device);
    const double s = seconds_since(t0);
    loading.codec_load_s += s, load_s += s;
  }

  // --lazy-load: frees the LM and its cached device memory before the codec runs.
  void unload_mula(bool quiet) {
    if (!mula) return;
    const uint64_t before = runtime::current_memory_bytes(mula_device);
    mula.reset();
    runtime::release_cached_memory(mula_device);
    const uint64_t after = runtime::current_memory_bytes(mula_device);
    if (!quiet && !mula_device.is_cpu())
      std::fprintf(stderr, "lazy load: freed %.2f GB of %s memory held by the language model\n",
                   static_cast<double>(before > after ? before - after : 0) / 1e9, mula_device.str().c_str());
  }

  model::Prompt prompt_for(const SongRequest& r) {
    load_light();
    return model::build_prompt(r.tags, r.lyrics, *tokenizer, *gen_config, mula_config->audio_num_codebooks);
  }

  // Per-song frame limits may differ within a batch; the loop runs to the longest.
  static int64_t song_frames(const SongRequest& r) { return runtime::frames_for_duration(r.max_audio_length_ms); }

  // The audio writer for a song: its file, or stdout for "-".
  std::unique_ptr<io::AudioWriter> open_writer(const SongRequest& r, uint64_t seed) const {
    io::AudioWriteOptions ao;
    ao.sample_rate = static_cast<int>(codec->sample_rate());
    ao.mp3_bitrate_kbps = r.mp3_bitrate_kbps;
    ao.title = "heartmula-gen song (seed " + std::to_string(seed) + ")";
    ao.comment = "tags: " + r.tags.substr(0, 200);
    if (r.save_path == "-")
      return io::AudioWriter::open_stdout(r.stdout_format == "wav" ? io::AudioFormat::Wav : io::AudioFormat::Mp3, ao);
    return io::AudioWriter::open(r.save_path, ao, r.overwrite);
  }

  void save_codes(const SongRequest& r, const at::Tensor& frames, SongResult& res) {
    if (r.codes_out.empty()) return;
    io::save_tensors(r.codes_out, {{"frames", frames.contiguous()}},
                     {{"seed", std::to_string(res.seed)}, {"producer", "heartmula-gen " HEARTMULA_VERSION}});
    res.codes_path = r.codes_out;
  }

  static void warn_replaced(int64_t replaced) {
    if (replaced > 0)
      std::fprintf(stderr, "warning: %lld code(s) outside the codec's codebook (special ids) were replaced by the previous frame's\n",
                   static_cast<long long>(replaced));
  }

  // Appends planar audio [2, m] to the song's writer; the first samples set first_audio_s.
  void write_samples(SongOutput& o, const at::Tensor& audio) {
    const int64_t m = audio.size(1);
    if (m == 0) return;
    auto t = Clock::now();
    const float* p = audio.data_ptr<float>();
    o.writer->write_planar(p, p + m, static_cast<size_t>(m));
    Timings& tm = o.result->timings;
    tm.encode_s += seconds_since(t);
    if (o.samples == 0) tm.first_audio_s = std::chrono::duration<double>(Clock::now() - t_ready).count();
    o.samples += m;
  }

  // --stream, on the codec worker: a song's next frames [n, N] -> the windows now complete ->
  // the samples that are final -> its file.
  void stream_frames(SongOutput& o, const at::Tensor& frames) {
    if (o.error) return;
    try {
      const SongRequest& r = *o.request;
      if (!o.decoder) {
        o.writer = open_writer(r, o.result->seed);
        codec::DetokenizeOptions co;
        co.steps = r.codec_steps;
        co.guidance = r.codec_guidance;
        co.seed = o.result->seed;
        co.graphs = codec_graphs;
        o.decoder = std::make_unique<codec::StreamDecoder>(*codec, co);
      }
      at::Tensor codes = frames.clone();
      o.replaced += sanitize_codes_after(codes, o.last, codec->config().codebook_size);
      o.last = codes.narrow(0, codes.size(0) - 1, 1).clone();
      auto t = Clock::now();
      at::Tensor audio;
      const size_t windows_before = o.decoder->windows_decoded();
      {
        const std::lock_guard<std::mutex> exclusive(runtime::capture_lock());  // not while the LM captures a graph
        const auto sms = beside_the_loop();
        audio = o.decoder->push(codes.t().contiguous());
      }
      o.result->timings.codec_s += seconds_since(t);
      if (stream_trace() && o.decoder->windows_decoded() > windows_before)
        std::fprintf(stderr, "heartmula trace %8.3f s: song %zu: %lld frames in, windows %zu..%zu decoded in %.3f s\n",
                     seconds_since(t_ready), o.index, static_cast<long long>(o.decoder->codes()), windows_before,
                     o.decoder->windows_decoded() - 1, seconds_since(t));
      write_samples(o, audio);
    } catch (...) {
      o.error = std::current_exception();
    }
  }

  // While the codec streams beside the frame loop, its GEMMs leave 30 % of the SMs to the
  // loop's kernels (runtime::leave_sms_free; HEARTMULA_CODEC_SM_FREE=N, 0 = all SMs): on the
  // H100 the loop ran 9.7 % slower beside the codec instead of 10.3 %, each window's flow
  // matching 0.134 s instead of 0.115 s (docs/performance.md "Streaming").
  std::shared_ptr<void> beside_the_loop() const { return runtime::leave_sms_free(codec_device, runtime::codec_sm_free()); }

  // --stream, on the codec worker: the song has ended; the last windows, then the file is done.
  void stream_end(SongOutput& o, const at::Tensor& frames) {
    const SongRequest& r = *o.request;
    SongResult& res = *o.result;
    res.timings.frames = frames.size(0);
    try {
      save_codes(r, frames, res);
    } catch (...) {
      if (!o.error) o.error = std::current_exception();
    }
    if (o.error) return;
    try {
      if (!o.decoder || frames.size(0) == 0) throw Error("no frames were generated; nothing to save");
      auto t = Clock::now();
      at::Tensor audio;
      {
        const std::lock_guard<std::mutex> exclusive(runtime::capture_lock());
        const auto sms = beside_the_loop();
        audio = o.decoder->finish();
      }
      res.timings.codec_s += seconds_since(t);
      write_samples(o, audio);
      t = Clock::now();
      o.writer->finish();
      res.timings.encode_s += seconds_since(t);
      res.timings.peak_codec_bytes = runtime::peak_memory_bytes(codec_device);
      res.timings.audio_s = static_cast<double>(o.samples) / static_cast<double>(codec->sample_rate());
      res.save_path = r.save_path;
      warn_replaced(o.replaced);
    } catch (...) {
      o.error = std::current_exception();
    }
  }

  // On the codec worker: a song has ended -> its codes file, audio and file.
  void end_song(SongOutput& o, const at::Tensor& frames) {
    if (o.request->streamed(settings)) {
      stream_end(o, frames);
    } else {
      try {
        const std::lock_guard<std::mutex> exclusive(runtime::capture_lock());
        finish_song(*o.request, frames, *o.result);
      } catch (...) {
        o.error = std::current_exception();
      }
    }
    o.done_at = Clock::now();
    o.writer.reset();
    o.decoder.reset();
  }

  // Runs songs that share their LM settings (see same_lm_settings) as one batch through the
  // frame loop. Each song is finished (codes file, codec, audio file) as soon as it ends, on
  // the codec worker while the others go on (with `stream`: its windows while it is made);
  // with lazy_load after the loop, one by one. Fills each result; returns each song's outcome
  // (its error, when its file was done).
  std::vector<SongOutcome> run_batch(const std::vector<const SongRequest*>& songs, const std::vector<SongResult*>& out,
                                     const std::vector<size_t>& indices, const ProgressFn& progress,
                                     const StopFn& stop, const SongSavedFn& saved) {
    bool any_audio = false, any_stream = false;
    for (const SongRequest* s : songs) {
      any_audio = any_audio || !s->no_audio;
      any_stream = any_stream || s->streamed(settings);  // the decision: SongRequest::streamed
    }
    ensure_mula();
    const bool early = !settings.lazy_load;  // finish songs on the worker as they end
    if (early && any_audio) ensure_codec();
    const SongRequest& r = *songs.front();
    std::vector<model::Prompt> prompts;
    std::vector<uint64_t> seeds;
    int64_t longest = 0;
    runtime::FrameLoopOptions fo;
    for (size_t i = 0; i < songs.size(); ++i) {
      prompts.push_back(prompt_for(*songs[i]));
      seeds.push_back(out[i]->seed);
      longest = std::max(longest, prompts.back().length());
      fo.song_max_frames.push_back(song_frames(*songs[i]));
      fo.max_frames = std::max(fo.max_frames, fo.song_max_frames.back());
    }
    runtime::SamplingParams sp;
    sp.temperature = r.temperature;
    sp.temperature_end = r.temperature_end, sp.temperature_shape = r.temperature_shape;
    sp.topk = r.topk;
    sp.cfg_scale = r.cfg_scale;
    sp.seed = seeds.front();
    sp.validate();
    fo.ignore_eos = r.ignore_eos;
    fo.use_graphs = true;  // where the device has graphs (HEARTMULA_NO_GRAPHS=1 turns them off)
    runtime::check_context(*mula, longest, fo.max_frames);

    std::vector<SongOutput> outs(songs.size());
    for (size_t i = 0; i < songs.size(); ++i) {
      outs[i].request = songs[i];
      outs[i].result = out[i];
      outs[i].index = indices[i];
    }
    runtime::Worker* w = early ? &codec_worker() : nullptr;
    const int64_t batch = static_cast<int64_t>(songs.size());
    if (w && any_stream)  // the first window's 372 frames go to the codec at once
      fo.frames_first = static_cast<int64_t>(codec::kWindowSeconds * codec::kCodeRate);
    if (w && any_stream)
      fo.on_frames = [&, w](int64_t s, const at::Tensor& f) {
        SongOutput* o = &outs[static_cast<size_t>(s)];
        if (!o->request->streamed(settings)) return;
        if (stream_trace())
          std::fprintf(stderr, "heartmula trace %8.3f s: song %lld: %lld frames handed to the codec worker\n",
                       seconds_since(t_ready), static_cast<long long>(s), static_cast<long long>(f.size(0)));
        w->post([this, o, f] { stream_frames(*o, f); });
      };
    fo.on_song_end = [&, w](int64_t s, const runtime::FrameLoopResult& fr) {
      SongOutput* o = &outs[static_cast<size_t>(s)];
      SongResult& res = *o->result;
      res.stopped_at_eos = fr.stopped_at_eos;
      res.interrupted = fr.interrupted;
      Timings& tm = res.timings;
      tm.frames_planned = fo.song_max_frames[static_cast<size_t>(s)];
      tm.prompt_len = fr.prompt_len;
      tm.prompt_s = fr.prefill_seconds;
      tm.frames_s = fr.frame_seconds;
      tm.batch_songs = batch;
      o->frames = fr.frames;
      if (!w) return;
      const at::Tensor frames = fr.frames;
      w->post([this, o, frames, &saved] {
        end_song(*o, frames);
        if (!o->error && saved) saved(o->index, *o->result);
      });
    };
    auto t_loop = Clock::now();
    std::function<void()> post_warm_up;  // set below when the codec warms up beside the loop
    fo.on_frame = [&](int64_t done, int64_t planned) {
      // After the frame loop's second frame, whose graph is captured by then: the warm-up holds
      // capture_lock() (its device work must not meet the frame loop's capture), and the loop's
      // first capture would otherwise wait for it.
      if (post_warm_up && done >= 2) {
        post_warm_up();
        post_warm_up = nullptr;
      }
      if (progress) progress(done, planned, seconds_since(t_loop));
      return !(stop && stop());
    };
    t_ready = Clock::now();
    // Windows decoded beside the LM on a GPU: a first window on the worker's thread and stream
    // (loads kernels, creates the thread's cuBLAS/cuDNN handles, fills the stream's allocator
    // cache) while the LM makes its first frames, so that the song's first window does not pay
    // for it (HeartCodec::warm_up). Queued after the loop's second frame (see on_frame), long
    // before a song's first window (372 frames); a failure here is left to the song's own first
    // window to report. (HEARTMULA_NO_CODEC_WARMUP=1 skips it.)
    if (w && codec_device.type() != c10::kCPU && (any_stream || (any_audio && songs.size() > 1)) &&
        !io::env_flag("HEARTMULA_NO_CODEC_WARMUP")) {
      codec::DetokenizeOptions wo;
      wo.steps = r.codec_steps;
      wo.guidance = r.codec_guidance;
      wo.graphs = codec_graphs;
      const bool streaming = any_stream;
      post_warm_up = [this, w, wo, out, streaming] {
        w->post([this, wo, out, streaming] {
          try {
            const std::lock_guard<std::mutex> exclusive(runtime::capture_lock());
            const auto sms = streaming ? beside_the_loop() : nullptr;  // the song's graph keeps it
            const double s = codec->warm_up(wo);
            for (SongResult* res : out) res->timings.codec_warmup_s = s;
            if (stream_trace())
              std::fprintf(stderr, "heartmula trace %8.3f s: codec warm-up done (%.3f s)\n", seconds_since(t_ready), s);
          } catch (const std::exception&) {  // the first window meets the same error and reports it
          }
        });
      };
    }
    runtime::reset_peak_memory(mula_device);
    std::vector<runtime::FrameLoopResult> fr;
    try {
      // HEARTMULA_STREAM_PRIORITY=lm: the frame loop on a high-priority stream of its own while
      // the worker decodes beside it (joined back to the current stream when the loop ends).
      const std::shared_ptr<void> lm_stream = w && runtime::stream_priority() == runtime::StreamPriority::lm
                                                  ? runtime::use_side_stream(mula_device, /*high_priority=*/true)
                                                  : nullptr;
      fr = runtime::run_frame_loop_batch(*mula, *gen_config, prompts, sp, seeds, fo);
    } catch (...) {
      if (w) w->wait();  // its jobs point at `outs`
      throw;
    }
    const uint64_t peak = runtime::peak_memory_bytes(mula_device);
    const auto t_loop_end = Clock::now();  // after_frames_s counts from here
    if (w) w->wait();
    std::vector<SongOutcome> outcomes(songs.size());
    for (size_t i = 0; i < songs.size(); ++i) {
      SongOutput& o = outs[i];
      o.result->timings.peak_mula_bytes = peak;
      o.result->timings.frames_s = fr[i].frame_seconds;  // the whole batch's loop
      o.result->timings.graph_capture_s = fr[i].capture_seconds;
      if (!w) {  // lazy_load: after the loop
        try {
          finish_song(*o.request, o.frames, *o.result);
        } catch (...) {
          o.error = std::current_exception();
        }
        o.done_at = Clock::now();
        if (!o.error && saved) saved(o.index, *o.result);
      }
      o.result->timings.after_frames_s = std::max(0.0, std::chrono::duration<double>(o.done_at - t_loop_end).count());
      outcomes[i].error = o.error;
      outcomes[i].done_at = o.done_at;
    }
    return outcomes;
  }

  // A song's frames -> its codes file (codes_out), the codec and its audio file. Fills the
  // result's paths, frames, codec/encode timings and audio_s.
  void finish_song(const SongRequest& r, const at::Tensor& frames, SongResult& res) {
    Timings& tm = res.timings;
    tm.frames = frames.size(0);
    save_codes(r, frames, res);
    if (r.no_audio) {
      tm.audio_s = static_cast<double>(tm.frames) * 0.08;
      return;
    }
    if (frames.size(0) == 0) throw Error("no frames were generated; nothing to save");
    if (settings.lazy_load) unload_mula(false);
    ensure_codec();
    at::Tensor codes = frames.clone();
    warn_replaced(sanitize_codes(codes, codec->config().codebook_size));
    auto t_codec = Clock::now();
    runtime::reset_peak_memory(codec_device);
    codec::DetokenizeOptions co;
    co.steps = r.codec_steps;
    co.guidance = r.codec_guidance;
    co.seed = res.seed;
    co.graphs = codec_graphs;
    at::Tensor wav = codec->detokenize(codes.t().contiguous().to(codec_device), co);
    tm.peak_codec_bytes = runtime::peak_memory_bytes(codec_device);
    tm.codec_s = seconds_since(t_codec);

    auto t_enc = Clock::now();
    wav = wav.to(at::kCPU, at::kFloat).contiguous();
    auto writer = open_writer(r, res.seed);
    writer->write_planar(wav.data_ptr<float>(), wav.data_ptr<float>() + wav.size(1), static_cast<size_t>(wav.size(1)));
    writer->finish();
    tm.encode_s = seconds_since(t_enc);
    tm.first_audio_s = std::chrono::duration<double>(Clock::now() - t_ready).count();
    tm.audio_s = static_cast<double>(wav.size(1)) / static_cast<double>(codec->sample_rate());
    res.save_path = r.save_path;
  }

  // Loading time not reported yet goes to this song; total_s = time since the call began (to
  // `t_end`, when its file was done) plus the loading done before it and not yet reported.
  void close_timings(Timings& tm, Clock::time_point t_start, double unreported, Clock::time_point t_end = Clock::now()) {
    tm.load_s = load_s - load_reported;
    tm.total_s = std::chrono::duration<double>(t_end - t_start).count() + unreported;
    load_reported = load_s;
    tm.device_init_s = loading.device_init_s - loading_reported.device_init_s;
    tm.lm_load_s = loading.lm_load_s - loading_reported.lm_load_s;
    tm.codec_load_s = loading.codec_load_s - loading_reported.codec_load_s;
    loading_reported = loading;
  }
};

Generator::Generator(ModelSettings settings) : impl_(std::make_unique<Impl>()) {
  settings.validate();
  impl_->settings = std::move(settings);
  impl_->resolve();
}

Generator::~Generator() = default;

const ModelSettings& Generator::settings() const { return impl_->settings; }

void Generator::check(const SongRequest& r) {
  c10::InferenceMode guard;
  r.validate();
  (void)r.streamed(impl_->settings);  // --stream with --lazy-load: before loading
  if (!impl_->settings.need_lm || !r.codes_in.empty()) return;
  model::Prompt prompt = impl_->prompt_for(r);
  const int64_t frames = runtime::frames_for_duration(r.max_audio_length_ms);
  const int64_t need = runtime::positions_needed(prompt.length(), frames);
  const int64_t have = impl_->mula_config->backbone.max_seq_len;
  if (need > have) {
    const int64_t fit_ms = std::max<int64_t>(0, (have - prompt.length()) * 80);
    throw UsageError("the song does not fit the model's context: the prompt takes " +
                     std::to_string(prompt.length()) + " positions and " + std::to_string(frames) +
                     " frames need " + std::to_string(need) + " of " + std::to_string(have) +
                     "; use --max-audio-length-ms " + std::to_string(fit_ms) + " or less (or shorter lyrics)");
  }
}

void Generator::load() {
  c10::InferenceMode guard;
  auto& s = impl_->settings;
  if (s.need_lm) impl_->ensure_mula();
  if (s.need_codec && !s.lazy_load) impl_->ensure_codec();
}

std::string Generator::describe() const {
  const auto& i = *impl_;
  std::string d = runtime::build_info() + "\n";
  d += "language model: " + i.mula_dir + " on " + runtime::device_info(i.mula_device).name + " (" +
       i.mula_device.str() + "), " + i.mula_precision.name() + "\n";
  d += "codec: " + i.codec_dir + " on " + runtime::device_info(i.codec_device).name + " (" +
       i.codec_device.str() + "), " + i.codec_load.label();
  return d;
}

SongResult Generator::generate(const SongRequest& r, const ProgressFn& progress, const StopFn& stop) {
  c10::InferenceMode guard;
  r.validate();
  auto& I = *impl_;
  const auto t_start = Clock::now();
  const double unreported = I.load_s - I.load_reported;  // loading before this call counts into its total
  SongResult res;
  res.seed = r.seed.value_or(0);
  if (!r.codes_in.empty()) {
    I.t_ready = Clock::now();
    I.finish_song(r, read_codes(r.codes_in), res);
    I.close_timings(res.timings, t_start, unreported);
    return res;
  }
  const std::vector<SongOutcome> outcome = I.run_batch({&r}, {&res}, {0}, progress, stop, {});
  if (outcome.front().error) std::rethrow_exception(outcome.front().error);
  I.close_timings(res.timings, t_start, unreported, outcome.front().done_at);
  return res;
}

namespace {
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

std::vector<SongResult> Generator::generate_many(const std::vector<SongRequest>& requests, const ProgressFn& progress,
                                                 const StopFn& stop, const SongSavedFn& saved) {
  c10::InferenceMode guard;
  for (const auto& r : requests) r.validate();
  auto& I = *impl_;
  const auto t_start = Clock::now();
  const double unreported = I.load_s - I.load_reported;
  std::vector<SongResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) results[i].seed = requests[i].seed.value_or(0);
  bool stopped = false;
  for (const std::vector<size_t>& group : batch_groups(requests)) {
    if (stopped) {
      for (size_t i : group) {
        results[i].interrupted = true;
        results[i].error = "interrupted before this song's batch started";
      }
      continue;
    }
    if (!requests[group.front()].codes_in.empty()) {  // alone, no LM
      const size_t i = group.front();
      try {
        I.t_ready = Clock::now();
        I.finish_song(requests[i], read_codes(requests[i].codes_in), results[i]);
        if (saved) saved(i, results[i]);
      } catch (const std::exception& e) {
        results[i].error = e.what();
      }
      I.close_timings(results[i].timings, t_start, unreported);
      continue;
    }
    std::vector<const SongRequest*> rs;
    std::vector<SongResult*> out;
    for (size_t i : group) {
      rs.push_back(&requests[i]);
      out.push_back(&results[i]);
    }
    const std::vector<SongOutcome> outcomes = I.run_batch(rs, out, group, progress, stop, saved);
    for (size_t k = 0; k < group.size(); ++k) {
      const size_t i = group[k];
      stopped = stopped || results[i].interrupted;
      if (outcomes[k].error) results[i].error = message_of(outcomes[k].error);
      I.close_timings(results[i].timings, t_start, unreported, outcomes[k].done_at);
    }
  }
  return results;
}

}  // namespace heartmula
