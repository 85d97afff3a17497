#include "text/post_processor.h"

#include <map>
#include <string>

namespace heartmula::text {

using json_util::Json;
using json_util::Where;

namespace {

class ByteLevelPost final : public PostProcessor {
 public:
  void apply(std::vector<int32_t>&, bool) const override {}
};

class Template final : public PostProcessor {
 public:
  Template(const Json& j, const Where& at) {
    read_special_tokens(json_util::member(j, "special_tokens", at), at / "special_tokens");
    read_template(json_util::member(j, "single", at), at / "single", true);
    const auto pair = j.find("pair");
    if (pair != j.end() && !pair->is_null()) read_template(*pair, at / "pair", false);
  }

  void apply(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    std::vector<int32_t> out;
    for (const Item& item : single_) {
      if (item.sequence)
        out.insert(out.end(), ids.begin(), ids.end());
      else
        out.insert(out.end(), item.ids->begin(), item.ids->end());
    }
    ids = std::move(out);
  }

 private:
  struct Item {
    bool sequence = false;                      // $A
    const std::vector<int32_t>* ids = nullptr;  // a special token's ids
  };

  void read_special_tokens(const Json& map, const Where& at) {
    json_util::expect(map, Json::value_t::object, "an object", at);
    for (const auto& [name, value] : map.items()) {
      const Json& ids = json_util::member(value, "ids", at / name);
      json_util::expect(ids, Json::value_t::array, "an array", at / name / "ids");
      std::vector<int32_t>& out = special_[name];
      for (size_t i = 0; i < ids.size(); ++i) out.push_back(json_util::to_id(ids[i], (at / name / "ids")[i]));
    }
  }

  // Each piece is {"SpecialToken": {"id": name, "type_id": n}} or {"Sequence": {"id": "A"|"B", ...}}.
  void read_template(const Json& list, const Where& at, bool single) {
    json_util::expect(list, Json::value_t::array, "an array", at);
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& piece = list[i];
      const Where pi = at[i];
      json_util::expect(piece, Json::value_t::object, "an object", pi);
      Item item;
      if (piece.contains("Sequence")) {
        const std::string id = json_util::get_string(piece["Sequence"], "id", pi / "Sequence");
        if (id != "A" && id != "B") (pi / "Sequence" / "id").fail("expected \"A\" or \"B\", got \"" + id + "\"");
        if (single && id == "B") pi.fail("the single-sequence template cannot use sequence B");
        item.sequence = true;
      } else if (piece.contains("SpecialToken")) {
        const std::string id = json_util::get_string(piece["SpecialToken"], "id", pi / "SpecialToken");
        const auto it = special_.find(id);
        if (it == special_.end()) pi.fail("special token '" + id + "' is missing from special_tokens");
        item.ids = &it->second;
      } else {
        pi.fail("expected a SpecialToken or Sequence piece, got " + piece.dump());
      }
      if (single) single_.push_back(item);
    }
  }

  std::map<std::string, std::vector<int32_t>> special_;  // node-based: items point into it
  std::vector<Item> single_;
};

class SequencePost final : public PostProcessor {
 public:
  SequencePost(const Json& j, const Where& at) {
    const Json& list = json_util::member(j, "processors", at);
    json_util::expect(list, Json::value_t::array, "an array", at / "processors");
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = PostProcessor::from_json(list[i], (at / "processors")[i]);
      if (p) steps_.push_back(std::move(p));
    }
  }

  void apply(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& step : steps_) step->apply(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace

std::unique_ptr<PostProcessor> PostProcessor::from_json(const Json& j, const Where& at) {
  if (j.is_null()) return nullptr;
  const std::string type = json_util::type_of(j, at);
  if (type == "ByteLevel") return std::make_unique<ByteLevelPost>();
  if (type == "TemplateProcessing") return std::make_unique<Template>(j, at);
  if (type == "Sequence") return std::make_unique<SequencePost>(j, at);
  (at / "type")
      .fail("unsupported post_processor type '" + type + "' (supported: ByteLevel, TemplateProcessing, Sequence)");
}

}  // namespace heartmula::text
