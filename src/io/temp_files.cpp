#include "io/temp_files.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

namespace heartmula::io {

namespace {

constexpr int kSlots = 64;
constexpr size_t kMaxPath = 4096;

// state: 0 free, 1 being filled or emptied, 2 holds a path. A signal handler reads only slots in
// state 2, whose path is complete and stays put until the owner takes the slot back to 1.
struct Slot {
  std::atomic<int> state{0};
  char path[kMaxPath];
};

Slot g_slots[kSlots];

}  // namespace

void register_temp_file(const std::string& path) {
  if (path.empty() || path.size() >= kMaxPath) return;
  for (Slot& s : g_slots) {
    int expected = 0;
    if (!s.state.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(s.path, path.c_str(), path.size() + 1);
    s.state.store(2);
    return;
  }
}

void unregister_temp_file(const std::string& path) {
  for (Slot& s : g_slots) {
    if (s.state.load() != 2 || std::strcmp(s.path, path.c_str()) != 0) continue;
    int expected = 2;
    if (s.state.compare_exchange_strong(expected, 1)) {
      s.path[0] = '\0';
      s.state.store(0);
    }
    return;
  }
}

void unlink_temp_files_for_abort() noexcept {
  for (Slot& s : g_slots)
    if (s.state.load() == 2) ::unlink(s.path);
}

}  // namespace heartmula::io
