#include "io/dtype.h"

namespace heartmula::io {

namespace {
struct Entry {
  DType dt;
  const char* name;
  size_t size;
};
constexpr Entry kTable[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4},   {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4},   {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};
}  // namespace

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kTable)
    if (name == e.name) return e.dt;
  return std::nullopt;
}

const char* dtype_name(DType dt) {
  for (const auto& e : kTable)
    if (e.dt == dt) return e.name;
  return "?";
}

size_t dtype_size(DType dt) {
  for (const auto& e : kTable)
    if (e.dt == dt) return e.size;
  return 0;
}

}  // namespace heartmula::io
