// The dtype code the plain-pointer kernel launchers of every layer take (model/cuda/*.h,
// codec/cuda/*.h, runtime/cuda/sampling_kernels.h): 0 float32, 1 bfloat16, 2 float16. Host side
// only (the .cu files are compiled without LibTorch headers).
#pragma once

#include <c10/core/ScalarType.h>

namespace heartmula::io::cuda {

// The launchers' code for `t`; -1 for a dtype no kernel takes (the caller falls back to ATen).
inline int dtype_code(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float:
      return 0;
    case c10::ScalarType::BFloat16:
      return 1;
    case c10::ScalarType::Half:
      return 2;
    default:
      return -1;
  }
}

}  // namespace heartmula::io::cuda
