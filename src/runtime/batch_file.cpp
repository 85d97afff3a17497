// Batch-file lines -> SongRequest: typed reads that check the JSON type and the range of every
// value before converting it, so `1e20` where an int goes or a string where a number goes is an
// error naming the key, never an out-of-range conversion.
#include "runtime/batch_file.h"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "heartmula/error.h"
#include "runtime/song_params.h"

namespace heartmula::runtime {
namespace {

using Json = nlohmann::json;

// A value for an error message: numbers, booleans and null as written, strings cut to 60 bytes,
// arrays and objects by their type only. Never dump() a container: dump() recurses once per
// level, and a line such as {"topk": [[[[...]]]]} 50,000 levels deep overflowed the stack.
std::string describe(const Json& v) {
  if (v.is_array() || v.is_object()) return std::string("an ") + v.type_name();
  if (v.is_string() && v.get_ref<const std::string&>().size() > 60)
    return Json(v.get_ref<const std::string&>().substr(0, 60)).dump(-1, ' ', false, Json::error_handler_t::replace) +
           "...";
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Typed reads of one line's values; each names `where` and the key when the value does not fit.
class Reader {
 public:
  explicit Reader(const std::string& where) : where_(where) {}

  // A numeric song parameter: the table's type and limits, and its message (runtime/song_params.h).
  double param(const SongParam& p, const std::string& k, const Json& v) const {
    bool ok = false;
    double x = 0;
    if (p.integer && v.is_number_unsigned())
      x = static_cast<double>(v.get<uint64_t>()), ok = true;
    else if (p.integer && v.is_number_integer())
      x = static_cast<double>(v.get<int64_t>()), ok = true;
    else if (!p.integer && v.is_number())
      x = v.get<double>(), ok = true;
    if (!ok || !p.accepts(x)) throw UsageError(where_ + ": " + p.error("'" + k + "'", describe(v)));
    return x;
  }
  // A parameter given as text its table entry reads (set_text: the temperature's schedule).
  void text_param(const SongParam& p, const std::string& k, const std::string& text, SongRequest& s) const {
    try {
      p.set_text(s, text, "'" + k + "'");
    } catch (const UsageError& e) {
      throw UsageError(where_ + ": " + e.what());
    }
  }
  uint64_t seed(const std::string& k, const Json& v) const {
    if (!v.is_number_unsigned())
      throw UsageError(where_ + ": '" + k + "' must be an integer in [0, " + std::to_string(UINT64_MAX) +
                       "]. Given: " + describe(v));
    return v.get<uint64_t>();
  }
  std::string string(const std::string& k, const Json& v) const {
    if (!v.is_string()) throw UsageError(where_ + ": '" + k + "' must be a string. Given: " + describe(v));
    return v.get<std::string>();
  }
  bool boolean(const std::string& k, const Json& v) const {
    if (!v.is_boolean()) throw UsageError(where_ + ": '" + k + "' must be true or false. Given: " + describe(v));
    return v.get<bool>();
  }

 private:
  const std::string& where_;
};

// Applies one key (not lyrics/tags) to `s`; false if the key is unknown.
bool apply_key(const Reader& r, const std::string& k, const Json& v, SongRequest& s) {
  if (const SongParam* p = find_song_param(k)) {
    if (p->set_text && v.is_string())
      r.text_param(*p, k, v.get<std::string>(), s);  // "temperature": "1:0.5"
    else
      p->set(s, r.param(*p, k, v));
  } else if (k == "seed")
    s.seed = r.seed(k, v);
  else if (k == "save_path" || k == "save-path" || k == "output")
    s.save_path = r.string(k, v);
  else if (k == "ignore_eos")
    s.ignore_eos = r.boolean(k, v);
  else if (k == "codes_out")
    s.codes_out = r.string(k, v);
  else if (k == "overwrite")
    s.overwrite = r.boolean(k, v);
  else
    return false;
  return true;
}

}  // namespace

bool is_blank_batch_line(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

SongRequest parse_batch_line(const std::string& line, const SongRequest& base, const std::string& where,
                             const TextArgReader& read_text) {
  Json j;
  try {
    j = Json::parse(line, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const Json::exception& e) {
    throw UsageError(where + ": " + e.what());
  }
  if (!j.is_object()) throw UsageError(where + ": not a JSON object");
  SongRequest s = base;
  s.seed.reset();
  auto text = [&](const char* key, const std::string& fallback) {
    if (!j.contains(key)) return fallback;
    if (!j.at(key).is_string()) throw UsageError(where + ": '" + key + "' must be a string");
    try {
      return read_text(j.at(key).get<std::string>(), std::string(key));
    } catch (const UsageError& e) {  // every error of a line names its place, once
      throw UsageError(where + ": " + e.what());
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
  };
  s.lyrics = text("lyrics", base.lyrics);
  s.tags = text("tags", base.tags);
  const Reader r(where);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "lyrics" || it.key() == "tags") continue;
    if (!apply_key(r, it.key(), it.value(), s)) throw UsageError(where + ": unknown key '" + it.key() + "'");
  }
  return s;
}

}  // namespace heartmula::runtime
