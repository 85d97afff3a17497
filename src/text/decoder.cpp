#include "text/decoder.h"

#include "text/byte_level.h"
#include "text/utf8.h"

namespace heartmula::text {

using json_util::Json;
using json_util::Where;

namespace {

class ByteLevelDecoder final : public Decoder {
 public:
  std::string decode(const std::vector<std::string_view>& tokens) const override {
    std::string bytes;
    for (const std::string_view t : tokens) byte_level::decode(t, bytes);
    return utf8::to_lossy(bytes);
  }
};

class JoinDecoder final : public Decoder {
 public:
  std::string decode(const std::vector<std::string_view>& tokens) const override {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ' ';
      out.append(tokens[i]);
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Decoder> Decoder::from_json(const Json& j, const Where& at) {
  if (j.is_null()) return std::make_unique<JoinDecoder>();
  const std::string type = json_util::type_of(j, at);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  (at / "type").fail("unsupported decoder type '" + type + "' (supported: ByteLevel)");
}

}  // namespace heartmula::text
