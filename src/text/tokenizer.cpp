#include "text/tokenizer.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "heartmula/error.h"
#include "text/added_vocabulary.h"
#include "text/bpe_model.h"
#include "text/decoder.h"
#include "text/json_util.h"
#include "text/post_processor.h"
#include "text/pre_tokenizer.h"
#include "text/utf8.h"

namespace heartmula::text {

using json_util::Json;
using json_util::Where;

struct Tokenizer::Impl {
  std::string origin;
  BpeModel model;
  AddedVocabulary added;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
};

namespace {

// Fields HF reads that change the ids and that this implementation only accepts as null.
void require_null(const Json& root, const std::string& key, const Where& at, const std::string& why) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  std::string what = it->is_object() && it->contains("type") ? "'" + (*it)["type"].dump() + "'" : it->dump(-1);
  if (what.size() > 80) what = what.substr(0, 80) + "...";
  (at / key).fail("unsupported " + key + " " + what + " (" + why + ")");
}

const Json& member_or_null(const Json& root, const std::string& key) {
  static const Json null_json;
  const auto it = root.find(key);
  return it == root.end() ? null_json : *it;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw Error(path + ": tokenizer file not found");
  if (std::filesystem::is_directory(status)) throw Error(path + ": is a directory, expected a tokenizer.json file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open tokenizer file: " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read tokenizer file");
  return from_json(buf.str(), path);
}

Tokenizer Tokenizer::from_json(const std::string& json_text, const std::string& origin) {
  const Where at{origin, ""};
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    throw Error(origin + ": invalid JSON: " + e.what());
  }
  json_util::expect(root, Json::value_t::object, "a JSON object (a tokenizer.json)", at);
  require_null(root, "normalizer", at, "no normalizer is implemented");
  require_null(root, "truncation", at, "truncation is not implemented");
  require_null(root, "padding", at, "padding is not implemented");
  auto impl = std::make_shared<Impl>();
  impl->origin = origin;
  try {
    impl->model = BpeModel::from_json(json_util::member(root, "model", at), at / "model");
    impl->added = AddedVocabulary::from_json(member_or_null(root, "added_tokens"), impl->model, at / "added_tokens");
    impl->pre_tokenizer = PreTokenizer::from_json(member_or_null(root, "pre_tokenizer"), at / "pre_tokenizer");
    impl->post_processor = PostProcessor::from_json(member_or_null(root, "post_processor"), at / "post_processor");
    impl->decoder = Decoder::from_json(member_or_null(root, "decoder"), at / "decoder");
  } catch (const Json::exception& e) {  // a value of an unexpected type somewhere
    throw Error(origin + ": malformed tokenizer.json: " + e.what());
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const size_t bad = utf8::find_invalid(text);
  if (bad != utf8::kValid) throw Error("text is not valid UTF-8 at byte " + std::to_string(bad));
  const Impl& t = *impl_;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<std::string> words;
  for (const Piece& piece : t.added.split(text)) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
      continue;
    }
    words.assign(1, std::string(piece.text));
    if (t.pre_tokenizer) t.pre_tokenizer->apply(words);
    for (const std::string& w : words) t.model.tokenize(w, ids);
  }
  if (t.post_processor) t.post_processor->apply(ids, add_special_tokens);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& t = *impl_;
  std::vector<std::string_view> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    std::string_view token;
    if (const AddedToken* added = t.added.find(id)) {
      token = added->content;
    } else if (const auto model_token = t.model.id_to_token(id)) {
      token = *model_token;
    } else {
      throw Error("cannot decode token id " + std::to_string(id) + ": not in the vocabulary of " + t.origin);
    }
    if (skip_special_tokens && t.added.is_special(token)) continue;
    tokens.push_back(token);
  }
  return t.decoder->decode(tokens);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model.token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = impl_->added.find(id)) return added->content;
  if (const auto token = impl_->model.id_to_token(id)) return std::string(*token);
  return std::nullopt;
}

size_t Tokenizer::vocab_size() const { return impl_->model.size() + impl_->added.count_new(impl_->model); }

const std::string& Tokenizer::origin() const { return impl_->origin; }

}  // namespace heartmula::text
