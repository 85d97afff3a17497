#include "gen_test_util.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace heartmula::test {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

bool poll_until(const std::function<bool()>& done, double timeout_s, double interval_s) {
  const double until = now_s() + timeout_s;
  while (now_s() < until) {
    if (done()) return true;
    if (interval_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(interval_s));
  }
  return false;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

nlohmann::json last_json_line(const std::string& text) {
  std::istringstream in(text);
  nlohmann::json last;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() == '{') last = nlohmann::json::parse(line);
  return last;
}

namespace {

std::string make_temp_dir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/heartmula-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
  return buf.data();
}

// $HEARTMULA_TEST_CACHE (environment, else the build-time value)/llama3/tokenizer.json.
std::string tokenizer_path() {
  const char* env = std::getenv("HEARTMULA_TEST_CACHE");
  const std::string cache = env != nullptr && *env != '\0' ? env : HEARTMULA_TEST_CACHE;
  return cache + "/llama3/tokenizer.json";
}

// Removes the checkpoint folders made by this process at exit.
struct CheckpointDirs {
  std::vector<std::string> dirs;
  ~CheckpointDirs() {
    std::error_code ec;
    for (const auto& d : dirs) fs::remove_all(d, ec);
  }
};
CheckpointDirs g_ckpt_dirs;

std::string make_checkpoint(bool lm_weights) {
  const std::string tok = tokenizer_path();
  if (!fs::is_regular_file(tok)) {
    ADD_FAILURE() << "missing " << tok << " (the Llama-3 tokenizer.json). Get it with "
                  << "scripts/fetch-test-assets.sh, or run through ctest (fixture test_assets).";
    return "";
  }
  const fs::path src = fs::path(HEARTMULA_TEST_DATA) / "ckpt";
  const fs::path dir = make_temp_dir("e2e-ckpt");
  g_ckpt_dirs.dirs.push_back(dir.string());
  fs::create_symlink(src / "HeartCodec-oss", dir / "HeartCodec-oss");
  fs::create_symlink(src / "gen_config.json", dir / "gen_config.json");
  fs::create_symlink(tok, dir / "tokenizer.json");
  if (lm_weights) {
    fs::create_symlink(src / "HeartMuLa-oss-3B", dir / "HeartMuLa-oss-3B");
  } else {
    fs::create_directory(dir / "HeartMuLa-oss-3B");
    fs::create_symlink(src / "HeartMuLa-oss-3B" / "config.json", dir / "HeartMuLa-oss-3B" / "config.json");
  }
  return dir.string();
}

}  // namespace

std::string gen_binary() { return std::string(HEARTMULA_BIN_DIR) + "/heartmula-gen"; }

std::string gen_checkpoint() {
  static const std::string dir = make_checkpoint(true);
  return dir;
}

std::string gen_checkpoint_without_lm_weights() {
  static const std::string dir = make_checkpoint(false);
  return dir;
}

// ---- processes ----

GenProcess::GenProcess(const std::vector<std::string>& args, const std::string& cwd, const std::string& log_dir,
                       const std::string& binary) {
  static int counter = 0;
  const std::string stem = log_dir + "/run" + std::to_string(++counter);
  out_path_ = stem + ".out";
  err_path_ = stem + ".err";
  std::vector<std::string> argv_s = {binary.empty() ? gen_binary() : binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  start_ = now_s();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(127);
    ::dup2(out, 1);
    ::dup2(err, 2);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

GenProcess::~GenProcess() {
  if (!done_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::string GenProcess::current_stderr() const { return read_file(err_path_); }
std::string GenProcess::current_stdout() const { return read_file(out_path_); }

bool GenProcess::wait_for_stderr(const std::string& needle, double timeout_s) {
  bool found = false;
  poll_until(
      [&] {
        found = contains(current_stderr(), needle);
        if (found || done_) return true;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
        done_ = true;  // ended: keep the status for wait()
        status_ = status;
        found = contains(current_stderr(), needle);
        return true;
      },
      timeout_s, 0.005);
  return found;
}

void GenProcess::send_signal(int sig) {
  if (!done_ && pid_ > 0) ::kill(pid_, sig);
}

GenResult GenProcess::wait() {
  if (!done_) {
    ::waitpid(pid_, &status_, 0);
    done_ = true;
  }
  const int status = status_;
  GenResult r;
  r.seconds = now_s() - start_;
  if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = read_file(out_path_);
  r.err = read_file(err_path_);
  return r;
}

GenResult run_gen(const std::vector<std::string>& args, const std::string& cwd, const std::string& log_dir) {
  GenProcess p(args, cwd, log_dir);
  return p.wait();
}

std::vector<GenResult> run_together(const std::vector<std::vector<std::string>>& runs,
                                    const std::vector<std::string>& cwds, const std::string& log_dir, size_t at_once) {
  std::vector<GenResult> out;
  for (size_t i = 0; i < runs.size(); i += at_once) {
    std::vector<std::unique_ptr<GenProcess>> procs;
    for (size_t k = i; k < std::min(runs.size(), i + at_once); ++k)
      procs.push_back(std::make_unique<GenProcess>(runs[k], cwds[std::min(k, cwds.size() - 1)], log_dir));
    for (auto& p : procs) out.push_back(p->wait());
  }
  return out;
}

// ---- files ----

ScratchDir::ScratchDir(const std::string& tag) : path_(make_temp_dir(tag)) {}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> ScratchDir::entries_of(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> part_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.find(".part") != std::string::npos || n.find(".tmp") != std::string::npos) names.push_back(n);
  }
  return names;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void write_file(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::vector<std::string> files_with_extension(const std::string& dir, const std::vector<std::string>& extensions) {
  std::vector<std::string> out;
  for (const auto& name : ScratchDir::entries_of(dir))
    if (std::find(extensions.begin(), extensions.end(), fs::path(name).extension().string()) != extensions.end())
      out.push_back(name);
  return out;
}

std::map<std::string, std::string> file_bytes(const std::string& dir, const std::vector<std::string>& extensions) {
  std::map<std::string, std::string> out;
  for (const auto& name : files_with_extension(dir, extensions)) out[name] = read_file(dir + "/" + name);
  return out;
}

void expect_same_files(const std::map<std::string, std::string>& got, const std::map<std::string, std::string>& want,
                       const std::string& what) {
  std::vector<std::string> got_names, want_names;
  for (const auto& [name, bytes] : got) got_names.push_back(name);
  for (const auto& [name, bytes] : want) want_names.push_back(name);
  EXPECT_EQ(got_names, want_names) << what;
  for (const auto& [name, bytes] : want) {
    const auto it = got.find(name);
    if (it != got.end())
      EXPECT_TRUE(it->second == bytes) << what << ": " << name << " differs (" << it->second.size() << " vs "
                                       << bytes.size() << " bytes)";
  }
}

CodesTensor read_safetensors_tensor(const std::string& path, const std::string& name) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 8) throw std::runtime_error(path + ": shorter than 8 bytes");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  if (header_len > bytes.size() - 8) throw std::runtime_error(path + ": header length beyond the file");
  const auto header = nlohmann::json::parse(bytes.substr(8, header_len));
  CodesTensor t;
  for (auto it = header.begin(); it != header.end(); ++it)
    if (it.key() != "__metadata__") t.names.push_back(it.key());
  if (!header.contains(name)) return t;
  const auto& info = header.at(name);
  t.dtype = info.at("dtype").get<std::string>();
  t.shape = info.at("shape").get<std::vector<int64_t>>();
  const auto offs = info.at("data_offsets").get<std::vector<uint64_t>>();
  const size_t base = 8 + header_len;
  if (t.dtype == "I64" && offs.size() == 2 && offs[1] >= offs[0] && base + offs[1] <= bytes.size()) {
    t.values.resize((offs[1] - offs[0]) / 8);
    std::memcpy(t.values.data(), bytes.data() + base + offs[0], t.values.size() * 8);
  }
  return t;
}

}  // namespace heartmula::test
