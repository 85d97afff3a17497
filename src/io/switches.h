// The one registry of HEARTMULA_* environment switches: each switch's name, kind, default,
// role and effect in one table (switches.cpp), read from the environment once per process and
// cached. Every HEARTMULA_* read of the libraries and tools goes through it. docs/switches.md
// holds the same table (tests/unit/test_switches.cpp checks that they agree).
//
// One meaning of a value, for every switch:
//   flag:    unset, "", "0", "false", "off", "no" (any case) = off; anything else = on.
//   integer: unset or "" = the default; otherwise a whole number, else an Error naming the
//            variable and the value.
//   string:  unset = ""; a switch with a list of choices takes only those (else an Error).
// A HEARTMULA_* variable in the environment that is no switch (a typo) is named in one warning
// on stderr, the first time the environment is read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace heartmula::io {

enum class SwitchKind { kFlag, kInteger, kString };

// setting: a user-facing choice; diagnostic: a fallback or a trace for finding a fault;
// ab_timing: keeps an alternative for A/B timing; test: read by the tests or scripts only
// (registered so that setting it draws no warning).
enum class SwitchRole { kSetting, kDiagnostic, kAbTiming, kTest };

// Every switch, in the order of the table in switches.cpp.
enum class Switch : int {
  kNoFused,
  kNoFusedAttention,
  kDecoderSdpa,
  kInt8Fusion,
  kPdl,
  kNoGraphs,
  kNoCodecGraphs,
  kGraphStats,
  kStreamTrace,
  kProfileTrace,
  kProfileCodecFrames,
  kCodecSmFree,
  kCodecCudnnBenchmark,
  kNoCodecWarmup,
  kStreamPriority,
  kCodecNcl,
  kCodecConvtCudnn,
  kTestCache,
  kTestDevice,
  kSoakSongs,
  kTokenizer,
  kCache,
  kGen,
  kDepsPrefix,
  kDeviceBuild,
  kDeviceCmakeArgs,
  kDeviceDebs,
  kDevicePrefix,
  kDeviceTargets,
  kCount
};

struct SwitchInfo {
  Switch id;
  const char* name;  // HEARTMULA_...
  SwitchKind kind;
  SwitchRole role;
  const char* default_value;  // what unset means, in words
  const char* choices;        // string switches with fixed values: "a|b|c"; else nullptr
  const char* effect;         // one line
};

// The table, one entry per Switch, in enum order.
const std::vector<SwitchInfo>& switch_table();
const SwitchInfo& switch_info(Switch s);
const char* to_string(SwitchKind k);
const char* to_string(SwitchRole r);

// The values of the switches in one environment. The process's own is switch_values(); tests
// build one from a list of NAME=value pairs.
class SwitchValues {
 public:
  explicit SwitchValues(const std::vector<std::pair<std::string, std::string>>& env);

  bool on(Switch s) const;                         // a flag (Error for another kind)
  std::optional<int64_t> integer(Switch s) const;  // an integer switch; nullopt when unset or ""
  std::string string(Switch s) const;              // a string switch; "" when unset
  bool set(Switch s) const;                        // present in the environment with a non-empty value
  const std::string& raw(Switch s) const;          // the value as given ("" when unset)
  // Throws the Error of the first switch whose value its kind does not take (integers, choices).
  void validate() const;
  // HEARTMULA_* variables of the environment that are no switch, sorted.
  const std::vector<std::string>& unknown() const { return unknown_; }
  // "HEARTMULA_A=1, HEARTMULA_B=x" for the switches set (role test left out), "none" if none.
  std::string set_list() const;

 private:
  std::vector<std::optional<std::string>> raw_;
  std::vector<std::string> unknown_;
};

// The process's environment, read at the first call and cached for the process. The first call
// also warns once on stderr about unknown HEARTMULA_* variables.
const SwitchValues& switch_values();
inline bool switch_on(Switch s) { return switch_values().on(s); }
inline std::optional<int64_t> switch_int(Switch s) { return switch_values().integer(s); }
inline std::string switch_string(Switch s) { return switch_values().string(s); }

// Reads the environment now (warning about unknown variables) and throws for a value a switch
// does not take: the tools call it before any work.
void check_switches();

// One line per switch (role test left out): "NAME=value  [role] effect (default: ...)", for
// heartmula-gen --version --verbose.
std::string describe_switches();

}  // namespace heartmula::io
