#include "runtime/report.h"

#include <chrono>
#include <utility>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "codec/windows.h"
#include "io/atomic_file.h"
#include "runtime/song_params.h"

namespace heartmula::runtime {

using json = nlohmann::ordered_json;

namespace {
constexpr double kPlainLineInterval = 5.0;  // seconds between plain progress lines

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
}  // namespace

ProgressPrinter::ProgressPrinter(bool quiet, FILE* out, std::string prefix)
    : quiet_(quiet), out_(out), tty_(isatty(fileno(out)) != 0), prefix_(std::move(prefix)) {}

void ProgressPrinter::update(int64_t done, int64_t planned, double elapsed_s) {
  if (quiet_) return;
  const bool last = done >= planned;
  if (!tty_ && !last && elapsed_s - last_print_ < kPlainLineInterval) return;
  if (tty_ && !last && elapsed_s - last_print_ < 0.1) return;
  last_print_ = elapsed_s;
  const double fps = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  const double eta = fps > 0 ? static_cast<double>(planned - done) / fps : 0.0;
  char line[160];
  std::snprintf(line, sizeof line, "%sframes %lld/%lld | %.1f frames/s | %.1f s of audio | ETA %.0f s", prefix_.c_str(),
                static_cast<long long>(done), static_cast<long long>(planned), fps,
                static_cast<double>(done) * codec::kFrameSeconds, eta);
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s", line);
    dirty_ = true;
  } else {
    std::fprintf(out_, "%s\n", line);
  }
  std::fflush(out_);
}

void ProgressPrinter::finish() {
  if (dirty_) std::fprintf(out_, "\n");
  dirty_ = false;
}

std::string format_timings(const Timings& t) {
  std::string s;
  auto line = [&](const std::string& l) { s += l + "\n"; };
  line("timings:");
  line("  load time    = " + fmt("%9.2f", t.load_s * 1000) + " ms");
  line("  prompt time  = " + fmt("%9.2f", t.prompt_s * 1000) + " ms (" + std::to_string(t.prompt_len) + " positions)");
  line("  frames time  = " + fmt("%9.2f", t.frames_s * 1000) + " ms / " + std::to_string(t.frames) + " frames (" +
       fmt("%.2f", t.ms_per_frame()) + " ms per frame, " + fmt("%.2f", t.frames_per_s()) + " frames/s)" +
       (t.batch_songs > 1 ? ", in a batch of " + std::to_string(t.batch_songs) + " songs" : ""));
  line("  codec time   = " + fmt("%9.2f", t.codec_s * 1000) + " ms");
  line("  encode time  = " + fmt("%9.2f", t.encode_s * 1000) + " ms");
  line("  total time   = " + fmt("%9.2f", t.total_s * 1000) + " ms");
  line("  after frames = " + fmt("%9.2f", t.after_frames_s * 1000) + " ms (the last frame to the file complete)");
  if (t.first_audio_s > 0) line("  first audio  = " + fmt("%9.2f", t.first_audio_s * 1000) + " ms after loading");
  line("  audio        = " + fmt("%.2f", t.audio_s) + " s, RTF = " + fmt("%.3f", t.rtf()));
  if (t.peak_mula_bytes || t.peak_codec_bytes)
    line("  peak memory  = LM " + fmt("%.2f", static_cast<double>(t.peak_mula_bytes) / 1e9) + " GB, codec " +
         fmt("%.2f", static_cast<double>(t.peak_codec_bytes) / 1e9) + " GB");
  return s;
}

namespace {
json timings_json(const Timings& t) {
  return {{"load_s", t.load_s},
          {"prompt_s", t.prompt_s},
          {"frames_s", t.frames_s},
          {"batch_songs", t.batch_songs},
          {"codec_s", t.codec_s},
          {"encode_s", t.encode_s},
          {"total_s", t.total_s},
          {"first_audio_s", t.first_audio_s},
          {"codec_warmup_s", t.codec_warmup_s},
          {"frames", t.frames},
          {"frames_planned", t.frames_planned},
          {"prompt_len", t.prompt_len},
          {"ms_per_frame", t.ms_per_frame()},
          {"frames_per_s", t.frames_per_s()},
          {"audio_s", t.audio_s},
          {"rtf", t.rtf()},
          {"peak_mula_bytes", t.peak_mula_bytes},
          {"peak_codec_bytes", t.peak_codec_bytes},
          // The wall-time breakdown (scripts/wall-time.sh, docs/performance.md).
          {"process_s", t.process_s},
          {"setup_s", t.setup_s},
          {"device_init_s", t.device_init_s},
          {"lm_load_s", t.lm_load_s},
          {"codec_load_s", t.codec_load_s},
          {"graph_capture_s", t.graph_capture_s},
          {"after_frames_s", t.after_frames_s},
          {"reported_at_s", t.reported_at_s}};
}

json result_object(const ModelSettings& m, const SongRequest& r, const SongResult& res) {
  bool streamed = false;
  try {
    streamed = r.streamed(m);
  } catch (const std::exception&) {  // --stream with --lazy-load never ran
  }
  json settings = {{"model_path", m.model_path},
                   {"version", m.version},
                   {"device", m.device},
                   {"mula_device", m.mula_device},
                   {"codec_device", m.codec_device},
                   {"mula_dtype", m.mula_dtype},
                   {"codec_dtype", m.codec_dtype},
                   {"lazy_load", m.lazy_load},
                   {"threads", m.threads},
                   {"max_audio_length_ms", r.max_audio_length_ms},
                   {"temperature", r.temperature},
                   {"temperature_schedule", temperature_text(r)},  // "1", or START:END:SHAPE as given
                   {"topk", r.topk},
                   {"cfg_scale", r.cfg_scale},
                   {"ignore_eos", r.ignore_eos},
                   {"codec_steps", r.codec_steps},
                   {"codec_guidance", r.codec_guidance},
                   {"mp3_bitrate", r.mp3_bitrate_kbps},
                   {"codes_in", r.codes_in},
                   {"stream", streamed}};  // as decided (SongRequest::streamed)
  json out = {{"output", res.save_path},
              {"codes_out", res.codes_path},
              {"seed", res.seed},
              {"partial", res.interrupted},
              {"stopped_at_eos", res.stopped_at_eos}};
  // Several devices (--device cpu,cpu / cuda:0,cuda:1): which one made the song. One device: no
  // key (the output stays as it was; settings.device says where).
  if (!res.device.empty()) out["device"] = res.device;
  out["tags"] = r.tags;
  out["lyrics"] = r.lyrics;
  out["settings"] = settings;
  out["timings"] = timings_json(res.timings);
  out["heartmula_gen_version"] = HEARTMULA_VERSION;
  return out;
}
}  // namespace

std::string result_json(const ModelSettings& m, const SongRequest& r, const SongResult& res, bool pretty) {
  return result_object(m, r, res).dump(pretty ? 2 : -1, ' ', false, json::error_handler_t::replace);
}

std::string write_sidecar(const ModelSettings& m, const SongRequest& r, const SongResult& res) {
  std::filesystem::path p(res.save_path);
  p.replace_extension(".json");
  const std::string text = result_json(m, r, res, true) + "\n";
  io::write_file_atomically(p.string(), text.data(), text.size());
  return p.string();
}

}  // namespace heartmula::runtime
