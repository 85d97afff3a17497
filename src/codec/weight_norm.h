// Weight normalisation folded at load time (torch.nn.utils.parametrizations.weight_norm, dim 0):
// the checkpoint keeps `<key>.parametrizations.weight.original0` (g, [out, 1, ...]) and
// `.original1` (v, same shape as the weight); the weight is w = v * (g / ||v||), the norm taken
// per index of dim 0 over every other dim.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <functional>
#include <string>
#include <vector>

namespace heartmula::io {
class WeightBinder;
}

namespace heartmula::codec {

// w = v * (g / ||v||_{dims != 0}), computed in float32, returned in v's dtype.
// g: [d0, 1, ..., 1], v: [d0, ...]. Error when the shapes disagree.
at::Tensor fold_weight_norm(const at::Tensor& g, const at::Tensor& v);

// Declares `<prefix>.parametrizations.weight.original{0,1}` (v of `shape`, g of [shape[0], 1, ..])
// and stores the folded weight, converted to `dtype`, into *slot once both are loaded.
void expect_weight_norm(io::WeightBinder& binder, const std::string& prefix, const std::vector<int64_t>& shape,
                        at::Tensor* slot, c10::ScalarType dtype);
// Same, handing the folded weight (in `dtype`) to `store` instead.
void expect_weight_norm(io::WeightBinder& binder, const std::string& prefix, const std::vector<int64_t>& shape,
                        std::function<void(at::Tensor)> store, c10::ScalarType dtype);

}  // namespace heartmula::codec
