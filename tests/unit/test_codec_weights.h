// Usable weights for random ScalarDecoders in the layout tests (tests/unit/test_codec_layout.cpp
// on the CPU, tests/cuda/test_codec_decoder_cuda.cpp on CUDA): the binder's random draw has
// std 1 everywhere, which makes a 30-convolution decoder's output explode.
#pragma once

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <string>

#include "codec/layers.h"
#include "codec/scalar_decoder.h"

namespace heartmula::codec::test {

// Rescales `from`'s weights (declared under "dec") to usable scales — each convolution's std to
// 1/sqrt(fan-in), every PReLU slope 0.25 — in place, and copies them into `to` by name (into to's
// own storage, e.g. channels-last). With same_draw, first expects `to` to hold the same values
// (the same seed bound in another layout).
inline void copy_usable_weights(const ScalarDecoder& from, const ScalarDecoder& to, bool same_draw) {
  NamedWeights src, dst_list;
  from.list_weights("dec", src);
  to.list_weights("dec", dst_list);
  ASSERT_EQ(src.size(), dst_list.size());
  std::map<std::string, at::Tensor> dst(dst_list.begin(), dst_list.end());
  for (auto& [name, t] : src) {
    ASSERT_TRUE(dst.count(name)) << name;
    if (same_draw) EXPECT_TRUE(at::equal(dst[name].cpu(), t.cpu())) << name;
    if (t.dim() == 3) t.mul_(1.0 / (t.std().item<double>() * std::sqrt(double(t.size(1) * t.size(2)))));
    if (name.find("activation") != std::string::npos) t.fill_(0.25);
    dst[name].copy_(t);
  }
}

}  // namespace heartmula::codec::test
