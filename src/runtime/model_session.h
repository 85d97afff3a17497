// The models of a Generator: where they run (devices, precisions), loading them (at once or
// when first needed), --lazy-load's unloading, prompts, the context check, the codec's
// warm-up and the loading time. Used on the loop thread; the codec also by the codec worker
// while a batch runs (see runtime/threading.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/heartcodec.h"
#include "heartmula/generation.h"
#include "model/config.h"
#include "model/heartmula.h"
#include "model/prompt.h"
#include "text/tokenizer.h"

namespace heartmula::runtime {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0);

class ModelSession {
 public:
  // Resolves devices, precisions and folders (throws UsageError naming the flag); loads nothing.
  explicit ModelSession(ModelSettings settings);

  const ModelSettings& settings() const { return settings_; }
  c10::Device mula_device() const { return mula_device_; }
  c10::Device codec_device() const { return codec_device_; }

  // Loads what the settings need (tokenizer, configs, LM, and the codec unless lazy_load).
  void load();
  void ensure_mula();   // the language model (and the tokenizer and configs)
  void ensure_codec();  // the codec and its solver graphs
  // --lazy-load: frees the language model and its cached device memory (says how much unless
  // quiet). Only while no codec worker job is queued (threading.h).
  void unload_mula(bool quiet);

  // Tokenizer and configs only (cheap): the prompt for a request.
  model::Prompt prompt_for(const SongRequest& request);
  // Throws UsageError (runtime::check_context) when the request's prompt and frames do not fit
  // the model's context; reads only the tokenizer and configs.
  void check_fits(const SongRequest& request);

  // Loaded models (ensure_* first).
  const model::HeartMuLaModel& mula() const { return *mula_; }
  const model::GenConfig& gen_config() const { return *gen_config_; }
  const codec::HeartCodec& codec() const { return *codec_; }
  bool has_codec() const { return codec_.has_value(); }
  // The codec's Euler-solve graphs (null where the device has none): used by one thread at a
  // time (the codec worker, or the loop thread where no worker is used).
  const std::shared_ptr<codec::SolverGraphs>& codec_graphs() const { return codec_graphs_; }

  // Decoding options of a request: its steps, guidance, seed and the session's graphs.
  codec::DetokenizeOptions detokenize_options(const SongRequest& request, uint64_t seed) const;

  // Loading time: all of it so far; take_unreported() returns the part not yet given to a song
  // and marks it given.
  double load_seconds() const { return load_s_; }
  double unreported_load() const { return load_s_ - load_reported_; }
  // Loading time not yet reported with a song (and, with `parts`, its parts: device_init_s,
  // lm_load_s, codec_load_s); marks it reported.
  double take_unreported_load(Timings* parts = nullptr);

  // --verbose: devices, dtypes and folders.
  std::string describe() const;

 private:
  // The configs now and the tokenizer on a thread of its own (parsed beside the device's context
  // and the weights); load_light() (prompt_for()) waits for it and throws its error.
  void start_light();
  void load_light();

  ModelSettings settings_;
  c10::Device mula_device_{c10::kCPU}, codec_device_{c10::kCPU};
  model::LmPrecision mula_precision_;
  codec::CodecLoad codec_load_;
  std::string mula_dir_, codec_dir_;

  std::optional<text::Tokenizer> tokenizer_;
  std::future<text::Tokenizer> tokenizer_loading_;
  std::optional<model::HeartMuLaConfig> mula_config_;
  std::optional<model::GenConfig> gen_config_;
  std::optional<model::HeartMuLaModel> mula_;
  std::optional<codec::HeartCodec> codec_;
  std::shared_ptr<codec::SolverGraphs> codec_graphs_;
  double load_s_ = 0, load_reported_ = 0;
  Timings loading_, loading_reported_;      // the parts of load_s_ (device_init_s, lm_load_s, codec_load_s)
  std::vector<c10::Device> devices_ready_;  // contexts made (init_device)
  // The device's context, timed on its own (device_init_s) before the first weights go there.
  void init_device(c10::Device d);
};

}  // namespace heartmula::runtime
