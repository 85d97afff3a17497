// Comparing two decodes of the same codes and noise (docs/codec.md "Precision").
#pragma once

#include <ATen/core/Tensor.h>

namespace heartmula::codec {

// Signal-to-noise ratio of `x` against the reference `ref` in dB, computed in float64:
// 10 log10(sum ref^2 / sum (ref - x)^2). Both any float dtype and device, same shape (else
// Error naming both shapes). +inf when they are equal, -inf when ref is all zeros and x is not,
// NaN when either holds NaN.
double snr_db(const at::Tensor& ref, const at::Tensor& x);

}  // namespace heartmula::codec
