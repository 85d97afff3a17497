// The one place the tools turn exceptions into "error: <what>" and an exit code
// (UsageError -> 2, any other exception -> 1); `on_error` may add a hint (e.g. out of memory).
// First it reads the HEARTMULA_* switches (io/switches.h): an unknown one is warned about, a
// value a switch does not take stops the tool before any work.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>

#include "heartmula/error.h"
#include "io/switches.h"

namespace heartmula::tools {

template <class Body>
int run_tool(Body&& body, const std::function<void(const std::exception&)>& on_error = {}) {
  try {
    io::check_switches();
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (on_error) on_error(e);
    return kExitRuntimeError;
  }
}

}  // namespace heartmula::tools
