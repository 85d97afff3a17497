#include "runtime/process_clock.h"

#include <ATen/ATen.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/device.h"

namespace heartmula::runtime {

double seconds_since_process_start() {
  std::ifstream in("/proc/self/stat");
  std::string stat;
  if (!in || !std::getline(in, stat)) return -1;
  // Field 2 (the command name) is in parentheses and may hold spaces: count from the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));  // field 3 onwards
  std::string f;
  for (int i = 3; i < 22 && (fields >> f); ++i) {
  }
  unsigned long long start_ticks = 0;
  if (!(fields >> start_ticks)) return -1;  // field 22: starttime
  timespec now{};
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0) return -1;
  const double since_boot = static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
  const double s = since_boot - static_cast<double>(start_ticks) / static_cast<double>(ticks);
  return s < 0 ? 0 : s;
}

double init_device(c10::Device device) {
  if (device.is_cpu()) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  (void)at::empty({1}, at::TensorOptions().device(device));
  synchronize(device);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace heartmula::runtime
