// Environment switches (HEARTMULA_*): read once by whoever asks, documented in docs/device-build.md.
#pragma once

#include <cstdlib>
#include <cstring>

namespace heartmula::io {

// True when the variable is set to something other than "" or "0".
inline bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace heartmula::io
