// Plain-pointer launcher of the fused sampling kernel (sampling_kernels.cu, nvcc, no LibTorch
// headers). Returns a cudaError_t value, or -1 when the sizes do not suit the kernel.
#pragma once

#include <cstdint>

namespace heartmula::runtime::cuda {

// One block per song: guided = uncond + (cond - uncond) * cfg_scale (cfg; rows s and s + songs)
// or the row itself, scaled = guided * inv_temperature[song] in float32 (a device array, read when
// the kernel runs: a captured graph sees its current values), top-k cut keeping ties
// (x >= k-th largest), token = argmax over kept of exp(scaled - max) / q[song, i] (the
// exponential race with q ~ Exp(1) drawn by the caller). Writes tokens[r] (int64) for every
// row r of the song and, when frame is set, frame[r * frame_stride].
// logits_dtype: 0 float32, 1 bfloat16, 2 float16; logits rows are row_stride elements apart.
int launch_sample_topk(int logits_dtype, const void* logits, int64_t row_stride, int64_t songs, bool cfg,
                       float cfg_scale, int64_t vocab, int64_t topk, const float* inv_temperature, const float* q,
                       int64_t* tokens, int64_t* frame, int64_t frame_stride, void* stream);

}  // namespace heartmula::runtime::cuda
