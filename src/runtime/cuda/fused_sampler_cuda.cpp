// The CUDA side of runtime/fused_sampler.h: draws the race's noise with each song's generator
// and launches runtime/cuda/sampling_kernels.cu on the current stream (captured with the graphs).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <cstdlib>
#include <string>

#include "heartmula/error.h"
#include "io/cuda/dtype_code.h"
#include "io/switches.h"
#include "runtime/cuda/sampling_kernels.h"
#include "runtime/fused_sampler.h"

namespace heartmula::runtime {

namespace {
constexpr int64_t kMaxVocab = 16384;  // sampling_kernels.cu: 1024 threads x 16 values

using io::cuda::dtype_code;
}  // namespace

bool fused_sample_topk(const at::Tensor& logits, const FusedSampleArgs& a, std::vector<at::Generator>& gens,
                       at::Tensor& q, at::Tensor& tokens, at::Tensor& frame, int64_t codebook) {
  const bool enabled = !io::switch_on(io::Switch::kNoFused);
  const int64_t rows = a.cfg ? 2 * a.songs : a.songs;
  const int code = dtype_code(logits.scalar_type());
  if (!enabled || !logits.is_cuda() || code < 0 || logits.dim() != 2 || logits.size(0) != rows ||
      logits.size(1) < a.vocab || logits.stride(1) != 1 || a.vocab < 1 || a.vocab > kMaxVocab || a.topk < 1 ||
      a.songs < 1 || static_cast<int64_t>(gens.size()) != a.songs || !q.defined() || !q.is_contiguous() ||
      q.scalar_type() != at::kFloat || q.size(0) != a.songs || q.size(1) != a.vocab || !tokens.is_contiguous() ||
      tokens.scalar_type() != at::kLong || tokens.numel() != rows || !frame.is_contiguous() ||
      frame.scalar_type() != at::kLong || frame.dim() != 2 || frame.size(0) != rows || codebook < 0 ||
      codebook >= frame.size(1))
    return false;
  if (a.inv_temperature.defined() &&
      (a.inv_temperature.device() != logits.device() || a.inv_temperature.scalar_type() != at::kFloat ||
       !a.inv_temperature.is_contiguous() || a.inv_temperature.numel() != a.songs))
    return false;
  c10::cuda::CUDAGuard guard(logits.device());
  for (int64_t s = 0; s < a.songs; ++s) q.narrow(0, s, 1).exponential_(1.0, gens[static_cast<size_t>(s)]);
  // The same float as before the pointer: 1.0f / float(temperature).
  const at::Tensor inv_t =
      a.inv_temperature.defined()
          ? a.inv_temperature
          : at::full({a.songs}, static_cast<double>(1.0f / static_cast<float>(a.temperature)), q.options());
  const int err = cuda::launch_sample_topk(
      code, logits.data_ptr(), logits.stride(0), a.songs, a.cfg, static_cast<float>(a.cfg_scale), a.vocab, a.topk,
      inv_t.data_ptr<float>(), q.data_ptr<float>(), tokens.data_ptr<int64_t>(), frame.data_ptr<int64_t>() + codebook,
      frame.size(1), at::cuda::getCurrentCUDAStream().stream());
  if (err != 0)
    throw Error(std::string("CUDA kernel sample_topk failed: ") + cudaGetErrorString(static_cast<cudaError_t>(err)));
  return true;
}

}  // namespace heartmula::runtime
