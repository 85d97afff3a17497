// Human and machine reports of a generation: the progress line, the timings block, the JSON
// object printed by --json and written as the metadata sidecar.
#pragma once

#include <cstdio>
#include <string>

#include "heartmula/generation.h"

namespace heartmula::runtime {

// Prints "frames 120/3000 | 151.2 frames/s | ETA 19 s" on stderr: in place on a terminal,
// as plain lines (at most one every few seconds) otherwise, nothing when quiet.
class ProgressPrinter {
 public:
  // `prefix` starts each line ("[cuda:1] " with several devices).
  explicit ProgressPrinter(bool quiet, FILE* out = stderr, std::string prefix = "");
  void update(int64_t done, int64_t planned, double elapsed_s);
  void finish();  // ends the in-place line

 private:
  bool quiet_;
  FILE* out_;
  bool tty_;
  double last_print_ = -1e9;
  bool dirty_ = false;
  std::string prefix_;
};

// The timings block printed at the end (whisper.cpp / sherpa-onnx style).
std::string format_timings(const Timings& t);

// One JSON object (as text) with the result, the settings and the timings.
std::string result_json(const ModelSettings& m, const SongRequest& r, const SongResult& res, bool pretty);

// Writes `<save_path minus extension>.json` (atomically) and returns its path.
std::string write_sidecar(const ModelSettings& m, const SongRequest& r, const SongResult& res);

}  // namespace heartmula::runtime
