// The generation pipeline behind heartmula-gen: tokenize -> LM frame loop -> codec -> file.
// Three parts (threading contract: runtime/threading.h):
//   ModelSession    devices, loading (at once or lazily), unloading, prompts, context check
//   SongScheduler   batches of songs through the frame loop, per-song ends, interruption
//   OutputPipeline  the codec worker: streamed windows, codec, writers, files
#include "heartmula/generator.h"

#include <c10/core/InferenceMode.h>

#include "runtime/model_session.h"
#include "runtime/output_pipeline.h"
#include "runtime/song_scheduler.h"

namespace heartmula {

struct Generator::Impl {
  // Declared in this order so that the output pipeline (its worker thread) goes before the
  // models it uses (threading.h).
  runtime::ModelSession session;
  runtime::OutputPipeline output{session};
  runtime::SongScheduler scheduler{session, output};

  explicit Impl(ModelSettings settings) : session(std::move(settings)) {}
};

namespace {
ModelSettings validated(ModelSettings s) {
  s.validate();
  return s;
}
}  // namespace

Generator::Generator(ModelSettings settings) : impl_(std::make_unique<Impl>(validated(std::move(settings)))) {}

Generator::~Generator() = default;

const ModelSettings& Generator::settings() const { return impl_->session.settings(); }

void Generator::check(const SongRequest& r) {
  c10::InferenceMode guard;
  r.validate();
  (void)r.streamed(impl_->session.settings());  // --stream with --lazy-load: refused before loading
  if (!impl_->session.settings().need_lm || !r.codes_in.empty()) return;
  impl_->session.check_fits(r);
}

void Generator::load() {
  c10::InferenceMode guard;
  impl_->session.load();
}

std::string Generator::describe() const { return impl_->session.describe(); }

SongResult Generator::generate(const SongRequest& r, const ProgressFn& progress, const StopFn& stop) {
  c10::InferenceMode guard;
  return impl_->scheduler.generate(r, progress, stop);
}

std::vector<SongResult> Generator::generate_many(const std::vector<SongRequest>& requests, const ProgressFn& progress,
                                                 const StopFn& stop, const SongSavedFn& saved,
                                                 const SongStopFn& song_stop) {
  c10::InferenceMode guard;
  return impl_->scheduler.generate_many(requests, progress, stop, saved, song_stop);
}

}  // namespace heartmula
