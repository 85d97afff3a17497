#include "io/switches.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "heartmula/error.h"

extern char** environ;

namespace heartmula::io {

namespace {

using K = SwitchKind;
using R = SwitchRole;

// The table. docs/switches.md lists the same names, kinds and roles (checked by test_switches).
const std::vector<SwitchInfo> kTable = {
    {Switch::kNoFused, "HEARTMULA_NO_FUSED", K::kFlag, R::kDiagnostic, "off", nullptr,
     "composite ATen ops instead of every fused CUDA kernel (LM: norms, RoPE + cache write, SiLU*mul, attention, "
     "int8 GEMM, sampler; codec: DiT block and decoder kernels): the correctness fallback"},
    {Switch::kNoFusedAttention, "HEARTMULA_NO_FUSED_ATTENTION", K::kFlag, R::kDiagnostic, "off", nullptr,
     "ATen SDPA (one graph per 256-position bucket) instead of the single-query attention kernel"},
    {Switch::kDecoderSdpa, "HEARTMULA_DECODER_SDPA", K::kFlag, R::kAbTiming, "off", nullptr,
     "the depth decoder's attention (head_dim 384) through ATen's SDPA instead of the few-positions kernel"},
    {Switch::kInt8Fusion, "HEARTMULA_INT8_FUSION", K::kString, R::kAbTiming, "glu", nullptr,
     "int8 on CUDA, which neighbours run inside the int8 GEMM (a comma list; 1 all, 0 none): glu = SiLU*mul in "
     "w13's epilogue, norm = RMSNorm in the qkv / w13 prologue with the residual add in wo / w2's epilogue "
     "(the same bytes; an unknown name is an error)"},
    {Switch::kPdl, "HEARTMULA_PDL", K::kFlag, R::kAbTiming, "off", nullptr,
     "int8 on CUDA (sm_90): launch the int8 GEMM with programmatic dependent launch (its weight loads start while "
     "the kernel before it finishes; activations then read through L2 only)"},
    {Switch::kNoGraphs, "HEARTMULA_NO_GRAPHS", K::kFlag, R::kDiagnostic, "off", nullptr,
     "run the frame step (and the codec's Euler solve) eagerly instead of replaying CUDA/XPU graphs"},
    {Switch::kNoCodecGraphs, "HEARTMULA_NO_CODEC_GRAPHS", K::kFlag, R::kDiagnostic, "off", nullptr,
     "run the codec's Euler solve eagerly instead of replaying its CUDA graph (same audio bit for bit)"},
    {Switch::kGraphStats, "HEARTMULA_GRAPH_STATS", K::kFlag, R::kDiagnostic, "off", nullptr,
     "print each captured graph's node count (frame step, codec Euler solve)"},
    {Switch::kStreamTrace, "HEARTMULA_STREAM_TRACE", K::kFlag, R::kDiagnostic, "off", nullptr,
     "on stderr: when frames reach the codec worker, when each window comes out, each window's flow-matching and "
     "decoder seconds"},
    {Switch::kProfileTrace, "HEARTMULA_PROFILE_TRACE", K::kString, R::kDiagnostic, "no trace file", nullptr,
     "heartmula-bench --profile keeps the Kineto Chrome trace in this file"},
    {Switch::kProfileCodecFrames, "HEARTMULA_PROFILE_CODEC_FRAMES", K::kInteger, R::kDiagnostic, "one window", nullptr,
     "heartmula-bench --profile --codec profiles this many frames of codes instead of one window"},
    {Switch::kCodecSmFree, "HEARTMULA_CODEC_SM_FREE", K::kInteger, R::kSetting, "30 % of the SMs", nullptr,
     "while the codec streams beside the frame loop, its cuBLAS GEMMs leave this many SMs free (0: none)"},
    {Switch::kCodecCudnnBenchmark, "HEARTMULA_CODEC_CUDNN_BENCHMARK", K::kFlag, R::kSetting, "off", nullptr,
     "cuDNN times its algorithms per convolution shape in the scalar decoder: later windows ~5 % faster, the first "
     "one seconds slower, a higher peak"},
    {Switch::kNoCodecWarmup, "HEARTMULA_NO_CODEC_WARMUP", K::kFlag, R::kAbTiming, "off", nullptr,
     "skip the codec worker's warm-up window beside the first frames (--stream, batches)"},
    {Switch::kStreamPriority, "HEARTMULA_STREAM_PRIORITY", K::kString, R::kAbTiming, "codec", "codec|lm|same",
     "which side gets the high-priority stream while the codec works beside the frame loop"},
    {Switch::kCodecNcl, "HEARTMULA_CODEC_NCL", K::kFlag, R::kAbTiming, "off", nullptr,
     "the scalar decoder keeps [B, C, T] tensors on CUDA instead of channels-last (read when the codec loads)"},
    {Switch::kCodecConvtCudnn, "HEARTMULA_CODEC_CONVT_CUDNN", K::kFlag, R::kAbTiming, "off", nullptr,
     "the channels-last decoder's transposed convolutions run as cuDNN's conv_transpose2d instead of two GEMMs "
     "(read when the codec loads)"},
    {Switch::kTestCache, "HEARTMULA_TEST_CACHE", K::kString, R::kTest, "the build's .cache", nullptr,
     "tests: the folder of the fetched test assets (llama3/tokenizer.json)"},
    {Switch::kTestDevice, "HEARTMULA_TEST_DEVICE", K::kString, R::kTest, "cpu", nullptr,
     "tests: the device of the LM golden tests"},
    {Switch::kSoakSongs, "HEARTMULA_SOAK_SONGS", K::kInteger, R::kTest, "200", nullptr,
     "tests: the soak test's number of songs (at least 20)"},
    {Switch::kTokenizer, "HEARTMULA_TOKENIZER", K::kString, R::kTest, ".cache/llama3/tokenizer.json", nullptr,
     "fuzz_tokenizer_encode: the tokenizer.json it loads"},
    {Switch::kCache, "HEARTMULA_CACHE", K::kString, R::kTest, "<repo>/.cache", nullptr,
     "scripts/fetch-test-assets.sh: where the test assets go"},
    {Switch::kGen, "HEARTMULA_GEN", K::kString, R::kTest, "build/tools/heartmula-gen", nullptr,
     "scripts/run_optimized.sh: the heartmula-gen it runs"},
    {Switch::kDepsPrefix, "HEARTMULA_DEPS_PREFIX", K::kString, R::kTest, "/opt/heartmula-deps", nullptr,
     "scripts/install-deps.sh: where the dependencies go"},
    {Switch::kDeviceBuild, "HEARTMULA_DEVICE_BUILD", K::kString, R::kTest, "build-device", nullptr,
     "scripts/device-build.sh: the build folder"},
    {Switch::kDeviceCmakeArgs, "HEARTMULA_DEVICE_CMAKE_ARGS", K::kString, R::kTest, "none", nullptr,
     "scripts/device-check.sh: extra configure arguments"},
    {Switch::kDeviceDebs, "HEARTMULA_DEVICE_DEBS", K::kString, R::kTest, ".deps-device", nullptr,
     "scripts/device-build.sh: the folder of carried .deb files"},
    {Switch::kDevicePrefix, "HEARTMULA_DEVICE_PREFIX", K::kString, R::kTest, "/opt/deps", nullptr,
     "scripts/device-build.sh: where the carried dependencies unpack"},
    {Switch::kDeviceTargets, "HEARTMULA_DEVICE_TARGETS", K::kString, R::kTest, "everything", nullptr,
     "scripts/device-build.sh, device-check.sh: build only these targets"},
};

size_t index(Switch s) { return static_cast<size_t>(s); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const SwitchInfo* find(const std::string& name) {
  for (const SwitchInfo& i : kTable)
    if (name == i.name) return &i;
  return nullptr;
}

void expect_kind(Switch s, SwitchKind k) {
  const SwitchInfo& i = switch_info(s);
  if (i.kind != k)
    throw Error(std::string("switch ") + i.name + " is a " + to_string(i.kind) + ", read as a " + to_string(k));
}

std::vector<std::pair<std::string, std::string>> process_environment() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr || std::strncmp(*e, "HEARTMULA_", 10) != 0) continue;
    env.emplace_back(std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1));
  }
  return env;
}

}  // namespace

const std::vector<SwitchInfo>& switch_table() { return kTable; }

const SwitchInfo& switch_info(Switch s) {
  if (index(s) >= kTable.size()) throw Error("unknown switch " + std::to_string(index(s)));
  return kTable[index(s)];
}

const char* to_string(SwitchKind k) {
  switch (k) {
    case SwitchKind::kFlag:
      return "flag";
    case SwitchKind::kInteger:
      return "integer";
    case SwitchKind::kString:
      return "string";
  }
  return "?";
}

const char* to_string(SwitchRole r) {
  switch (r) {
    case SwitchRole::kSetting:
      return "setting";
    case SwitchRole::kDiagnostic:
      return "diagnostic";
    case SwitchRole::kAbTiming:
      return "A/B timing";
    case SwitchRole::kTest:
      return "test";
  }
  return "?";
}

SwitchValues::SwitchValues(const std::vector<std::pair<std::string, std::string>>& env) : raw_(kTable.size()) {
  for (const auto& [name, value] : env) {
    if (name.rfind("HEARTMULA_", 0) != 0) continue;
    if (const SwitchInfo* i = find(name)) {
      raw_[index(i->id)] = value;
    } else if (std::find(unknown_.begin(), unknown_.end(), name) == unknown_.end()) {
      unknown_.push_back(name);
    }
  }
  std::sort(unknown_.begin(), unknown_.end());
}

const std::string& SwitchValues::raw(Switch s) const {
  static const std::string empty;
  const auto& v = raw_.at(index(s));
  return v ? *v : empty;
}

bool SwitchValues::set(Switch s) const { return !raw(s).empty(); }

bool SwitchValues::on(Switch s) const {
  expect_kind(s, SwitchKind::kFlag);
  const std::string v = lower(raw(s));
  return !(v.empty() || v == "0" || v == "false" || v == "off" || v == "no");
}

std::optional<int64_t> SwitchValues::integer(Switch s) const {
  expect_kind(s, SwitchKind::kInteger);
  const std::string& v = raw(s);
  if (v.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || end == v.c_str() || *end != '\0')
    throw Error(std::string(switch_info(s).name) + "='" + v + "' is not a whole number (" + switch_info(s).effect +
                ")");
  return static_cast<int64_t>(n);
}

std::string SwitchValues::string(Switch s) const {
  expect_kind(s, SwitchKind::kString);
  const SwitchInfo& i = switch_info(s);
  const std::string& v = raw(s);
  if (i.choices != nullptr && !v.empty()) {
    const std::string c = std::string("|") + i.choices + "|";
    if (v.find('|') != std::string::npos || c.find("|" + v + "|") == std::string::npos)
      throw Error(std::string(i.name) + " must be one of " + i.choices + ". Given: '" + v + "'");
  }
  return v;
}

void SwitchValues::validate() const {
  for (const SwitchInfo& i : kTable) {
    if (i.kind == SwitchKind::kInteger) integer(i.id);
    if (i.kind == SwitchKind::kString) string(i.id);
  }
}

std::string SwitchValues::set_list() const {
  std::string out;
  for (const SwitchInfo& i : kTable) {
    if (i.role == SwitchRole::kTest || !set(i.id)) continue;
    out += (out.empty() ? "" : ", ") + std::string(i.name) + "=" + raw(i.id);
  }
  return out.empty() ? "none" : out;
}

const SwitchValues& switch_values() {
  static const SwitchValues values = [] {
    SwitchValues v(process_environment());
    if (!v.unknown().empty()) {
      std::string names;
      for (const std::string& n : v.unknown()) names += (names.empty() ? "" : ", ") + n;
      std::fprintf(stderr,
                   "warning: unknown HEARTMULA_ environment variable%s (no such switch, ignored): %s; the "
                   "switches: docs/switches.md or heartmula-gen --version --verbose\n",
                   v.unknown().size() > 1 ? "s" : "", names.c_str());
    }
    return v;
  }();
  return values;
}

void check_switches() { switch_values().validate(); }

std::string describe_switches() {
  const SwitchValues& v = switch_values();
  std::string out;
  for (const SwitchInfo& i : kTable) {
    if (i.role == SwitchRole::kTest) continue;
    out += std::string(i.name) + "=" + (v.set(i.id) ? v.raw(i.id) : std::string("(unset: ") + i.default_value + ")") +
           "  [" + to_string(i.role) + "] " + i.effect + "\n";
  }
  return out;
}

}  // namespace heartmula::io
