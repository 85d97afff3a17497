#include "codec/rvq.h"

#include <ATen/ATen.h>

#include "heartmula/error.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

void check_codes(const at::Tensor& codes, int64_t codebook_size) {
  if (codes.dim() != 2 || !at::isIntegralType(codes.scalar_type(), /*includeBool=*/false))
    throw Error("codec codes must be an integer tensor [codebooks, frames], got " +
                std::string(c10::toString(codes.scalar_type())) + " " + c10::str(codes.sizes()));
  at::Tensor c = codes.to(at::kCPU, at::kLong).contiguous();
  at::Tensor bad = at::logical_or(c < 0, c >= codebook_size);
  if (!bad.any().item<bool>()) return;
  at::Tensor where = at::nonzero(bad.t().contiguous());  // frame-major: the earliest frame first
  const int64_t frame = where[0][0].item<int64_t>();
  const int64_t book = where[0][1].item<int64_t>();
  throw Error("codec code " + std::to_string(c[book][frame].item<int64_t>()) + " at codebook " + std::to_string(book) +
              ", frame " + std::to_string(frame) + " is outside the codebook [0, " + std::to_string(codebook_size) +
              ") (" + std::to_string(bad.sum().item<int64_t>()) + " code(s) out of range)");
}

void ResidualVQ::declare(io::WeightBinder& b, const std::string& prefix, int64_t num_quantizers, int64_t size,
                         int64_t codebook_dim, int64_t dim) {
  codebook_size = size;
  codebooks.assign(num_quantizers, at::Tensor());
  for (int64_t q = 0; q < num_quantizers; ++q)
    b.expect(prefix + ".layers." + std::to_string(q) + "._codebook.embed", {1, size, codebook_dim}, &codebooks[q]);
  project_out.declare(b, prefix + ".project_out", codebook_dim, dim, /*with_bias=*/true);
}

void ResidualVQ::list_weights(const std::string& prefix, NamedWeights& out) const {
  for (size_t q = 0; q < codebooks.size(); ++q)
    add_weight(out, prefix + ".layers." + std::to_string(q) + "._codebook.embed", codebooks[q]);
  project_out.list_weights(prefix + ".project_out", out);
}

at::Tensor ResidualVQ::lookup(const at::Tensor& codes) const {
  check_codes(codes, codebook_size);
  if (codes.size(0) != static_cast<int64_t>(codebooks.size()))
    throw Error("codec codes have " + std::to_string(codes.size(0)) + " codebooks, the codec has " +
                std::to_string(codebooks.size()));
  // non_blocking: from pageable memory the copy is staged at once and does not wait for the
  // device's queue (a blocking copy would wait for the previous window's work).
  at::Tensor idx = codes.to(codebooks[0].device(), at::kLong, /*non_blocking=*/true);
  at::Tensor sum;
  for (size_t q = 0; q < codebooks.size(); ++q) {
    at::Tensor e = at::embedding(codebooks[q][0], idx[q]);  // [T, codebook_dim]
    sum = sum.defined() ? sum + e : e;
  }
  return project_out(sum).unsqueeze(0);
}

}  // namespace heartmula::codec
