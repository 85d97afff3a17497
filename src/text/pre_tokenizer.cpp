#include "text/pre_tokenizer.h"

#include <utility>

#include "text/byte_level.h"
#include "text/regex.h"

namespace heartmula::text {

using json_util::Json;
using json_util::Where;

namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

using Span = std::pair<size_t, size_t>;
struct Part {
  Span span;
  bool flag;  // is a match (input) / is to be removed (output)
};

// The text split into matches and the gaps between them, as HF's Pattern::find_matches.
std::vector<Part> matches_and_gaps(const Regex& re, const std::string& s, bool invert) {
  std::vector<Part> parts;
  size_t prev = 0;
  for (const auto& [b, e] : re.find_all(s)) {
    if (prev != b) parts.push_back({{prev, b}, invert});
    parts.push_back({{b, e}, !invert});
    prev = e;
  }
  if (prev != s.size()) parts.push_back({{prev, s.size()}, invert});
  return parts;
}

// Applies a split behaviour (HF NormalizedString::split); flags become "remove".
std::vector<Part> apply_behavior(std::vector<Part> m, Behavior behavior) {
  std::vector<Part> out;
  bool previous = false;
  switch (behavior) {
    case Behavior::Removed:
      return m;
    case Behavior::Isolated:
      for (Part& p : m) p.flag = false;
      return m;
    case Behavior::Contiguous:
      for (const Part& p : m) {
        if (p.flag == previous && !out.empty())
          out.back().span.second = p.span.second;
        else
          out.push_back({p.span, false});
        previous = p.flag;
      }
      return out;
    case Behavior::MergedWithPrevious:
      for (const Part& p : m) {
        if (p.flag && !previous && !out.empty())
          out.back().span.second = p.span.second;
        else
          out.push_back({p.span, false});
        previous = p.flag;
      }
      return out;
    case Behavior::MergedWithNext:
      for (auto it = m.rbegin(); it != m.rend(); ++it) {
        if (it->flag && !previous && !out.empty())
          out.back().span.first = it->span.first;
        else
          out.push_back({it->span, false});
        previous = it->flag;
      }
      return {out.rbegin(), out.rend()};
  }
  return out;
}

Behavior parse_behavior(const std::string& name, const Where& at) {
  if (name == "Removed") return Behavior::Removed;
  if (name == "Isolated") return Behavior::Isolated;
  if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::MergedWithNext;
  if (name == "Contiguous") return Behavior::Contiguous;
  at.fail("unknown split behavior '" + name + "'");
}

class Split final : public PreTokenizer {
 public:
  Split(const Json& j, const Where& at) {
    const Json& pattern = json_util::member(j, "pattern", at);
    const Where pat = at / "pattern";
    if (pattern.contains("Regex")) {
      regex_ = Regex::compile(json_util::get_string(pattern, "Regex", pat), pat.str());
    } else if (pattern.contains("String")) {
      regex_ = Regex::literal(json_util::get_string(pattern, "String", pat), pat.str());
    } else {
      pat.fail("expected {\"Regex\": ...} or {\"String\": ...}, got " + pattern.dump());
    }
    behavior_ = parse_behavior(json_util::get_string(j, "behavior", at), at / "behavior");
    invert_ = json_util::get_bool(j, "invert", false, at);
  }

  void apply(std::vector<std::string>& pieces) const override {
    std::vector<std::string> out;
    for (const std::string& s : pieces) {
      for (const Part& p : apply_behavior(matches_and_gaps(regex_, s, invert_), behavior_)) {
        if (!p.flag && p.span.second > p.span.first) {
          out.push_back(s.substr(p.span.first, p.span.second - p.span.first));
        }
      }
    }
    pieces = std::move(out);
  }

 private:
  Regex regex_;
  Behavior behavior_ = Behavior::Isolated;
  bool invert_ = false;
};

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(const Json& j, const Where& at)
      : add_prefix_space_(json_util::get_bool(j, "add_prefix_space", true, at)),
        use_regex_(json_util::get_bool(j, "use_regex", true, at)) {}

  void apply(std::vector<std::string>& pieces) const override {
    std::vector<std::string> words;
    for (std::string& s : pieces) {
      if (add_prefix_space_ && (s.empty() || s[0] != ' ')) s.insert(0, 1, ' ');
      if (!use_regex_) {
        words.push_back(std::move(s));
        continue;
      }
      for (const Part& p : matches_and_gaps(gpt2_regex(), s, false)) {
        if (p.span.second > p.span.first) words.push_back(s.substr(p.span.first, p.span.second - p.span.first));
      }
    }
    pieces.clear();
    for (const std::string& w : words) {
      if (w.empty()) continue;
      pieces.emplace_back();
      byte_level::encode(w, pieces.back());
    }
  }

 private:
  // The GPT-2 regex HF's ByteLevel uses when use_regex is true (Isolated split).
  static const Regex& gpt2_regex() {
    static const Regex re = Regex::compile(
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", "ByteLevel");
    return re;
  }

  bool add_prefix_space_;
  bool use_regex_;
};

class SequencePre final : public PreTokenizer {
 public:
  SequencePre(const Json& j, const Where& at) {
    const Json& list = json_util::member(j, "pretokenizers", at);
    json_util::expect(list, Json::value_t::array, "an array", at / "pretokenizers");
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = PreTokenizer::from_json(list[i], (at / "pretokenizers")[i]);
      if (p) steps_.push_back(std::move(p));
    }
  }

  void apply(std::vector<std::string>& pieces) const override {
    for (const auto& step : steps_) step->apply(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> PreTokenizer::from_json(const Json& j, const Where& at) {
  if (j.is_null()) return nullptr;
  const std::string type = json_util::type_of(j, at);
  if (type == "Split") return std::make_unique<Split>(j, at);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(j, at);
  if (type == "Sequence") return std::make_unique<SequencePre>(j, at);
  (at / "type").fail("unsupported pre_tokenizer type '" + type + "' (supported: Split, ByteLevel, Sequence)");
}

}  // namespace heartmula::text
