// Backends absent from this build of LibTorch.
#include "runtime/device.h"

namespace heartmula::runtime::detail {
#ifndef HEARTMULA_WITH_CUDA
const Backend* cuda_backend() { return nullptr; }
#endif
#ifndef HEARTMULA_WITH_XPU
const Backend* xpu_backend() { return nullptr; }
#endif
}  // namespace heartmula::runtime::detail
