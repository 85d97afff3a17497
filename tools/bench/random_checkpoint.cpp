#include "bench/random_checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "heartmula/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace heartmula::tools {

namespace {

constexpr int64_t kChunk = int64_t{1} << 22;  // elements per generator

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

c10::ScalarType scalar_type(io::DType dt) {
  switch (dt) {
    case io::DType::F32:
      return at::kFloat;
    case io::DType::BF16:
      return at::kBFloat16;
    case io::DType::F16:
      return at::kHalf;
    default:
      throw Error(std::string("random checkpoint: unsupported dtype ") + io::dtype_name(dt));
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string shard_name(int i, int n) {
  if (n == 1) return "model.safetensors";
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i + 1, n);
  return buf;
}

}  // namespace

std::vector<int> assign_shards(const std::vector<size_t>& tensor_bytes, int shards) {
  if (shards < 1) throw UsageError("the shard count must be at least 1. Given: " + std::to_string(shards));
  size_t total = 0;
  for (size_t b : tensor_bytes) total += b;
  std::vector<int> out;
  size_t before = 0;
  for (size_t b : tensor_bytes) {
    const long double frac = total ? static_cast<long double>(before) / static_cast<long double>(total) : 0.0L;
    out.push_back(std::min(shards - 1, static_cast<int>(frac * shards)));
    before += b;
  }
  return out;
}

bool is_norm_scale(const io::WeightBinder::Declaration& d) {
  return d.shape.size() == 1 && (ends_with(d.key, ".scale") || ends_with(d.key, "norm.weight"));
}

void fill_random(void* out, int64_t numel, io::DType dtype, uint64_t seed, const std::string& key, double stddev) {
  const c10::ScalarType st = scalar_type(dtype);
  const size_t esize = io::dtype_size(dtype);
  const uint64_t base = splitmix(seed ^ fnv1a(key));
  const int64_t chunks = (numel + kChunk - 1) / kChunk;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t off = c * kChunk, len = std::min(kChunk, numel - off);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(splitmix(base + static_cast<uint64_t>(c)));
      at::Tensor dst = at::from_blob(static_cast<char*>(out) + off * esize, {len}, at::TensorOptions().dtype(st));
      if (st == at::kFloat) {
        dst.normal_(0.0, stddev, gen);
      } else {
        dst.copy_(at::empty({len}, at::kFloat).normal_(0.0, stddev, gen));
      }
    }
  });
}

std::vector<WrittenFile> write_sharded_checkpoint(const std::string& dir, const std::vector<io::TensorSpec>& specs,
                                                  int shards, const std::function<void(size_t, void*, size_t)>& fill) {
  std::vector<size_t> sizes;
  for (const auto& spec : specs) sizes.push_back(spec.nbytes());
  if (static_cast<size_t>(shards) > specs.size())
    throw UsageError("cannot split " + std::to_string(specs.size()) + " tensors into " + std::to_string(shards) +
                     " shards");
  const std::vector<int> where = assign_shards(sizes, shards);
  std::vector<std::vector<size_t>> members(static_cast<size_t>(shards));
  for (size_t i = 0; i < where.size(); ++i) members[static_cast<size_t>(where[i])].push_back(i);
  // A tensor larger than a whole shard leaves the next one empty: drop empty shards.
  members.erase(std::remove_if(members.begin(), members.end(), [](const auto& m) { return m.empty(); }), members.end());
  const int n = static_cast<int>(members.size());

  std::vector<WrittenFile> written;
  nlohmann::json weight_map = nlohmann::json::object();
  size_t total = 0;
  for (int s = 0; s < n; ++s) {
    std::vector<size_t> idx = members[static_cast<size_t>(s)];
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return specs[a].name < specs[b].name; });
    std::vector<io::TensorSpec> part;
    for (size_t i : idx) part.push_back(specs[i]);
    const std::string name = shard_name(s, n), path = dir + "/" + name;
    auto t0 = std::chrono::steady_clock::now();
    io::write_safetensors_streaming(path, part, [&](size_t k, void* buf, size_t nbytes) { fill(idx[k], buf, nbytes); },
                                    {{"format", "pt"}});
    const double secs = seconds_since(t0);
    for (const auto& t : part) total += t.nbytes(), weight_map[t.name] = name;
    written.push_back({path, static_cast<size_t>(std::filesystem::file_size(path)), secs});
  }
  if (n > 1) {
    const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    const std::string text = index.dump(2) + "\n", path = dir + "/model.safetensors.index.json";
    io::write_file_atomically(path, text.data(), text.size());
    written.push_back({path, text.size(), 0.0});
  }
  return written;
}

std::vector<WrittenFile> write_random_checkpoint(const std::string& dir,
                                                 const std::vector<io::WeightBinder::Declaration>& decls, int shards,
                                                 io::DType dtype, uint64_t seed, double stddev) {
  const c10::ScalarType st = scalar_type(dtype);
  std::vector<io::TensorSpec> specs;
  for (const auto& d : decls) specs.push_back({d.key, dtype, d.shape});
  return write_sharded_checkpoint(dir, specs, shards, [&](size_t i, void* buf, size_t nbytes) {
    const io::WeightBinder::Declaration& d = decls[i];
    const int64_t numel = static_cast<int64_t>(nbytes / io::dtype_size(dtype));
    if (is_norm_scale(d))
      at::from_blob(buf, {numel}, at::TensorOptions().dtype(st)).fill_(1.0);
    else
      fill_random(buf, numel, dtype, seed, d.key, stddev);
  });
}

}  // namespace heartmula::tools
