// Upstream's flag habits: a repeated option takes its last value (argparse), so a wrapper's
// defaults can be overridden by appending: the song equals the one made with the last values.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gen_test_util.h"

namespace ht = heartmula::test;

namespace {

TEST(GenFlags, ARepeatedOptionTakesItsLastValue) {
  ht::ScratchDir dir("gen_flags");
  const std::string ckpt = ht::gen_checkpoint();
  ASSERT_FALSE(ckpt.empty());
  const ht::GenResult once =
      ht::run_gen({"--model-path", ckpt, "--tags", "piano", "--lyrics", "la la", "--duration", "1", "--seed", "5",
                   "--topk", "20", "--codes-out", dir.file("once.safetensors"), "--no-audio", "--quiet"},
                  dir.path(), dir.path());
  ASSERT_EQ(once.code, 0) << once.err;
  // Every value given twice, the wanted one last (spellings mixed, as wrapper scripts do).
  const ht::GenResult twice = ht::run_gen({"--model-path", dir.file("no-such-folder"),
                                           "--model_path", ckpt,
                                           "--tags",       "rock",
                                           "--tags",       "piano",
                                           "--lyrics",     "other words",
                                           "--lyrics",     "la la",
                                           "--duration",   "30",
                                           "--duration",   "1",
                                           "--seed",       "1",
                                           "--seed",       "5",
                                           "--topk",       "50",
                                           "--topk",       "20",
                                           "--codes-out",  dir.file("wrong.safetensors"),
                                           "--codes_out",  dir.file("twice.safetensors"),
                                           "--no-audio",   "--quiet",
                                           "--quiet"},
                                          dir.path(), dir.path());
  ASSERT_EQ(twice.code, 0) << twice.err;
  const auto a = ht::read_safetensors_tensor(dir.file("once.safetensors"), "frames");
  const auto b = ht::read_safetensors_tensor(dir.file("twice.safetensors"), "frames");
  EXPECT_FALSE(a.values.empty());
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.values, b.values);
  EXPECT_FALSE(std::filesystem::exists(dir.file("wrong.safetensors")));
  // The last value is checked like any value: a bad one after a good one is still an error.
  const ht::GenResult bad = ht::run_gen(
      {"--model-path", ckpt, "--topk", "20", "--topk", "0", "--no-audio", "--codes-out", dir.file("bad.safetensors")},
      dir.path(), dir.path());
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--topk"), std::string::npos) << bad.err;
}

}  // namespace
