// Bridge between io::TensorInfo and LibTorch tensors (the only io file that knows LibTorch).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace heartmula::io {

c10::ScalarType to_scalar_type(DType dt);
DType from_scalar_type(c10::ScalarType st);  // Error for types safetensors cannot hold

// A zero-copy CPU tensor over the mapped bytes (copy-on-write pages: writes never reach the
// file). The mapping stays alive while the tensor does. Copies only if misaligned.
at::Tensor view_tensor(const TensorInfo& t);

class HostStaging;  // pinned host buffers for loading onto a device (torch_tensors.cpp)

// Pinned staging for a run of loads onto `device` (WeightBinder::bind makes one per bind): CUDA
// only; nullptr otherwise (the direct copy). Its destructor waits for the copies still reading
// its buffers.
std::shared_ptr<HostStaging> make_host_staging(c10::Device device);

// The tensor converted to `dtype` on `device` (a fresh, contiguous tensor). With `staging`, the
// stored bytes go over in pieces through its pinned buffers (filled by the intra-op threads in
// parallel, copied to the device while the next piece is read) and are converted on the device;
// the result is stream-ordered like any other device op.
at::Tensor load_tensor(const TensorInfo& t, c10::ScalarType dtype, c10::Device device,
                       HostStaging* staging = nullptr);

// Writes tensors (any device/dtype safetensors supports) as one safetensors file.
void save_tensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata = {});

// Reads every tensor of a safetensors file as CPU tensors (copies).
std::map<std::string, at::Tensor> load_all_tensors(const std::string& path);

}  // namespace heartmula::io
