// Builds without CUDA: the composite sampler (sampler.h) runs.
#include "runtime/fused_sampler.h"

namespace heartmula::runtime {

bool fused_sample_topk(const at::Tensor&, const FusedSampleArgs&, std::vector<at::Generator>&, at::Tensor&, at::Tensor&,
                       at::Tensor&, int64_t) {
  return false;
}

}  // namespace heartmula::runtime
