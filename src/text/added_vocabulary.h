// Added tokens ("added_tokens" of tokenizer.json, e.g. <|begin_of_text|>): found in the raw text
// before any splitting, leftmost-longest, honouring single_word / lstrip / rstrip, in two passes
// like HF (tokens with normalized=false first, then normalized=true ones on what is left).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "text/bpe_model.h"
#include "text/json_util.h"

namespace heartmula::text {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A piece of the input: plain text still to be pre-tokenized (id < 0) or an added token.
struct Piece {
  std::string_view text;
  int32_t id = -1;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(AddedVocabulary&&) = default;  // the matchers point into by_id_'s nodes
  AddedVocabulary& operator=(AddedVocabulary&&) = default;
  AddedVocabulary(const AddedVocabulary&) = delete;
  AddedVocabulary& operator=(const AddedVocabulary&) = delete;

  // Reads the "added_tokens" array (null = none). Ids are assigned as HF assigns them (the
  // model's id for a token it already has, else the next id after the vocabulary); a file whose
  // recorded ids disagree is rejected.
  static AddedVocabulary from_json(const json_util::Json& tokens, const BpeModel& model, const json_util::Where& at);

  // Splits `text` (valid UTF-8) into added tokens and the plain text between them.
  // Empty pieces are dropped.
  std::vector<Piece> split(std::string_view text) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  const AddedToken* find(int32_t id) const;
  bool is_special(std::string_view content) const { return special_.count(std::string(content)) > 0; }
  // How many added tokens the model vocabulary does not already have.
  size_t count_new(const BpeModel& model) const;

 private:
  // Tokens grouped by their first byte, longest first, for leftmost-longest matching.
  struct Matcher {
    std::array<std::vector<const AddedToken*>, 256> by_first_byte;
    bool empty = true;
  };

  void add(AddedToken token, const BpeModel& model, int32_t& next_id, const json_util::Where& at);
  void build_matchers();
  void find_matches(std::string_view sentence, const Matcher& matcher, std::vector<Piece>& out) const;
  const AddedToken* longest_at(std::string_view sentence, size_t pos, const Matcher& matcher) const;

  std::unordered_map<std::string, int32_t> by_content_;
  std::unordered_map<int32_t, AddedToken> by_id_;
  std::unordered_set<std::string> special_;
  Matcher raw_;         // normalized == false
  Matcher normalized_;  // normalized == true (no normalizer is supported, so matched on raw text)
};

}  // namespace heartmula::text
