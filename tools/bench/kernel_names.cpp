// Kernel names for heartmula-bench --profile: their kind and a readable short form (no LibTorch).
#include <algorithm>
#include <cctype>
#include <string>

#include "bench/kernel_profile.h"

namespace heartmula::tools {

namespace {
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
}  // namespace

std::string kernel_kind(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (has(n, "gemm") || has(n, "gemv") || has(n, "xmma") || has(n, "cutlass") || has(n, "sm90_") || has(n, "cublas") ||
      has(n, "splitk"))
    return "gemm";
  if (has(n, "flash") || has(n, "fmha") || has(n, "attention") || has(n, "sdpa") || has(n, "efficient"))
    return "attention";
  if (has(n, "rms_norm") || has(n, "layer_norm")) return "norm";
  if (has(n, "rope")) return "rope";
  if (has(n, "topk") || has(n, "sort") || has(n, "radix") || has(n, "softmax") || has(n, "exponential") ||
      has(n, "argmax") || has(n, "sample") || has(n, "distribution"))
    return "sampling";
  if (has(n, "index") || has(n, "copy") || has(n, "cat") || has(n, "gather") || has(n, "scatter") ||
      has(n, "embedding") || has(n, "memcpy") || has(n, "memset") || has(n, "fill"))
    return "copy";
  if (has(n, "elementwise") || has(n, "vectorized") || has(n, "unrolled") || has(n, "reduce")) return "elementwise";
  return "other";
}

namespace {
// The functor inside ATen's generic elementwise/reduce kernels: "direct_copy" in
// "elementwise_kernel<..., direct_copy_kernel_cuda(...)::{lambda}...>".
std::string inner_functor(const std::string& name) {
  // No std::regex: kernel names run to thousands of characters and libstdc++'s regex recurses
  // per character (it overflowed the stack on a CUDA trace).
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t at = name.find("_kernel"); at != std::string::npos; at = name.find("_kernel", at + 1)) {
    size_t b = at, e = at + 7;
    while (b > 0 && ident(name[b - 1])) --b;
    while (e < name.size() && ident(name[e])) ++e;
    const std::string token = name.substr(b, e - b), f = name.substr(b, at - b), tail = name.substr(at, e - at);
    if (tail != "_kernel" && tail != "_kernel_cuda" && tail != "_kernel_impl" && tail != "_kernel_functor") continue;
    if (f.empty() || f.find("elementwise") != std::string::npos || f == "gpu" || f == "reduce" ||
        f.rfind("launch", 0) == 0)
      continue;
    return f;
  }
  const size_t fn = name.find("Functor_");  // CUDAFunctor_add, ...
  if (fn != std::string::npos) {
    size_t e = fn + 8;
    while (e < name.size() && std::isalnum(static_cast<unsigned char>(name[e]))) ++e;
    return name.substr(fn + 8, e - fn - 8);
  }
  return "";
}
}  // namespace

namespace {
std::string shorten(const std::string& name);
}  // namespace

std::string short_kernel_name(const std::string& name) {
  if (name.find("elementwise_kernel") != std::string::npos || name.find("reduce_kernel") != std::string::npos) {
    const size_t lt = std::min(name.find('<'), name.size());
    const std::string inner = inner_functor(name.substr(lt));
    const std::string out = shorten(name.substr(0, lt));
    return inner.empty() ? out : out + " [" + inner + "]";
  }
  return shorten(name);
}

namespace {
std::string shorten(const std::string& name) {
  std::string n = name;
  if (n.rfind("void ", 0) == 0) n = n.substr(5);
  // Cut at the first '(' or '<' that is not part of "(anonymous namespace)".
  std::string out;
  int depth = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    if (n.compare(i, 21, "(anonymous namespace)") == 0) {
      i += 20;
      continue;
    }
    const char c = n[i];
    if (c == '<' || c == '(') {
      if (depth == 0 && !out.empty() && c == '(') break;
      ++depth;
      continue;
    }
    if (c == '>' || c == ')') {
      if (depth > 0) --depth;
      continue;
    }
    if (depth == 0) out += c;
  }
  // Keep the last two scope parts: "native::vectorized_elementwise_kernel".
  size_t cut = out.rfind("::");
  if (cut != std::string::npos && cut > 0) {
    const size_t prev = out.rfind("::", cut - 1);
    if (prev != std::string::npos) out = out.substr(prev + 2);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > 60) out = out.substr(0, 57) + "...";
  while (!out.empty() && out.front() == ':') out.erase(out.begin());
  return out.empty() ? name.substr(0, 60) : out;
}
}  // namespace

}  // namespace heartmula::tools
