#include "text/added_vocabulary.h"

#include <algorithm>

#include "text/regex.h"
#include "text/utf8.h"

namespace heartmula::text {

using json_util::Json;
using json_util::Where;

namespace {

// Single Unicode characters as Rust's regex crate classifies them (HF uses `\w` and `\s`).
const Regex& word_char() {
  static const Regex re = Regex::compile("\\w", "added_tokens");
  return re;
}
const Regex& space_char() {
  static const Regex re = Regex::compile("\\s", "added_tokens");
  return re;
}

bool ends_with_word(std::string_view s) {
  return !s.empty() && word_char().match_at(s, utf8::prev_char_start(s, s.size())) != Regex::npos;
}
bool starts_with_word(std::string_view s) { return !s.empty() && word_char().match_at(s, 0) != Regex::npos; }

// Start of the run of whitespace that ends `s`.
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    const size_t start = utf8::prev_char_start(s, end);
    if (space_char().match_at(s, start) == Regex::npos) break;
    end = start;
  }
  return end;
}
// Length of the run of whitespace that starts `s`.
size_t leading_space_len(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t n = space_char().match_at(s, pos);
    if (n == Regex::npos || n == 0) break;
    pos += n;
  }
  return pos;
}

}  // namespace

AddedVocabulary AddedVocabulary::from_json(const Json& tokens, const BpeModel& model, const Where& at) {
  AddedVocabulary v;
  if (tokens.is_null()) return v;
  json_util::expect(tokens, Json::value_t::array, "an array", at);
  int32_t next_id = static_cast<int32_t>(model.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Json& t = tokens[i];
    const Where ti = at[i];
    AddedToken token;
    token.content = json_util::get_string(t, "content", ti);
    token.id = json_util::to_id(json_util::member(t, "id", ti), ti / "id");
    token.single_word = json_util::get_bool(t, "single_word", false, ti);
    token.lstrip = json_util::get_bool(t, "lstrip", false, ti);
    token.rstrip = json_util::get_bool(t, "rstrip", false, ti);
    token.normalized = json_util::get_bool(t, "normalized", true, ti);
    token.special = json_util::get_bool(t, "special", false, ti);
    v.add(std::move(token), model, next_id, ti);
  }
  v.build_matchers();
  return v;
}

void AddedVocabulary::add(AddedToken token, const BpeModel& model, int32_t& next_id, const Where& at) {
  if (token.content.empty()) return;  // HF ignores these
  int32_t id;
  if (const auto it = by_content_.find(token.content); it != by_content_.end()) {
    id = it->second;
  } else if (const auto mid = model.token_to_id(token.content)) {
    id = *mid;
  } else {
    id = next_id++;
  }
  if (id != token.id) {
    at.fail("token '" + token.content + "' is recorded with id " + std::to_string(token.id) +
            " but HF tokenizers gives it id " + std::to_string(id));
  }
  by_content_[token.content] = id;
  if (token.special) special_.insert(token.content);
  by_id_[id] = std::move(token);
}

void AddedVocabulary::build_matchers() {
  for (const auto& [id, token] : by_id_) {
    Matcher& m = token.normalized ? normalized_ : raw_;
    m.by_first_byte[static_cast<unsigned char>(token.content[0])].push_back(&token);
    m.empty = false;
  }
  for (Matcher* m : {&raw_, &normalized_}) {
    for (auto& list : m->by_first_byte) {
      std::sort(list.begin(), list.end(), [](const AddedToken* a, const AddedToken* b) {
        return a->content.size() != b->content.size() ? a->content.size() > b->content.size() : a->content < b->content;
      });
    }
  }
}

std::vector<Piece> AddedVocabulary::split(std::string_view text) const {
  std::vector<Piece> first, out;
  if (text.empty()) return out;
  find_matches(text, raw_, first);
  for (const Piece& p : first) {
    if (p.id >= 0) {
      out.push_back(p);
    } else {
      find_matches(p.text, normalized_, out);
    }
  }
  return out;
}

const AddedToken* AddedVocabulary::longest_at(std::string_view s, size_t pos, const Matcher& m) const {
  for (const AddedToken* t : m.by_first_byte[static_cast<unsigned char>(s[pos])]) {
    if (s.compare(pos, t->content.size(), t->content) == 0) return t;
  }
  return nullptr;
}

// Mirrors HF AddedVocabulary::find_matches: leftmost-longest matches, filtered by single_word,
// widened by lstrip/rstrip; the text between matches becomes plain pieces.
void AddedVocabulary::find_matches(std::string_view s, const Matcher& m, std::vector<Piece>& out) const {
  const auto push = [&out, s](size_t b, size_t e, int32_t id) {
    if (e > b) out.push_back({s.substr(b, e - b), id});
  };
  size_t start_offset = 0;
  size_t pos = 0;
  while (!m.empty && pos < s.size()) {
    const AddedToken* t = longest_at(s, pos, m);
    if (t == nullptr) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + t->content.size();
    pos = stop;  // the search resumes after the match itself, whatever rstrip takes
    if (t->single_word && (ends_with_word(s.substr(0, start)) || starts_with_word(s.substr(stop)))) {
      continue;
    }
    if (t->lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
    if (t->rstrip) stop += leading_space_len(s.substr(stop));
    if (start_offset < start) push(start_offset, start, -1);
    push(start, stop, t->id);
    start_offset = stop;
  }
  if (start_offset < s.size()) push(start_offset, s.size(), -1);
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

size_t AddedVocabulary::count_new(const BpeModel& model) const {
  return static_cast<size_t>(std::count_if(by_content_.begin(), by_content_.end(),
                                           [&](const auto& kv) { return !model.token_to_id(kv.first).has_value(); }));
}

}  // namespace heartmula::text
