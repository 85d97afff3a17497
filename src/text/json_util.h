// Small helpers to read tokenizer.json with error messages that name the file and the field
// (e.g. "tokenizer.json: model.vocab: expected an object, got array").
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "heartmula/error.h"

namespace heartmula::text::json_util {

using Json = nlohmann::json;

// Where a value sits: "<origin>: <path>", used as the prefix of every message.
struct Where {
  std::string origin;
  std::string path;

  Where operator/(const std::string& key) const { return {origin, path.empty() ? key : path + "." + key}; }
  Where operator[](size_t index) const { return {origin, path + "[" + std::to_string(index) + "]"}; }
  std::string str() const { return path.empty() ? origin : origin + ": " + path; }
  [[noreturn]] void fail(const std::string& what) const { throw Error(str() + ": " + what); }
};

inline void expect(const Json& j, Json::value_t type, const char* name, const Where& at) {
  if (j.type() != type) at.fail(std::string("expected ") + name + ", got " + j.type_name());
}

// obj[key], which must exist.
inline const Json& member(const Json& obj, const std::string& key, const Where& at) {
  expect(obj, Json::value_t::object, "an object", at);
  const auto it = obj.find(key);
  if (it == obj.end()) at.fail("missing field '" + key + "'");
  return *it;
}

inline std::string get_string(const Json& obj, const std::string& key, const Where& at) {
  const Json& v = member(obj, key, at);
  expect(v, Json::value_t::string, "a string", at / key);
  return v.get<std::string>();
}

// A boolean field; absent or null gives `fallback`.
inline bool get_bool(const Json& obj, const std::string& key, bool fallback, const Where& at) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  expect(*it, Json::value_t::boolean, "a boolean", at / key);
  return it->get<bool>();
}

// An id in [0, 2^31).
// `where()` gives the value's Where, built only for an error (a vocabulary has 128 000 ids).
template <typename WhereFn>
int32_t to_id_at(const Json& v, const WhereFn& where) {
  if (!v.is_number_integer()) where().fail(std::string("expected an integer id, got ") + v.type_name());
  if (v.is_number_unsigned() ? v.get<uint64_t>() > 0x7FFFFFFFull
                             : (v.get<int64_t>() < 0 || v.get<int64_t>() > 0x7FFFFFFF)) {
    where().fail("id " + v.dump() + " is out of range");
  }
  return static_cast<int32_t>(v.get<int64_t>());
}
inline int32_t to_id(const Json& v, const Where& at) {
  return to_id_at(v, [&at]() -> const Where& { return at; });
}

// The "type" field of a component, e.g. "BPE", "ByteLevel".
inline std::string type_of(const Json& obj, const Where& at) { return get_string(obj, "type", at); }

}  // namespace heartmula::text::json_util
