#include "runtime/model_session.h"
#include "runtime/process_clock.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "codec/config.h"
#include "heartmula/error.h"
#include "heartmula/generator.h"
#include "io/weight_binder.h"
#include "runtime/device.h"
#include "runtime/frame_loop.h"
#include "runtime/step_graphs.h"

namespace fs = std::filesystem;

namespace heartmula {

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
    report +=
        "tokenizer " + (root / "tokenizer.json").string() + ": " + std::to_string(tok.vocab_size()) + " tokens: OK\n";
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

namespace runtime {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

ModelSession::ModelSession(ModelSettings settings) : settings_(std::move(settings)) {
  const ModelSettings& s = settings_;
  const std::string& md = s.mula_device.empty() ? s.device : s.mula_device;
  const std::string& cd = s.codec_device.empty() ? s.device : s.codec_device;
  mula_device_ = parse_device(md, s.mula_device.empty() ? "--device" : "--mula-device");
  codec_device_ = parse_device(cd, s.codec_device.empty() ? "--device" : "--codec-device");
  mula_precision_ = s.mula_dtype.empty() ? model::LmPrecision{default_lm_dtype(mula_device_)}
                                         : model::parse_lm_precision(s.mula_dtype);
  codec_load_ = codec::CodecLoad::parse(s.codec_dtype, codec_device_);
  mula_dir_ = (fs::path(s.model_path) / ("HeartMuLa-oss-" + s.version)).string();
  codec_dir_ = (fs::path(s.model_path) / "HeartCodec-oss").string();
  if (s.threads > 0) at::set_num_threads(s.threads);
}

void ModelSession::load() {
  if (settings_.need_lm) ensure_mula();
  if (settings_.need_codec && !settings_.lazy_load) ensure_codec();
}

void ModelSession::start_light() {
  if (!settings_.need_lm || tokenizer_ || tokenizer_loading_.valid()) return;
  mula_config_ = model::HeartMuLaConfig::from_file((fs::path(mula_dir_) / "config.json").string());
  gen_config_ = model::GenConfig::from_file((fs::path(settings_.model_path) / "gen_config.json").string());
  gen_config_->validate_against(*mula_config_);
  // 9 MB of JSON (≈ 0.3-0.6 s): parsed while the device's context is made and the weights load.
  tokenizer_loading_ = std::async(std::launch::async, [path = (fs::path(settings_.model_path) / "tokenizer.json").string()] {
    return text::Tokenizer::from_file(path);
  });
}

void ModelSession::load_light() {
  if (!settings_.need_lm || tokenizer_) return;
  start_light();
  tokenizer_ = tokenizer_loading_.get();
}

void ModelSession::init_device(c10::Device d) {
  if (std::find(devices_ready_.begin(), devices_ready_.end(), d) != devices_ready_.end()) return;
  devices_ready_.push_back(d);
  const double s = runtime::init_device(d);
  load_s_ += s, loading_.device_init_s += s;
}

void ModelSession::ensure_mula() {
  if (mula_) return;
  start_light();
  init_device(mula_device_);
  auto t0 = Clock::now();
  model::LoadStats stats;
  mula_.emplace(model::HeartMuLaModel::load(mula_dir_, mula_precision_, mula_device_, &stats));
  synchronize(mula_device_);
  const double s = seconds_since(t0);
  loading_.lm_load_s += s, load_s_ += s;
  if (!stats.unexpected.empty())
    std::fprintf(stderr, "warning: %zu tensor(s) in %s are not used by the model (first: %s)\n",
                 stats.unexpected.size(), mula_dir_.c_str(), stats.unexpected.front().c_str());
}

void ModelSession::ensure_codec() {
  if (codec_) return;
  init_device(codec_device_);
  auto t0 = Clock::now();
  codec_.emplace(codec::HeartCodec::load(codec_dir_, codec_load_));
  codec_graphs_ = make_codec_graphs(codec_device_);
  synchronize(codec_device_);
  const double s = seconds_since(t0);
  loading_.codec_load_s += s, load_s_ += s;
}

void ModelSession::unload_mula(bool quiet) {
  if (!mula_) return;
  const uint64_t before = current_memory_bytes(mula_device_);
  mula_.reset();
  release_cached_memory(mula_device_);
  const uint64_t after = current_memory_bytes(mula_device_);
  if (!quiet && !mula_device_.is_cpu())
    std::fprintf(stderr, "lazy load: freed %.2f GB of %s memory held by the language model\n",
                 static_cast<double>(before > after ? before - after : 0) / 1e9, mula_device_.str().c_str());
}

model::Prompt ModelSession::prompt_for(const SongRequest& r) {
  load_light();
  return model::build_prompt(r.tags, r.lyrics, *tokenizer_, *gen_config_, mula_config_->audio_num_codebooks);
}

void ModelSession::check_fits(const SongRequest& r) {
  const int64_t frames = frames_for_duration(r.max_audio_length_ms);
  start_light();  // the configs; the tokenizer starts parsing on its thread
  if (!tokenizer_) {
    // Before the tokenizer is parsed: an upper bound of the prompt's length. The tokenizer has no
    // normalizer (it refuses one), so each token covers at least one byte of the text it encodes,
    // and encode adds at most a prefix space and the post-processor's few special tokens. If the
    // bound fits, so does the prompt, and the tokenizer goes on parsing beside the loading;
    // otherwise the exact check, now. (The song scheduler checks the exact prompt again before
    // its frame loop.)
    constexpr size_t kEncodeExtra = 16;
    const model::EncodeFn at_most = [](const std::string& text) {
      return std::vector<int64_t>(text.size() + kEncodeExtra, -1);
    };
    const model::Prompt bound =
        model::build_prompt(r.tags, r.lyrics, at_most, *gen_config_, mula_config_->audio_num_codebooks);
    try {
      check_context(mula_config_->backbone.max_seq_len, bound.length(), frames);
      return;
    } catch (const UsageError&) {  // may still fit: decided on the real tokens below
    }
  }
  check_context(mula_config_->backbone.max_seq_len, prompt_for(r).length(), frames);
}

codec::DetokenizeOptions ModelSession::detokenize_options(const SongRequest& r, uint64_t seed) const {
  codec::DetokenizeOptions o;
  o.steps = r.codec_steps;
  o.guidance = r.codec_guidance;
  o.seed = seed;
  o.graphs = codec_graphs_;
  return o;
}

double ModelSession::take_unreported_load(Timings* parts) {
  const double s = load_s_ - load_reported_;
  load_reported_ = load_s_;
  if (parts) {
    parts->device_init_s = loading_.device_init_s - loading_reported_.device_init_s;
    parts->lm_load_s = loading_.lm_load_s - loading_reported_.lm_load_s;
    parts->codec_load_s = loading_.codec_load_s - loading_reported_.codec_load_s;
  }
  loading_reported_ = loading_;
  return s;
}

std::string ModelSession::describe() const {
  std::string d = build_info() + "\n";
  d += "language model: " + mula_dir_ + " on " + device_info(mula_device_).name + " (" + mula_device_.str() + "), " +
       mula_precision_.name() + "\n";
  d += "codec: " + codec_dir_ + " on " + device_info(codec_device_).name + " (" + codec_device_.str() + "), " +
       codec_load_.label();
  return d;
}

}  // namespace runtime
}  // namespace heartmula
