// Builds without a CUDA LibTorch: no kernel profiler.
#include "bench/kernel_profile.h"
#include "heartmula/error.h"

namespace heartmula::tools {

bool kernel_profiler_available(std::string* why) {
  if (why) *why = "--profile needs a CUDA build of LibTorch (Kineto/CUPTI); this build has none";
  return false;
}
void start_kernel_profiler() { throw UsageError("--profile: no kernel profiler in this build (CUDA builds only)"); }
KernelTrace stop_kernel_profiler() { return {}; }

}  // namespace heartmula::tools
