#include "bench/fidelity.h"

#include <ATen/ATen.h>
#include <algorithm>
#include <string>

#include "runtime/frame_loop.h"

namespace heartmula::tools {

namespace {

runtime::SamplingParams sampling(const FidelityOptions& o, int64_t topk) {
  runtime::SamplingParams p;
  p.topk = topk;
  p.temperature = o.temperature;
  p.cfg_scale = o.cfg;
  p.seed = o.seed;
  p.validate();
  return p;
}

// The logits handed to the sampler for every (frame, codebook), teacher-forced on `frames`:
// [T, N, V] float32 on the CPU.
at::Tensor teacher_logits(const model::HeartMuLaModel& m, const model::GenConfig& gen, const model::Prompt& prompt,
                          const FidelityOptions& o, const at::Tensor& frames) {
  const int64_t t = frames.size(0), n = m.num_codebooks();
  std::vector<at::Tensor> logits(static_cast<size_t>(t * n));
  runtime::FrameLoopOptions lo;
  lo.max_frames = t;
  lo.ignore_eos = true;
  lo.teacher_frames = frames;
  lo.on_logits = [&](int64_t f, int64_t cb, const at::Tensor& l) {
    if (f < t) logits[static_cast<size_t>(f * n + cb)] = l.select(0, 0).to(at::kCPU, at::kFloat).clone();
  };
  runtime::run_frame_loop(m, gen, prompt, sampling(o, o.topk), lo);
  return at::stack(logits).view({t, n, -1});
}

at::Tensor greedy_frames(const model::HeartMuLaModel& m, const model::GenConfig& gen, const model::Prompt& prompt,
                         const FidelityOptions& o) {
  runtime::FrameLoopOptions lo;
  lo.max_frames = o.frames;
  lo.ignore_eos = true;
  return runtime::run_frame_loop(m, gen, prompt, sampling(o, 1), lo).frames;
}

}  // namespace

Fidelity compare_models(const model::HeartMuLaModel& ref, const model::HeartMuLaModel& test,
                        const model::GenConfig& gen, const model::Prompt& prompt, const FidelityOptions& o) {
  runtime::FrameLoopOptions lo;
  lo.max_frames = o.frames;
  lo.ignore_eos = true;
  const at::Tensor frames = runtime::run_frame_loop(ref, gen, prompt, sampling(o, o.topk), lo).frames;
  const at::Tensor lr = teacher_logits(ref, gen, prompt, o, frames).to(at::kDouble);
  const at::Tensor lt = teacher_logits(test, gen, prompt, o, frames).to(at::kDouble);
  Fidelity f;
  f.frames = frames.size(0);
  const int64_t k = std::min<int64_t>(o.topk, lr.size(2));
  for (int64_t cb = 0; cb < lr.size(1); ++cb) {
    const at::Tensor a = lr.select(1, cb), b = lt.select(1, cb);  // [T, V]
    const at::Tensor la = at::log_softmax(a / o.temperature, -1), lb = at::log_softmax(b / o.temperature, -1);
    const at::Tensor kl = (la.exp() * (la - lb)).sum(-1);  // [T]
    CodebookFidelity c;
    c.kl_mean = kl.mean().item<double>();
    c.kl_max = kl.max().item<double>();
    c.top1_agreement = a.argmax(-1).eq(b.argmax(-1)).to(at::kDouble).mean().item<double>();
    const at::Tensor ia = std::get<1>(a.topk(k, -1)), ib = std::get<1>(b.topk(k, -1));  // [T, k]
    c.topk_overlap = ia.unsqueeze(-1).eq(ib.unsqueeze(-2)).any(-1).to(at::kDouble).mean().item<double>();
    c.max_logit_error = (a - b).abs().max().item<double>();
    c.rel_logit_error = c.max_logit_error / std::max(a.abs().max().item<double>(), 1e-30);
    f.codebooks.push_back(c);
  }
  const at::Tensor ga = greedy_frames(ref, gen, prompt, o), gb = greedy_frames(test, gen, prompt, o);
  const int64_t rows = std::min(ga.size(0), gb.size(0));
  const at::Tensor same = ga.narrow(0, 0, rows).eq(gb.narrow(0, 0, rows));
  f.greedy_agreement = rows > 0 ? same.to(at::kDouble).mean().item<double>() : 0.0;
  const at::Tensor frame_same = same.all(1);
  for (int64_t i = 0; i < rows; ++i)
    if (!frame_same[i].item<bool>()) {
      f.greedy_first_difference = i;
      break;
    }
  return f;
}

std::vector<OJson> fidelity_rows(const Fidelity& f, const std::string& ref_name, const std::string& test_name) {
  std::vector<OJson> rows;
  CodebookFidelity all;
  for (size_t cb = 0; cb < f.codebooks.size(); ++cb) {
    const CodebookFidelity& c = f.codebooks[cb];
    rows.push_back({{"test", "fidelity"},
                    {"reference", ref_name},
                    {"compared", test_name},
                    {"codebook", std::to_string(cb)},
                    {"frames", f.frames},
                    {"kl_mean", c.kl_mean},
                    {"kl_max", c.kl_max},
                    {"top1_agreement", c.top1_agreement},
                    {"topk_overlap", c.topk_overlap},
                    {"max_logit_error", c.max_logit_error},
                    {"rel_logit_error", c.rel_logit_error}});
    const double w = 1.0 / static_cast<double>(f.codebooks.size());
    all.kl_mean += c.kl_mean * w, all.top1_agreement += c.top1_agreement * w, all.topk_overlap += c.topk_overlap * w;
    all.kl_max = std::max(all.kl_max, c.kl_max);
    all.max_logit_error = std::max(all.max_logit_error, c.max_logit_error);
    all.rel_logit_error = std::max(all.rel_logit_error, c.rel_logit_error);
  }
  rows.push_back({{"test", "fidelity"},
                  {"reference", ref_name},
                  {"compared", test_name},
                  {"codebook", "all"},
                  {"frames", f.frames},
                  {"kl_mean", all.kl_mean},
                  {"kl_max", all.kl_max},
                  {"top1_agreement", all.top1_agreement},
                  {"topk_overlap", all.topk_overlap},
                  {"max_logit_error", all.max_logit_error},
                  {"rel_logit_error", all.rel_logit_error},
                  {"greedy_agreement", f.greedy_agreement},
                  {"greedy_first_difference", f.greedy_first_difference}});
  return rows;
}

}  // namespace heartmula::tools
