// The switch registry's one meaning of a value, its warning about unknown HEARTMULA_ variables,
// docs/switches.md against the registry, and the kernel-path record on the CPU (the fallbacks).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "heartmula/error.h"
#include "io/kernel_paths.h"
#include "io/switches.h"
#include "model/linear.h"
#include "model/transformer.h"

namespace {

using heartmula::Error;
using heartmula::io::KernelPath;
using heartmula::io::Switch;
using heartmula::io::SwitchValues;
namespace io = heartmula::io;

SwitchValues env(const std::string& name, const std::string& value) { return SwitchValues({{name, value}}); }

TEST(Switches, TableIsInEnumOrderWithUniqueNames) {
  const auto& t = io::switch_table();
  ASSERT_EQ(t.size(), static_cast<size_t>(Switch::kCount));
  std::set<std::string> names;
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(t[i].id), i) << t[i].name;
    EXPECT_EQ(std::string(t[i].name).rfind("HEARTMULA_", 0), 0u) << t[i].name;
    EXPECT_TRUE(names.insert(t[i].name).second) << "twice: " << t[i].name;
    EXPECT_GT(std::string(t[i].effect).size(), 10u) << t[i].name;
  }
}

TEST(Switches, FlagOffForUnsetEmptyZeroFalseOffNo) {
  EXPECT_FALSE(SwitchValues({}).on(Switch::kNoFused));
  for (const char* v : {"", "0", "false", "FALSE", "off", "Off", "no"})
    EXPECT_FALSE(env("HEARTMULA_NO_FUSED", v).on(Switch::kNoFused)) << "'" << v << "'";
  for (const char* v : {"1", "true", "on", "yes", "2", "x"})
    EXPECT_TRUE(env("HEARTMULA_NO_FUSED", v).on(Switch::kNoFused)) << "'" << v << "'";
}

TEST(Switches, IntegerParsesOrNamesTheVariableAndValue) {
  EXPECT_FALSE(SwitchValues({}).integer(Switch::kCodecSmFree).has_value());
  EXPECT_FALSE(env("HEARTMULA_CODEC_SM_FREE", "").integer(Switch::kCodecSmFree).has_value());
  EXPECT_EQ(env("HEARTMULA_CODEC_SM_FREE", "40").integer(Switch::kCodecSmFree), 40);
  EXPECT_EQ(env("HEARTMULA_CODEC_SM_FREE", "0").integer(Switch::kCodecSmFree), 0);
  EXPECT_EQ(env("HEARTMULA_CODEC_SM_FREE", "-3").integer(Switch::kCodecSmFree), -3);
  for (const char* bad : {"forty", "40x", "4 0", "0x10", "99999999999999999999"}) {
    const SwitchValues v = env("HEARTMULA_CODEC_SM_FREE", bad);
    try {
      v.integer(Switch::kCodecSmFree);
      ADD_FAILURE() << "no error for '" << bad << "'";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("HEARTMULA_CODEC_SM_FREE"), std::string::npos) << what;
      EXPECT_NE(what.find(bad), std::string::npos) << what;
    }
    EXPECT_THROW(v.validate(), Error) << bad;
  }
}

TEST(Switches, StringChoicesAreChecked) {
  EXPECT_EQ(SwitchValues({}).string(Switch::kStreamPriority), "");
  EXPECT_EQ(env("HEARTMULA_STREAM_PRIORITY", "lm").string(Switch::kStreamPriority), "lm");
  for (const char* bad : {"LM", "fast", "lm|same", "|"}) {
    try {
      env("HEARTMULA_STREAM_PRIORITY", bad).string(Switch::kStreamPriority);
      ADD_FAILURE() << "no error for '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("HEARTMULA_STREAM_PRIORITY"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(env("HEARTMULA_PROFILE_TRACE", "/tmp/t.json").string(Switch::kProfileTrace), "/tmp/t.json");
}

TEST(Switches, ReadingAsAnotherKindIsAnError) {
  EXPECT_THROW(SwitchValues({}).on(Switch::kCodecSmFree), Error);
  EXPECT_THROW(SwitchValues({}).integer(Switch::kNoFused), Error);
}

TEST(Switches, UnknownHeartmulaVariablesAreListedOthersIgnored) {
  const SwitchValues v({{"HEARTMULA_NO_FUSD", "1"},
                        {"HEARTMULA_NO_FUSED", "1"},
                        {"PATH", "/bin"},
                        {"HEARTMULA_TEST_CACHE", "/x"},
                        {"HEARTMULA_NOGRAPHS", ""}});
  EXPECT_EQ(v.unknown(), (std::vector<std::string>{"HEARTMULA_NOGRAPHS", "HEARTMULA_NO_FUSD"}));
  EXPECT_TRUE(v.on(Switch::kNoFused));
  EXPECT_EQ(v.set_list(), "HEARTMULA_NO_FUSED=1");  // test-only switches left out
  EXPECT_EQ(SwitchValues({}).set_list(), "none");
}

TEST(Switches, ProcessEnvironmentWarnsOnceAboutUnknownNames) {
  // The process's values are read once: this test sets the variables before the first read
  // (no other test in this binary reads switch_values()).
  ASSERT_EQ(setenv("HEARTMULA_NO_FUSD", "1", 1), 0);
  ASSERT_EQ(setenv("HEARTMULA_GRAPH_STATS", "0", 1), 0);
  testing::internal::CaptureStderr();
  io::check_switches();
  const bool stats = io::switch_on(Switch::kGraphStats);
  io::check_switches();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(stats);
  EXPECT_NE(err.find("HEARTMULA_NO_FUSD"), std::string::npos) << err;
  EXPECT_EQ(err.find("HEARTMULA_NO_FUSD"), err.rfind("HEARTMULA_NO_FUSD")) << "warned twice: " << err;
  // Set after the first read: not seen (read once, cached once).
  ASSERT_EQ(setenv("HEARTMULA_GRAPH_STATS", "1", 1), 0);
  EXPECT_FALSE(io::switch_on(Switch::kGraphStats));
  const std::string described = io::describe_switches();
  EXPECT_NE(described.find("HEARTMULA_GRAPH_STATS=0"), std::string::npos) << described;
  EXPECT_NE(described.find("HEARTMULA_NO_FUSED=(unset: off)"), std::string::npos) << described;
  unsetenv("HEARTMULA_NO_FUSD");
  unsetenv("HEARTMULA_GRAPH_STATS");
}

// docs/switches.md's table: one row per switch, `NAME` | kind | role | ..., in any order.
TEST(Switches, DocTableMatchesTheRegistry) {
  std::ifstream in(std::string(HEARTMULA_DOCS_DIR) + "/switches.md");
  ASSERT_TRUE(in) << "cannot read docs/switches.md";
  const std::regex row(R"(^\| `(HEARTMULA_[A-Z0-9_]+)[^`]*` \| ([a-z]+) \| ([A-Za-z/ ]+?) \|)");
  std::set<std::string> documented;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    const std::string name = m[1];
    EXPECT_TRUE(documented.insert(name).second) << "documented twice: " << name;
    bool found = false;
    for (const auto& s : io::switch_table()) {
      if (name != s.name) continue;
      found = true;
      EXPECT_EQ(m[2].str(), io::to_string(s.kind)) << name;
      EXPECT_EQ(m[3].str(), io::to_string(s.role)) << name;
    }
    EXPECT_TRUE(found) << "docs/switches.md lists " << name << ", which io/switches.cpp does not have";
  }
  for (const auto& s : io::switch_table())
    EXPECT_TRUE(documented.count(s.name)) << s.name << " is missing from docs/switches.md's table";
}

TEST(KernelPaths, CpuRecordsTheFallbacks) {
  io::reset_path_counts();
  const at::Tensor x = at::randn({2, 64}), scale = at::ones({64});
  heartmula::model::rms_norm(x, scale, 1e-5);
  heartmula::model::rms_norm(x, scale, 1e-5);
  EXPECT_EQ(io::path_counts(KernelPath::kLmRmsNorm).fallback, 2u);
  EXPECT_EQ(io::path_counts(KernelPath::kLmRmsNorm).fused, 0u);
  const heartmula::model::Linear q = heartmula::model::quantize_int8(at::randn({32, 64}));
  q(x.to(at::kBFloat16));
  EXPECT_EQ(io::path_counts(KernelPath::kInt8Linear).fallback, 1u);
  EXPECT_EQ(io::path_counts(KernelPath::kInt8Linear).fused, 0u);
  const std::string d = io::describe_paths("; ");
  EXPECT_NE(d.find("lm rms_norm: fused 0, fallback 2"), std::string::npos) << d;
  EXPECT_NE(d.find("lm int8_linear: fused 0, fallback 1"), std::string::npos) << d;
  io::reset_path_counts();
  EXPECT_EQ(io::describe_paths(), "none");
}

}  // namespace
