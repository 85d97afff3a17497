// What a lower precision does to the language model's output, measured against a reference
// precision on the same prompt (heartmula-bench --compare-dtype; docs/quantization.md):
// teacher-forced on the same frames (sampled by the reference), per codebook: the KL divergence
// of the sampling distributions, top-1 and top-k agreement, the largest logit error; free-running
// greedy: the share of equal codes and the first frame that differs.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/bench_report.h"
#include "model/config.h"
#include "model/heartmula.h"
#include "model/prompt.h"

namespace heartmula::tools {

struct FidelityOptions {
  int64_t frames = 64;
  double cfg = 1.5;
  int64_t topk = 50;
  double temperature = 1.0;
  uint64_t seed = 0;
};

struct CodebookFidelity {
  double kl_mean = 0, kl_max = 0;  // KL(P_ref || P_test) of softmax(logits / temperature), nats
  double top1_agreement = 0;       // share of frames whose argmax is the same
  double topk_overlap = 0;         // mean |top-k(ref) ∩ top-k(test)| / k
  double max_logit_error = 0;      // max |l_ref - l_test|
  double rel_logit_error = 0;      // max_logit_error / max |l_ref|
};

struct Fidelity {
  int64_t frames = 0;
  std::vector<CodebookFidelity> codebooks;
  double greedy_agreement = 0;           // share of equal codes over the greedy frames
  int64_t greedy_first_difference = -1;  // first frame with any differing code; -1: none
};

Fidelity compare_models(const model::HeartMuLaModel& ref, const model::HeartMuLaModel& test,
                        const model::GenConfig& gen, const model::Prompt& prompt, const FidelityOptions& o);

// One "fidelity" row per codebook plus an "all" row (means; max of the maxima).
std::vector<OJson> fidelity_rows(const Fidelity& f, const std::string& ref_name, const std::string& test_name);

}  // namespace heartmula::tools
