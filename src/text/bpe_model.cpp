#include "text/bpe_model.h"

#include <cstdio>
#include <mutex>
#include <queue>

#include "text/utf8.h"

namespace heartmula::text {

using json_util::Json;
using json_util::Where;

namespace {

constexpr size_t kCacheCapacity = 10000;  // words, as in HF tokenizers
constexpr size_t kCacheMaxWordBytes = 256;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

std::optional<std::string> optional_string(const Json& obj, const std::string& key, const Where& at) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  json_util::expect(*it, Json::value_t::string, "a string or null", at / key);
  return it->get<std::string>();
}

}  // namespace

struct BpeModel::Cache {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

BpeModel BpeModel::from_json(const Json& model, const Where& at) {
  json_util::expect(model, Json::value_t::object, "an object", at);
  const auto type = model.find("type");
  if (type != model.end() && !(type->is_string() && type->get<std::string>() == "BPE")) {
    at.fail("unsupported model type " + type->dump() + " (only BPE is implemented)");
  }
  const auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() && !(dropout->is_number() && dropout->get<double>() == 0.0)) {
    (at / "dropout").fail("BPE dropout " + dropout->dump() + " is not supported (encoding would be random)");
  }
  BpeModel m;
  m.unk_token_ = optional_string(model, "unk_token", at);
  m.continuing_subword_prefix_ = optional_string(model, "continuing_subword_prefix", at).value_or("");
  m.end_of_word_suffix_ = optional_string(model, "end_of_word_suffix", at).value_or("");
  m.fuse_unk_ = json_util::get_bool(model, "fuse_unk", false, at);
  m.byte_fallback_ = json_util::get_bool(model, "byte_fallback", false, at);
  m.ignore_merges_ = json_util::get_bool(model, "ignore_merges", false, at);
  m.read_vocab(json_util::member(model, "vocab", at), at / "vocab");
  m.read_merges(json_util::member(model, "merges", at), at / "merges");
  if (m.unk_token_ && !m.vocab_.count(*m.unk_token_)) {
    (at / "unk_token").fail("'" + *m.unk_token_ + "' is not in the vocabulary");
  }
  m.cache_ = std::make_shared<Cache>();
  return m;
}

void BpeModel::read_vocab(const Json& vocab, const Where& at) {
  json_util::expect(vocab, Json::value_t::object, "an object", at);
  strings_.reserve(vocab.size());  // never grows past this: the maps point into the strings
  vocab_.reserve(vocab.size());
  vocab_r_.reserve(vocab.size());
  for (const auto& [token, value] : vocab.items()) {
    const int32_t id = json_util::to_id_at(value, [&] { return at / token; });
    strings_.push_back(token);
    const std::string_view view = strings_.back();
    vocab_.emplace(view, id);
    const auto [it, fresh] = vocab_r_.emplace(id, view);
    if (!fresh)
      at.fail("id " + std::to_string(id) + " is given to both '" + std::string(it->second) + "' and '" + token + "'");
  }
}

void BpeModel::read_merges(const Json& merges, const Where& at) {
  json_util::expect(merges, Json::value_t::array, "an array", at);
  merges_.reserve(merges.size());
  uint32_t rank = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& m = merges[i];
    if (m.is_string()) {  // legacy form "left right"
      const std::string_view line = m.get_ref<const std::string&>();
      if (line.substr(0, 8) == "#version") continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        at[i].fail("expected \"left right\" (two tokens separated by one space), got \"" + std::string(line) + "\"");
      }
      add_merge(line.substr(0, space), line.substr(space + 1), rank++, at, i);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      add_merge(m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>(), rank++, at, i);
    } else {
      at[i].fail("expected \"left right\" or [\"left\", \"right\"], got " + m.dump());
    }
  }
}

// `at[index]` names the merge in an error; it is built only then (a Where is two strings, and
// the Llama-3 file has 280 000 merges).
void BpeModel::add_merge(std::string_view a, std::string_view b, uint32_t rank, const Where& at, size_t index) {
  const auto ia = vocab_.find(a), ib = vocab_.find(b);
  if (ia == vocab_.end()) at[index].fail("token '" + std::string(a) + "' is not in the vocabulary");
  if (ib == vocab_.end()) at[index].fail("token '" + std::string(b) + "' is not in the vocabulary");
  // Like HF: the merged token is a + b without b's first len(continuing_subword_prefix) bytes.
  if (b.size() < continuing_subword_prefix_.size()) {
    at[index].fail("token '" + std::string(b) + "' is shorter than continuing_subword_prefix");
  }
  b.remove_prefix(continuing_subword_prefix_.size());
  merged_buffer_.assign(a);
  merged_buffer_.append(b);
  const auto im = vocab_.find(merged_buffer_);
  if (im == vocab_.end()) at[index].fail("merged token '" + merged_buffer_ + "' is not in the vocabulary");
  merges_[pair_key(ia->second, ib->second)] = Merge{rank, im->second};  // a later duplicate wins
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string_view> BpeModel::id_to_token(int32_t id) const {
  const auto it = vocab_r_.find(id);
  if (it == vocab_r_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    const auto it = cache_->words.find(std::string(word));
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (cache_->words.size() < kCacheCapacity) cache_->words.emplace(std::string(word), std::move(ids));
  }
}

std::vector<int32_t> BpeModel::merge_word(std::string_view word) const {
  std::vector<int32_t> ids;
  initial_symbols(word, ids);
  merge_all(ids);
  return ids;
}

// One symbol per character (or per byte with byte_fallback, or an unknown-token run).
void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& ids) const {
  std::optional<int32_t> pending_unk;
  const auto unk_id = [&] { return vocab_.at(*unk_token_); };
  std::string s;
  for (size_t i = 0; i < word.size();) {
    const size_t n = utf8::char_len(static_cast<unsigned char>(word[i]));
    const bool first = i == 0, last = i + n >= word.size();
    s.clear();
    if (!first) s += continuing_subword_prefix_;
    s.append(word.substr(i, n));
    if (last) s += end_of_word_suffix_;
    i += n;
    if (const auto it = vocab_.find(s); it != vocab_.end()) {
      if (pending_unk) ids.push_back(*pending_unk);
      pending_unk.reset();
      ids.push_back(it->second);
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      for (const char c : s) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned char>(c));
        const auto it = vocab_.find(name);
        if (it == vocab_.end()) break;
        bytes.push_back(it->second);
      }
      if (bytes.size() == s.size()) {
        ids.insert(ids.end(), bytes.begin(), bytes.end());
        continue;
      }
    }
    if (unk_token_) {
      if (pending_unk && !fuse_unk_) ids.push_back(*pending_unk);
      pending_unk = unk_id();
    }
    // Without an unk token an unknown character is dropped, as in HF tokenizers.
  }
  if (pending_unk) ids.push_back(*pending_unk);
}

const BpeModel::Merge* BpeModel::find_merge(int32_t a, int32_t b) const {
  const auto it = merges_.find(pair_key(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

// Repeatedly merges the adjacent pair of lowest rank (leftmost on ties), exactly as
// HF's Word::merge_all does with its priority queue of candidate merges.
void BpeModel::merge_all(std::vector<int32_t>& ids) const {
  const int n = static_cast<int>(ids.size());
  if (n < 2) return;
  std::vector<int> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    uint32_t rank;
    int pos;
    int32_t new_id;
    bool operator<(const Candidate& o) const {  // "less urgent than"
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  for (int i = 0; i + 1 < n; ++i) {
    if (const Merge* m = find_merge(ids[i], ids[i + 1])) queue.push({m->rank, i, m->new_id});
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int pos = top.pos;
    if (!alive[pos] || next[pos] < 0) continue;
    const int right = next[pos];
    const Merge* current = find_merge(ids[pos], ids[right]);
    if (current == nullptr || current->new_id != top.new_id) continue;  // stale entry
    ids[pos] = top.new_id;
    alive[right] = 0;
    next[pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = pos;
    if (prev[pos] >= 0) {
      if (const Merge* m = find_merge(ids[prev[pos]], ids[pos])) queue.push({m->rank, prev[pos], m->new_id});
    }
    if (next[pos] >= 0) {
      if (const Merge* m = find_merge(ids[pos], ids[next[pos]])) queue.push({m->rank, pos, m->new_id});
    }
  }
  size_t w = 0;
  for (int i = 0; i < n; ++i) {
    if (alive[i]) ids[w++] = ids[i];
  }
  ids.resize(w);
}

}  // namespace heartmula::text
