// CodecLoad::parse / label: the --codec-dtype spellings (docs/codec.md "Precision").
#include <ATen/ATen.h>
#include <string>

#include "codec/heartcodec.h"
#include "heartmula/error.h"

namespace heartmula::codec {

namespace {

struct Half {
  c10::ScalarType dtype = at::kFloat;
  bool tf32 = false;
};

bool parse_half(const std::string& s, Half& out) {
  if (s == "fp32" || s == "float32")
    out = {at::kFloat, false};
  else if (s == "tf32")
    out = {at::kFloat, true};
  else if (s == "bf16" || s == "bfloat16")
    out = {at::kBFloat16, false};
  else if (s == "fp16" || s == "float16")
    out = {at::kHalf, false};
  else
    return false;
  return true;
}

std::string half_label(c10::ScalarType t, bool tf32) {
  if (t == at::kBFloat16) return "bf16";
  if (t == at::kHalf) return "fp16";
  return tf32 ? "tf32" : "fp32";
}

}  // namespace

CodecLoad CodecLoad::parse(const std::string& precision, c10::Device device, const std::string& flag) {
  std::string spec;
  for (char ch : precision) spec += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool cuda = device.is_cuda(), cpu = device.is_cpu();
  if (spec == "auto") spec = cuda ? "bf16/tf32" : cpu ? "fp32" : "bf16/fp32";
  const auto slash = spec.find('/');
  Half est, dec;
  const std::string a = spec.substr(0, slash), b = slash == std::string::npos ? "" : spec.substr(slash + 1);
  if (!parse_half(a, est) || (slash != std::string::npos && !parse_half(b, dec)))
    throw UsageError(flag + " " + (precision.empty() ? "\"\"" : precision) +
                     ": unknown precision (use auto, fp32, tf32, bf16, fp16, or ESTIMATOR/DECODER such as bf16/tf32)");
  if (slash == std::string::npos) {
    dec = est;
    if (est.dtype != at::kFloat) dec = {at::kFloat, cuda};  // the decoder keeps float32 (TF32 on CUDA)
  }
  CodecLoad o;
  o.device = device;
  o.estimator_dtype = est.dtype;
  o.estimator_tf32 = cuda && est.tf32;
  o.decoder_dtype = cpu ? at::kFloat : dec.dtype;
  o.decoder_tf32 = cuda && o.decoder_dtype == at::kFloat && dec.tf32;
  return o;
}

std::string CodecLoad::label() const {
  const std::string e = half_label(estimator_dtype, estimator_tf32), d = half_label(decoder_dtype, decoder_tf32);
  return e == d ? e : e + "/" + d;
}

}  // namespace heartmula::codec
