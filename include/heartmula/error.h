// Error types used across heartmula-gen. Exceptions are thrown inside the library and
// caught once in each tool's main(), which prints "error: <what>" and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace heartmula {

// A problem with the run: a bad file, a missing tensor, a device failure. Exit code 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A problem with how the program was called: a bad flag or value. Exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Process exit codes shared by every tool (documented in docs/usage.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntimeError = 1,
  kExitUsage = 2,
  kExitInterrupted = 130,  // interrupted, but what was generated was saved
};

}  // namespace heartmula
