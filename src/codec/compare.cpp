#include "codec/compare.h"

#include <ATen/ATen.h>
#include <cmath>
#include <limits>

#include "heartmula/error.h"

namespace heartmula::codec {

double snr_db(const at::Tensor& ref, const at::Tensor& x) {
  if (!ref.sizes().equals(x.sizes()))
    throw Error("snr: the waveforms differ in shape: reference " + c10::str(ref.sizes()) + ", other " +
                c10::str(x.sizes()));
  const at::Tensor r = ref.to(at::kCPU, at::kDouble);
  const double signal = r.pow(2).sum().item<double>();
  const double noise = (r - x.to(at::kCPU, at::kDouble)).pow(2).sum().item<double>();
  if (std::isnan(signal) || std::isnan(noise)) return std::numeric_limits<double>::quiet_NaN();
  if (noise == 0.0) return std::numeric_limits<double>::infinity();
  if (signal == 0.0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

}  // namespace heartmula::codec
