// The safetensors reader on good and hand-made corrupt files, the sharded checkpoint, the
// writer, the torch bridge and the weight binder.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "heartmula/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/torch_tensors.h"
#include "io/weight_binder.h"

namespace fs = std::filesystem;
using heartmula::Error;
using namespace heartmula::io;

namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/heartmula-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file with a raw JSON header and `data_len` bytes of data.
std::string raw_file(const std::string& header, size_t data_len) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += header;
  out.append(data_len, '\0');
  return out;
}

// Expects open() to throw an Error whose message contains every one of `parts`.
void expect_error(const std::string& path, std::initializer_list<std::string> parts) {
  try {
    SafetensorsFile::open(path);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

std::string two_tensor_file() {
  SafetensorsWriter w;
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> b = {7, -8};
  w.add("a", DType::F32, {2, 3}, a.data(), a.size() * 4);
  w.add("b", DType::I64, {2}, b.data(), b.size() * 8);
  w.set_metadata("format", "pt");
  return w.serialize();
}

}  // namespace

TEST(Safetensors, RoundTripThroughWriterAndReader) {
  TempDir d;
  write_bytes(d.file("x.safetensors"), two_tensor_file());
  auto f = SafetensorsFile::open(d.file("x.safetensors"));
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const auto& a = f.at("a");
  EXPECT_EQ(a.dtype, DType::F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  at::Tensor ta = view_tensor(a);
  EXPECT_TRUE(at::equal(ta, at::arange(1, 7, at::kFloat).reshape({2, 3})));
  at::Tensor tb = view_tensor(f.at("b"));
  EXPECT_EQ(tb.scalar_type(), at::kLong);
  EXPECT_EQ(tb[1].item<int64_t>(), -8);
}

TEST(Safetensors, ViewIsZeroCopyAndCopyOnWrite) {
  TempDir d;
  write_bytes(d.file("x.safetensors"), two_tensor_file());
  auto f = SafetensorsFile::open(d.file("x.safetensors"));
  at::Tensor ta = view_tensor(f.at("a"));
  EXPECT_EQ(ta.data_ptr(), static_cast<const void*>(f.at("a").data));
  ta.fill_(0);  // private mapping: the file on disk is untouched
  auto g = SafetensorsFile::open(d.file("x.safetensors"));
  EXPECT_EQ(view_tensor(g.at("a"))[0][0].item<float>(), 1.0f);
}

TEST(Safetensors, AllDtypesConvert) {
  TempDir d;
  std::vector<std::pair<std::string, at::Tensor>> ts;
  for (auto st : {at::kDouble, at::kFloat, at::kHalf, at::kBFloat16, at::kLong, at::kInt, at::kShort, at::kChar,
                  at::kByte, at::kBool})
    ts.emplace_back(std::string("t_") + c10::toString(st), at::arange(0, 6).to(st).reshape({3, 2}));
  save_tensors(d.file("all.safetensors"), ts);
  auto f = SafetensorsFile::open(d.file("all.safetensors"));
  for (const auto& [name, t] : ts) {
    at::Tensor back = load_tensor(f.at(name), at::kFloat, at::kCPU);
    EXPECT_TRUE(at::equal(back, t.to(at::kFloat))) << name;
  }
}

TEST(SafetensorsCorrupt, TooShort) {
  TempDir d;
  write_bytes(d.file("s.safetensors"), "abc");
  expect_error(d.file("s.safetensors"), {"s.safetensors", "too short"});
}

TEST(SafetensorsCorrupt, EmptyFile) {
  TempDir d;
  write_bytes(d.file("e.safetensors"), "");
  expect_error(d.file("e.safetensors"), {"e.safetensors", "too short"});
}

TEST(SafetensorsCorrupt, HeaderLengthBeyondFile) {
  TempDir d;
  std::string bytes = raw_file("{}", 0);
  bytes[0] = 100;  // claims a 100-byte header
  write_bytes(d.file("h.safetensors"), bytes);
  expect_error(d.file("h.safetensors"), {"h.safetensors", "header length 100", "truncated"});
}

TEST(SafetensorsCorrupt, AbsurdHeaderLength) {
  TempDir d;
  std::string bytes = raw_file("{}", 0);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(0xff);
  write_bytes(d.file("h.safetensors"), bytes);
  expect_error(d.file("h.safetensors"), {"absurd"});
}

TEST(SafetensorsCorrupt, BadJson) {
  TempDir d;
  write_bytes(d.file("j.safetensors"), raw_file("{\"a\": [", 0));
  expect_error(d.file("j.safetensors"), {"j.safetensors", "not valid JSON"});
  write_bytes(d.file("k.safetensors"), raw_file("[1,2]", 0));
  expect_error(d.file("k.safetensors"), {"not a JSON object"});
}

TEST(SafetensorsCorrupt, UnknownDtype) {
  TempDir d;
  write_bytes(d.file("d.safetensors"), raw_file(R"({"w":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}})", 1));
  expect_error(d.file("d.safetensors"), {"tensor 'w'", "unsupported dtype 'F8_E9'"});
}

TEST(SafetensorsCorrupt, ShapeTimesDtypeMismatch) {
  TempDir d;
  write_bytes(d.file("m.safetensors"), raw_file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24));
  expect_error(d.file("m.safetensors"), {"tensor 'w'", "needs 24 bytes", "span 20"});
}

TEST(SafetensorsCorrupt, OffsetsOutsideData) {
  TempDir d;
  write_bytes(d.file("o.safetensors"), raw_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
  expect_error(d.file("o.safetensors"), {"o.safetensors", "tensor 'w'", "not within"});
}

TEST(SafetensorsCorrupt, ReversedOffsets) {
  TempDir d;
  write_bytes(d.file("r.safetensors"), raw_file(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 8));
  expect_error(d.file("r.safetensors"), {"reversed"});
}

TEST(SafetensorsCorrupt, NegativeOrFractionalShape) {
  TempDir d;
  write_bytes(d.file("n.safetensors"), raw_file(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0));
  expect_error(d.file("n.safetensors"), {"tensor 'w'", "non-negative integer"});
  write_bytes(d.file("f.safetensors"), raw_file(R"({"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", 1));
  expect_error(d.file("f.safetensors"), {"non-negative integer"});
}

TEST(SafetensorsCorrupt, ShapeOverflow) {
  TempDir d;
  write_bytes(d.file("v.safetensors"),
              raw_file(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8));
  expect_error(d.file("v.safetensors"), {"tensor 'w'", "overflows"});
  write_bytes(d.file("u.safetensors"),
              raw_file(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})", 8));
  expect_error(d.file("u.safetensors"), {"overflows"});
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
  TempDir d;
  write_bytes(d.file("x.safetensors"), raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                                12));
  expect_error(d.file("x.safetensors"), {"'a'", "'b'", "overlap"});
}

TEST(SafetensorsCorrupt, MissingFields) {
  TempDir d;
  write_bytes(d.file("a.safetensors"), raw_file(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4));
  expect_error(d.file("a.safetensors"), {"tensor 'w'", "dtype"});
  write_bytes(d.file("b.safetensors"), raw_file(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4));
  expect_error(d.file("b.safetensors"), {"tensor 'w'", "shape"});
  write_bytes(d.file("c.safetensors"), raw_file(R"({"w":{"dtype":"F32","shape":[1]}})", 4));
  expect_error(d.file("c.safetensors"), {"tensor 'w'", "data_offsets"});
  write_bytes(d.file("e.safetensors"), raw_file(R"({"w":3})", 4));
  expect_error(d.file("e.safetensors"), {"tensor 'w'", "not a JSON object"});
  write_bytes(d.file("m.safetensors"), raw_file(R"({"__metadata__":{"k":1}})", 0));
  expect_error(d.file("m.safetensors"), {"__metadata__.k"});
}

TEST(SafetensorsCorrupt, TruncatedRealFile) {
  TempDir d;
  std::string bytes = two_tensor_file();
  write_bytes(d.file("t.safetensors"), bytes.substr(0, bytes.size() - 3));
  expect_error(d.file("t.safetensors"), {"t.safetensors", "tensor 'b'", "truncated"});
}

TEST(SafetensorsCorrupt, MissingFileAndFolder) {
  TempDir d;
  expect_error(d.file("nope.safetensors"), {"nope.safetensors", "cannot open"});
  expect_error(d.path(), {"not a regular file"});
}

// Every prefix of a valid file either parses or throws Error: never crashes.
TEST(SafetensorsCorrupt, EveryTruncationIsAnError) {
  std::string bytes = two_tensor_file();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::map<std::string, TensorInfo> t;
    std::map<std::string, std::string> m;
    EXPECT_THROW(parse_safetensors_header("mem", reinterpret_cast<const uint8_t*>(bytes.data()), n, t, m), Error)
        << "prefix " << n;
  }
}

// Flipping any single header byte never crashes (it may still parse).
TEST(SafetensorsCorrupt, ByteFlipsNeverCrash) {
  std::string bytes = two_tensor_file();
  for (size_t i = 0; i < bytes.size() - 32; ++i) {
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ 0x5a);
    std::map<std::string, TensorInfo> t;
    std::map<std::string, std::string> m;
    try {
      parse_safetensors_header("mem", reinterpret_cast<const uint8_t*>(b.data()), b.size(), t, m);
      for (const auto& [name, info] : t) {
        ASSERT_GE(info.data, reinterpret_cast<const uint8_t*>(b.data()));
        ASSERT_LE(info.data + info.nbytes, reinterpret_cast<const uint8_t*>(b.data()) + b.size());
      }
    } catch (const Error&) {
    }
  }
}

namespace {
// Two shards + index, like HF save_pretrained.
void make_sharded(const TempDir& d) {
  save_tensors(d.file("model-00001-of-00002.safetensors"), {{"x.w", at::ones({2, 2})}});
  save_tensors(d.file("model-00002-of-00002.safetensors"), {{"y.w", at::zeros({3})}});
  nlohmann::json idx = {
      {"metadata", {{"total_size", 28}}},
      {"weight_map", {{"x.w", "model-00001-of-00002.safetensors"}, {"y.w", "model-00002-of-00002.safetensors"}}}};
  std::ofstream(d.file("model.safetensors.index.json")) << idx.dump();
}
}  // namespace

TEST(Checkpoint, ShardedFolder) {
  TempDir d;
  make_sharded(d);
  auto c = Checkpoint::open(d.path());
  EXPECT_EQ(c.tensors().size(), 2u);
  EXPECT_EQ(c.files().size(), 2u);
  EXPECT_EQ(c.at("y.w").shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(c.total_bytes(), 28u);
}

TEST(Checkpoint, SingleFileAndSingleFolder) {
  TempDir d;
  save_tensors(d.file("model.safetensors"), {{"a", at::ones({1})}});
  EXPECT_TRUE(Checkpoint::open(d.path()).has("a"));
  EXPECT_TRUE(Checkpoint::open(d.file("model.safetensors")).has("a"));
}

TEST(Checkpoint, MissingShardNamedByIndex) {
  TempDir d;
  make_sharded(d);
  fs::remove(d.file("model-00002-of-00002.safetensors"));
  try {
    Checkpoint::open(d.path());
    FAIL();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model-00002-of-00002.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("y.w"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  }
}

TEST(Checkpoint, IndexNamesTensorAbsentFromShard) {
  TempDir d;
  make_sharded(d);
  nlohmann::json idx = {
      {"weight_map", {{"x.w", "model-00001-of-00002.safetensors"}, {"z.w", "model-00001-of-00002.safetensors"}}}};
  std::ofstream(d.file("model.safetensors.index.json")) << idx.dump();
  try {
    Checkpoint::open(d.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'z.w'"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, BadIndexAndEmptyFolder) {
  TempDir d;
  std::ofstream(d.file("model.safetensors.index.json")) << "{\"weight_map\": 3}";
  EXPECT_THROW(Checkpoint::open(d.path()), Error);
  std::ofstream(d.file("model.safetensors.index.json")) << "{\"weight_map\": {\"a\": \"../etc/passwd\"}}";
  EXPECT_THROW(Checkpoint::open(d.path()), Error);
  TempDir e;
  try {
    Checkpoint::open(e.path());
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("neither"), std::string::npos);
  }
  EXPECT_THROW(Checkpoint::open(e.file("absent")), Error);
}

TEST(WeightBinder, LoadsConvertsAndReportsAllProblemsAtOnce) {
  TempDir d;
  save_tensors(d.file("model.safetensors"), {{"a.weight", at::ones({2, 3}, at::kBFloat16)},
                                             {"b.weight", at::ones({4})},
                                             {"flag", at::ones({1}, at::kBool)},
                                             {"extra", at::ones({1})}});
  auto c = Checkpoint::open(d.path());
  {
    at::Tensor a, b;
    WeightBinder binder(c, at::kFloat, at::kCPU);
    binder.expect("a.weight", {2, 3}, &a);
    binder.expect("b.weight", {4}, &b);
    auto stats = binder.bind();
    EXPECT_EQ(a.scalar_type(), at::kFloat);
    EXPECT_EQ(stats.tensors, 2u);
    EXPECT_EQ(stats.unexpected, (std::vector<std::string>{"extra", "flag"}));
  }
  {
    at::Tensor a, b, m, f;
    WeightBinder binder(c, at::kFloat, at::kCPU);
    binder.expect("a.weight", {3, 2}, &a);
    binder.expect("b.weight", {4}, &b);
    binder.expect("missing.weight", {7}, &m);
    binder.expect("flag", {1}, &f);
    try {
      binder.bind();
      FAIL();
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("3 problems"), std::string::npos) << msg;
      EXPECT_NE(msg.find("got [2, 3], expected [3, 2]"), std::string::npos) << msg;
      EXPECT_NE(msg.find("missing tensor 'missing.weight'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("'flag' has non-numeric dtype BOOL"), std::string::npos) << msg;
    }
    EXPECT_FALSE(b.defined());  // nothing loaded when anything is wrong
  }
}

TEST(WeightBinder, DeclarationsAndRandomBinding) {
  at::Tensor w, scale, fused;
  WeightBinder binder(at::kFloat, at::kCPU);
  binder.expect("layer.weight", {4, 3}, &w);
  binder.expect("layer.norm.scale", {4}, &scale);
  binder.expect_with(
      "other.weight", {2, 2},
      [&](at::Tensor t) {
        fused = at::cat({t, t});
      },
      at::kFloat);
  auto decl = binder.declarations();
  ASSERT_EQ(decl.size(), 3u);
  EXPECT_EQ(decl[0].key, "layer.weight");
  EXPECT_EQ(decl[2].shape, (std::vector<int64_t>{2, 2}));
  auto stats = binder.bind_random(7, 0.02);
  EXPECT_EQ(stats.tensors, 3u);
  EXPECT_EQ(w.sizes(), (at::IntArrayRef{4, 3}));
  EXPECT_TRUE(at::equal(scale, at::ones({4})));
  EXPECT_EQ(fused.size(0), 4);
  EXPECT_GT(w.abs().max().item<float>(), 0.0f);
  EXPECT_LT(w.abs().max().item<float>(), 0.2f);
  EXPECT_THROW(binder.bind(), Error);  // no checkpoint to bind from
}

TEST(Safetensors, StreamingWriterMatchesInMemoryWriter) {
  TempDir d;
  std::vector<TensorSpec> specs = {{"b", DType::F32, {2, 2}}, {"a", DType::I64, {3}}};
  write_safetensors_streaming(d.file("s.safetensors"), specs, [](size_t i, void* buf, size_t n) {
    if (i == 0) {
      float v[4] = {1, 2, 3, 4};
      std::memcpy(buf, v, n);
    } else {
      int64_t v[3] = {5, 6, 7};
      std::memcpy(buf, v, n);
    }
  });
  auto f = SafetensorsFile::open(d.file("s.safetensors"));
  EXPECT_TRUE(at::equal(view_tensor(f.at("b")), at::arange(1, 5, at::kFloat).reshape({2, 2})));
  EXPECT_TRUE(at::equal(view_tensor(f.at("a")), at::arange(5, 8, at::kLong)));
  for (const auto& e : fs::directory_iterator(d.path()))
    EXPECT_EQ(e.path().filename().string().find(".part"), std::string::npos) << e.path();
}

TEST(Safetensors, WriteIntoMissingFolderIsAnError) {
  SafetensorsWriter w;
  float v = 1;
  w.add("x", DType::F32, {1}, &v, 4);
  try {
    w.write("/nonexistent-folder/x.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-folder/x.safetensors"), std::string::npos);
  }
}

TEST(WeightBinder, CheckReportsWithoutLoading) {
  TempDir d;
  save_tensors(d.file("model.safetensors"), {{"a.weight", at::ones({2, 3})}});
  auto c = Checkpoint::open(d.path());
  at::Tensor a, b;
  WeightBinder ok(c, at::kFloat, at::kCPU);
  ok.expect("a.weight", {2, 3}, &a);
  EXPECT_NO_THROW(ok.check());
  EXPECT_FALSE(a.defined());  // check() loads nothing
  WeightBinder bad(c, at::kFloat, at::kCPU);
  bad.expect("a.weight", {2, 3}, &a);
  bad.expect("b.weight", {1}, &b);
  EXPECT_THROW(bad.check(), Error);
}
