#include "io/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "heartmula/error.h"

namespace heartmula::io {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(path + ": not valid JSON");
  return j;
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint c;
  c.path_ = path;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("checkpoint '" + path + "' does not exist");

  if (!fs::is_directory(path, ec)) {
    c.files_.push_back(SafetensorsFile::open(path));
    c.tensors_ = c.files_.back().tensors();
    return c;
  }

  const std::string index = (fs::path(path) / "model.safetensors.index.json").string();
  const std::string single = (fs::path(path) / "model.safetensors").string();
  if (fs::exists(index, ec)) {
    json j = read_json_file(index);
    auto wm = j.find("weight_map");
    if (!j.is_object() || wm == j.end() || !wm->is_object()) throw Error(index + ": no 'weight_map' object");
    std::map<std::string, size_t> shard_of_file;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it->is_string()) throw Error(index + ": weight_map entry '" + it.key() + "' is not a string");
      const std::string shard = it->get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
        throw Error(index + ": tensor '" + it.key() + "' names an invalid shard file '" + shard + "'");
      auto found = shard_of_file.find(shard);
      if (found == shard_of_file.end()) {
        std::string shard_path = (fs::path(path) / shard).string();
        if (!fs::exists(shard_path, ec))
          throw Error(index + ": shard '" + shard + "' (holding tensor '" + it.key() + "') is missing from '" + path +
                      "'");
        c.files_.push_back(SafetensorsFile::open(shard_path));
        found = shard_of_file.emplace(shard, c.files_.size() - 1).first;
      }
      const SafetensorsFile& f = c.files_[found->second];
      if (!f.has(it.key()))
        throw Error(index + ": tensor '" + it.key() + "' is assigned to shard '" + shard +
                    "', which does not contain it");
      c.tensors_[it.key()] = f.at(it.key());
    }
    return c;
  }
  if (fs::exists(single, ec)) {
    c.files_.push_back(SafetensorsFile::open(single));
    c.tensors_ = c.files_.back().tensors();
    return c;
  }
  throw Error("checkpoint folder '" + path + "' has neither model.safetensors.index.json nor model.safetensors");
}

const TensorInfo& Checkpoint::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error("checkpoint '" + path_ + "': no tensor named '" + name + "'");
  return it->second;
}

std::vector<std::string> Checkpoint::files() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f.path());
  return out;
}

size_t Checkpoint::total_bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.nbytes;
  return n;
}

}  // namespace heartmula::io
