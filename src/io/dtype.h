// Element types of safetensors files, independent of any tensor library.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace heartmula::io {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// "F32" -> DType::F32; std::nullopt for names this project does not handle.
std::optional<DType> dtype_from_name(std::string_view name);
const char* dtype_name(DType dt);
size_t dtype_size(DType dt);

}  // namespace heartmula::io
