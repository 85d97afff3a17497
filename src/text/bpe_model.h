// The BPE model of a HF tokenizer.json ("model": {"type": "BPE", ...}): vocabulary, ranked
// merges, and the word -> ids algorithm of HF `tokenizers` (lowest-rank pair first, leftmost on
// ties; `ignore_merges` emits a word that is itself in the vocabulary whole). Results are cached
// per word (bounded), so repeated words cost one hash lookup.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/json_util.h"

namespace heartmula::text {

class BpeModel {
 public:
  // Reads the "model" object. Throws Error naming the field on anything malformed, on merges
  // that name tokens missing from the vocabulary, and on options it does not implement.
  static BpeModel from_json(const json_util::Json& model, const json_util::Where& at);

  // Appends the ids of one pre-tokenized word (for byte-level files: byte-level characters).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string_view> id_to_token(int32_t id) const;
  size_t size() const { return vocab_.size(); }

 private:
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  struct Cache;

  void read_vocab(const json_util::Json& vocab, const json_util::Where& at);
  void read_merges(const json_util::Json& merges, const json_util::Where& at);
  void add_merge(std::string_view a, std::string_view b, uint32_t rank, const json_util::Where& at, size_t index);
  std::vector<int32_t> merge_word(std::string_view word) const;
  void initial_symbols(std::string_view word, std::vector<int32_t>& ids) const;
  void merge_all(std::vector<int32_t>& ids) const;
  const Merge* find_merge(int32_t a, int32_t b) const;

  std::vector<std::string> strings_;  // owns the token text the maps below point into
  std::unordered_map<std::string_view, int32_t> vocab_;
  std::unordered_map<int32_t, std::string_view> vocab_r_;
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> rank, merged id
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::shared_ptr<Cache> cache_;
  std::string merged_buffer_;  // scratch while loading
};

}  // namespace heartmula::text
