// A HuggingFace tokenizer.json loader with an encoder and decoder that give exactly the ids of
// HF `tokenizers` (Tokenizer.encode(text).ids) for the Llama-3 family: byte-level BPE with
// ignore_merges, Split/ByteLevel pre-tokenizers, added/special tokens, ByteLevel decoder,
// ByteLevel/TemplateProcessing/Sequence post-processors. Anything else is refused with an Error
// naming the component. See docs/tokenizer.md.
//
// Thread safety: a Tokenizer is immutable after loading except for an internal word cache that
// is locked, so const methods may be called from several threads. Copies share the same data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heartmula::text {

class Tokenizer {
 public:
  // Loads a tokenizer.json. Throws heartmula::Error naming the file and what is wrong with it.
  static Tokenizer from_file(const std::string& path);
  // Same, from the JSON text; `origin` names it in error messages.
  static Tokenizer from_json(const std::string& json_text, const std::string& origin = "<memory>");

  // == HF Tokenizer.encode(text, add_special_tokens).ids. Special tokens written in the text
  // (e.g. "<|eot_id|>") are recognised. Throws Error("text is not valid UTF-8 at byte N").
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // == HF Tokenizer.decode(ids, skip_special_tokens), except that an id outside the
  // vocabulary is an Error (HF silently drops it).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // Added tokens first, then the model vocabulary (as HF).
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // HF get_vocab_size(with_added_tokens=True): model tokens + added tokens the model lacks.
  size_t vocab_size() const;
  // The file name or origin given when loading.
  const std::string& origin() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace heartmula::text
