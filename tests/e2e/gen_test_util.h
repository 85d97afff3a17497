// Helpers for the heartmula-gen end-to-end tests: running the real binary (fork/exec, stdout and
// stderr captured to files; several at once), a complete checkpoint folder for the tiny fixture,
// polling with a limit, reading back the codes file and --json output, and listing and comparing
// folders. One home for what the e2e tests share: a test file keeps only what is its own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace heartmula::test {

// HEARTMULA_BIN_DIR/heartmula-gen.
std::string gen_binary();

// A checkpoint folder as heartmula-gen expects it, made once per process under a temp folder:
// symlinks to tests/data/ckpt/{HeartMuLa-oss-3B,HeartCodec-oss,gen_config.json} and to the
// fetched Llama-3 tokenizer.json. Empty string (and a gtest failure) if the tokenizer is missing.
std::string gen_checkpoint();

// The same, but HeartMuLa-oss-3B/ holds only config.json (no weights): a run that gets past the
// pre-load checks fails at loading, so an error that comes first proves the check ran first.
std::string gen_checkpoint_without_lm_weights();

struct GenResult {
  int code = -1;         // exit status, or -1 if killed by a signal
  int signal = 0;        // the signal that ended it, if any
  std::string out, err;  // stdout, stderr
  double seconds = 0;
};

// One heartmula-gen process (or `binary`, another tool, when given); stdout and stderr go to
// files in `log_dir`, the working directory is `cwd`.
class GenProcess {
 public:
  GenProcess(const std::vector<std::string>& args, const std::string& cwd, const std::string& log_dir,
             const std::string& binary = "");
  ~GenProcess();  // kills the process if it still runs
  GenProcess(const GenProcess&) = delete;
  GenProcess& operator=(const GenProcess&) = delete;

  // Polls stderr until it contains `needle`; false on timeout or if the process ended first.
  bool wait_for_stderr(const std::string& needle, double timeout_s);
  void send_signal(int sig);
  GenResult wait();
  std::string current_stderr() const;
  std::string current_stdout() const;
  pid_t pid() const { return pid_; }  // for /proc/<pid>/status while it runs

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  double start_ = 0;
  bool done_ = false;
  int status_ = 0;  // waitpid status once done_
};

// Runs heartmula-gen to completion.
GenResult run_gen(const std::vector<std::string>& args, const std::string& cwd, const std::string& log_dir);

// Runs heartmula-gen with each argument list, `at_once` processes at a time (2 cores: 2 for real
// songs; more for runs that only start, check and exit), run k in folder cwds[k] (or the last
// folder given); the results in the order of `runs`.
std::vector<GenResult> run_together(const std::vector<std::vector<std::string>>& runs,
                                    const std::vector<std::string>& cwds, const std::string& log_dir,
                                    size_t at_once = 2);

// Seconds on the steady clock.
double now_s();

// The one poll loop of the e2e tests: calls `done` until it returns true (then true) or
// `timeout_s` passed (then false), sleeping `interval_s` between calls.
bool poll_until(const std::function<bool()>& done, double timeout_s, double interval_s = 0.05);

bool contains(const std::string& haystack, const std::string& needle);

// Each non-empty line of `text` (heartmula-gen --json's stdout) as JSON.
std::vector<nlohmann::json> json_lines(const std::string& text);
// The last line of `text` that starts with '{', as JSON; null when there is none.
nlohmann::json last_json_line(const std::string& text);

// A fresh folder under $TMPDIR (or /tmp), removed with its contents on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag);
  ~ScratchDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> entries() const { return entries_of(path_); }
  // Names in `dir`, sorted, dot-files included.
  static std::vector<std::string> entries_of(const std::string& dir);

 private:
  std::string path_;
};

// Names in `dir` that look like temporary files of an unfinished write (".*.part*").
std::vector<std::string> part_files(const std::string& dir);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

// Names in `dir`, sorted, whose extension is one of `extensions` (".wav", ".json").
std::vector<std::string> files_with_extension(const std::string& dir, const std::vector<std::string>& extensions);
// Those files -> their bytes.
std::map<std::string, std::string> file_bytes(const std::string& dir, const std::vector<std::string>& extensions);
// The same names with the same bytes (gtest expectations; a failure names the files and `what`,
// not their bytes).
void expect_same_files(const std::map<std::string, std::string>& got, const std::map<std::string, std::string>& want,
                       const std::string& what);

// A tensor from a .safetensors file, read with a parser of its own (8-byte header length,
// JSON header, raw little-endian data).
struct CodesTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<int64_t> values;     // I64 only
  std::vector<std::string> names;  // every tensor in the file
};
CodesTensor read_safetensors_tensor(const std::string& path, const std::string& name);

}  // namespace heartmula::test
