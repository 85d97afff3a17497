#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "heartmula/error.h"
#include "io/atomic_file.h"

namespace heartmula::io {

namespace {

using json = nlohmann::json;

// The safetensors reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

[[noreturn]] void fail(const std::string& origin, const std::string& what) { throw Error(origin + ": " + what); }

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

TensorInfo parse_entry(const std::string& origin, const std::string& name, const json& e, size_t data_size) {
  auto where = [&](const std::string& what) { fail(origin, "tensor '" + name + "': " + what); };
  if (!e.is_object()) where("entry is not a JSON object");
  TensorInfo t;
  t.name = name;

  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) where("missing or non-string 'dtype'");
  auto parsed = dtype_from_name(dt->get<std::string>());
  if (!parsed) where("unsupported dtype '" + dt->get<std::string>() + "'");
  t.dtype = *parsed;

  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) where("missing or non-array 'shape'");
  if (sh->size() > 16) where("shape has " + std::to_string(sh->size()) + " dimensions (max 16)");
  uint64_t numel = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) where("shape entry " + d.dump() + " is not a non-negative integer");
    uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, v, &numel))
      where("shape " + sh->dump() + " overflows");
    t.shape.push_back(static_cast<int64_t>(v));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(t.dtype)), &nbytes))
    where("shape " + sh->dump() + " overflows");

  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    where("'data_offsets' must be two non-negative integers");
  uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
  if (begin > end) where("data_offsets " + off->dump() + " are reversed");
  if (end > data_size)
    where("data " + off->dump() + " is not within the file's data section of " + std::to_string(data_size) +
          " bytes; the file is truncated or corrupt");
  if (end - begin != nbytes)
    where("shape " + t.shape_str() + " x " + dtype_name(t.dtype) + " needs " + std::to_string(nbytes) +
          " bytes but data_offsets span " + std::to_string(end - begin));
  t.data = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(begin));  // fixed up by caller
  t.nbytes = static_cast<size_t>(nbytes);
  return t;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void parse_safetensors_header(const std::string& origin, const uint8_t* bytes, size_t size,
                              std::map<std::string, TensorInfo>& out, std::map<std::string, std::string>& metadata) {
  if (size < 8) fail(origin, "file is " + std::to_string(size) + " bytes, too short for a safetensors header");
  uint64_t n = read_u64_le(bytes);
  if (n > kMaxHeaderBytes)
    fail(origin, "header length " + std::to_string(n) + " is absurd (max 100 MB); not a safetensors file?");
  if (n > size - 8)
    fail(origin, "header length " + std::to_string(n) + " exceeds the file size " + std::to_string(size) +
                     "; the file is truncated");
  const char* hdr = reinterpret_cast<const char*>(bytes + 8);
  json j = json::parse(hdr, hdr + n, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(origin, "header is not valid JSON");
  if (!j.is_object()) fail(origin, "header is not a JSON object");

  const uint8_t* data = bytes + 8 + n;
  const size_t data_size = size - 8 - static_cast<size_t>(n);
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(origin, "'__metadata__' is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(origin, "'__metadata__." + m.key() + "' is not a string");
        metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    TensorInfo t = parse_entry(origin, it.key(), *it, data_size);
    uint64_t begin = reinterpret_cast<uintptr_t>(t.data);
    if (t.nbytes > 0) spans.emplace_back(begin, begin + t.nbytes);
    t.data = data + begin;
    out.emplace(t.name, std::move(t));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].first < spans[i - 1].second) {
      std::string a, b;
      for (const auto& [name, t] : out) {
        uint64_t begin = static_cast<uint64_t>(t.data - data);
        if (begin == spans[i - 1].first && a.empty())
          a = name;
        else if (begin == spans[i].first && b.empty())
          b = name;
      }
      fail(origin, "tensors '" + a + "' and '" + b + "' overlap in the data section");
    }
  }
}

SafetensorsFile SafetensorsFile::parse(std::shared_ptr<MmapFile> file) {
  SafetensorsFile f;
  f.file_ = std::move(file);
  parse_safetensors_header(f.file_->path(), f.file_->data(), f.file_->size(), f.tensors_, f.metadata_);
  for (auto& [name, t] : f.tensors_) t.file = f.file_;
  return f;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) { return parse(MmapFile::open(path)); }

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(path() + ": no tensor named '" + name + "'");
  return it->second;
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
                            size_t nbytes) {
  if (name.empty() || name == "__metadata__") throw Error("safetensors writer: invalid tensor name '" + name + "'");
  size_t expect = dtype_size(dtype);
  for (auto d : shape) expect *= static_cast<size_t>(d);
  if (expect != nbytes)
    throw Error("safetensors writer: tensor '" + name + "' has " + std::to_string(nbytes) + " bytes, shape needs " +
                std::to_string(expect));
  Entry e{dtype, std::move(shape), std::string(static_cast<const char*>(data), nbytes)};
  entries_[name] = std::move(e);
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

std::string SafetensorsWriter::serialize() const {
  json header = json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  size_t offset = 0;
  for (const auto& [name, e] : entries_) {
    header[name] = {
        {"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data section starts 8-aligned
  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += h;
  for (const auto& [name, e] : entries_) out += e.bytes;
  return out;
}

size_t TensorSpec::nbytes() const {
  size_t n = dtype_size(dtype);
  for (auto d : shape) n *= static_cast<size_t>(d);
  return n;
}

void write_safetensors_streaming(const std::string& path, const std::vector<TensorSpec>& specs,
                                 const std::function<void(size_t, void*, size_t)>& fill,
                                 const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0, largest = 0;
  for (const auto& t : specs) {
    header[t.name] = {
        {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
    largest = std::max(largest, t.nbytes());
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xff);
  prefix += h;
  std::vector<char> buffer(largest);
  AtomicFileWriter out(path);
  out.write(prefix.data(), prefix.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const size_t n = specs[i].nbytes();
    fill(i, buffer.data(), n);
    out.write(buffer.data(), n);
  }
  out.commit();
}

void SafetensorsWriter::write(const std::string& path) const {
  std::string bytes = serialize();
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace heartmula::io
