#include "codec/weight_norm.h"

#include <ATen/ATen.h>
#include <memory>

#include "heartmula/error.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

at::Tensor fold_weight_norm(const at::Tensor& g, const at::Tensor& v) {
  if (v.dim() < 1 || g.dim() != v.dim() || g.size(0) != v.size(0) || g.numel() != v.size(0))
    throw Error("weight norm: magnitude shape " + std::string(c10::str(g.sizes())) + " does not fit direction shape " +
                std::string(c10::str(v.sizes())));
  at::Tensor vf = v.to(at::kFloat);
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < v.dim(); ++d) dims.push_back(d);
  at::Tensor norm = dims.empty() ? vf.abs() : at::linalg_vector_norm(vf, 2, dims, /*keepdim=*/true);
  return (vf * (g.to(at::kFloat) / norm)).to(v.scalar_type());
}

void expect_weight_norm(io::WeightBinder& binder, const std::string& prefix, const std::vector<int64_t>& shape,
                        at::Tensor* slot, c10::ScalarType dtype) {
  expect_weight_norm(
      binder, prefix, shape, [slot](at::Tensor w) { *slot = std::move(w); }, dtype);
}

void expect_weight_norm(io::WeightBinder& binder, const std::string& prefix, const std::vector<int64_t>& shape,
                        std::function<void(at::Tensor)> store, c10::ScalarType dtype) {
  struct Parts {
    at::Tensor g, v;
  };
  auto parts = std::make_shared<Parts>();
  auto fold_when_ready = [parts, store = std::move(store), dtype]() {
    if (!parts->g.defined() || !parts->v.defined()) return;
    store(fold_weight_norm(parts->g, parts->v).to(dtype));
    parts->g = at::Tensor();
    parts->v = at::Tensor();
  };
  std::vector<int64_t> g_shape(shape.size(), 1);
  g_shape[0] = shape.at(0);
  const std::string base = prefix + ".parametrizations.weight.original";
  binder.expect_with(
      base + "0", g_shape,
      [parts, fold_when_ready](at::Tensor t) {
        parts->g = std::move(t);
        fold_when_ready();
      },
      at::kFloat);
  binder.expect_with(
      base + "1", shape,
      [parts, fold_when_ready](at::Tensor t) {
        parts->v = std::move(t);
        fold_when_ready();
      },
      at::kFloat);
}

}  // namespace heartmula::codec
