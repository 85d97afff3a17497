// memory_info() and the out-of-memory report (device.h).
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "runtime/device.h"

namespace heartmula::runtime {

namespace {

// RAM from /proc/meminfo ("MemTotal:  131072 kB"), this process's RSS now and at its peak.
MemoryInfo cpu_memory() {
  MemoryInfo m;
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemTotal:") m.total = kb * 1024;
    if (key == "MemAvailable:") m.free = kb * 1024;
  }
  m.reserved = current_memory_bytes(c10::Device(c10::kCPU));
  m.peak_reserved = peak_memory_bytes(c10::Device(c10::kCPU));
  return m;
}

std::string gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

MemoryInfo memory_info(c10::Device device) {
  if (device.is_cpu()) return cpu_memory();
  const auto* b = detail::backend_for(device.type());
  if (!b) return {};
  return b->memory(device.has_index() ? device.index() : 0);
}

std::string requested_allocation(const std::string& message) {
  const std::string key = "Tried to allocate ";
  const auto at = message.find(key);
  if (at == std::string::npos) return "";
  const auto start = at + key.size();
  auto end = message.find_first_of(".;(\n", message.find(' ', start));  // "2.00 GiB." -> "2.00 GiB"
  if (end == std::string::npos) end = message.size();
  std::string size = message.substr(start, end - start);
  while (!size.empty() && (size.back() == ' ' || size.back() == ',')) size.pop_back();
  return size;
}

std::string format_out_of_memory(const OutOfMemoryFacts& f) {
  std::ostringstream out;
  out << "out of memory on " << (f.device.empty() ? "the device" : f.device);
  if (!f.phase.empty()) out << " during the " << f.phase;
  out << "\n";
  const std::string wanted = requested_allocation(f.message);
  out << "  allocation:  " << (wanted.empty() ? "size not reported" : wanted + " requested") << "\n";
  const MemoryInfo& m = f.memory;
  if (m.total > 0) out << "  device:      " << gib(m.total) << " total, " << gib(m.free) << " free now\n";
  if (m.reserved > 0 || m.peak_reserved > 0)
    out << "  this process: " << gib(m.reserved) << " held by the allocator now, " << gib(m.peak_reserved)
        << " at the peak\n";
  if (!f.hints.empty()) {
    out << "  would help:";
    for (size_t i = 0; i < f.hints.size(); ++i) out << (i ? ";" : "") << " " << f.hints[i];
    out << "\n";
  }
  return out.str();
}

std::string out_of_memory_report(const std::exception& e, const std::string& phase,
                                 const std::vector<std::string>& hints) {
  std::vector<std::pair<DeviceInfo, MemoryInfo>> gpus, touched;
  for (const DeviceInfo& d : list_devices())
    if (!d.device.is_cpu()) gpus.emplace_back(d, memory_info(d.device));
  for (const auto& g : gpus)
    if (g.second.peak_reserved > 0) touched.push_back(g);
  if (touched.empty() && !gpus.empty()) touched.push_back(gpus.front());
  std::string out;
  for (const auto& [d, mem] : touched) {
    OutOfMemoryFacts f;
    f.message = e.what();
    f.device = d.device.str() + " (" + d.name + ")";
    f.phase = phase;
    f.memory = mem;
    f.hints = hints;
    out += format_out_of_memory(f);
  }
  return out;
}

}  // namespace heartmula::runtime
