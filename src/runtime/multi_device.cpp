#include "runtime/multi_device.h"

#include <c10/core/DeviceGuard.h>
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "heartmula/error.h"
#include "runtime/device.h"

namespace heartmula::runtime {

namespace {

std::string lowercase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

// Runs `body(i)` for i in [0, n) on n threads at once and joins them; the first exception (in
// order of i) is rethrown after all have ended.
void on_threads(size_t n, const std::function<void(size_t)>& body) {
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      try {
        body(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Makes `device` the thread's current device (CUDA, XPU: LibTorch's current stream and
// allocator calls without an index then mean it); nothing on the CPU.
class OnDevice {
 public:
  explicit OnDevice(c10::Device device) {
    if (!device.is_cpu()) guard_.reset_device(device);
  }

 private:
  c10::OptionalDeviceGuard guard_;
};

}  // namespace

bool is_device_list(const std::string& spec) {
  const std::string s = lowercase(spec);
  return s.find(',') != std::string::npos || (s.size() > 4 && s.compare(s.size() - 4, 4, ":all") == 0);
}

std::vector<c10::Device> parse_device_list(const std::string& spec, const std::string& flag) {
  // Each entry is read by parse_device_entry (runtime/device.h), and every error has the form
  // of parse_device's: the same bad value gives the same message through either.
  const bool several = spec.find(',') != std::string::npos;
  auto bad = [&](const std::string& why) { return device_usage_error(flag, spec, why); };
  std::vector<c10::Device> out;
  size_t start = 0;
  while (true) {
    const size_t comma = spec.find(',', start);
    const std::string entry = trim(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (entry.empty()) throw bad("an empty entry in the list");
    if (several && lowercase(entry) == "auto") throw bad("'auto' is one device; a list names its devices");
    const DeviceEntry e = parse_device_entry(entry);
    if (!e.error.empty()) throw bad(several ? "'" + entry + "': " + e.error : e.error);
    out.insert(out.end(), e.devices.begin(), e.devices.end());
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (const auto& d : out)
    if (d.type() != out.front().type())
      throw bad("mixes device types (" + c10::DeviceTypeName(out.front().type(), true) + " and " +
                c10::DeviceTypeName(d.type(), true) + "); the devices of a list must be of one type");
  return out;
}

std::vector<std::string> device_labels(const std::vector<c10::Device>& devices) {
  std::vector<std::string> out;
  for (size_t i = 0; i < devices.size(); ++i) {
    const std::string name = devices[i].str();
    const bool repeated = std::count(devices.begin(), devices.end(), devices[i]) > 1;
    out.push_back(repeated ? name + "#" + std::to_string(i) : name);
  }
  return out;
}

DevicePool::DevicePool(const ModelSettings& settings, const std::vector<c10::Device>& devices)
    : labels_(device_labels(devices)), devices_(devices) {
  if (devices.empty()) throw UsageError("--device: no device");
  if (!settings.mula_device.empty())
    throw UsageError("--mula-device " + settings.mula_device + " does not combine with a --device list (" +
                     settings.device + "): each device runs both models");
  if (!settings.codec_device.empty())
    throw UsageError("--codec-device " + settings.codec_device + " does not combine with a --device list (" +
                     settings.device + "): each device runs both models");
  for (const auto& d : devices) {
    ModelSettings s = settings;
    s.device = d.str();
    generators_.push_back(std::make_unique<Generator>(std::move(s)));
  }
}

DevicePool::~DevicePool() = default;

size_t DevicePool::size() const { return generators_.size(); }
Generator& DevicePool::generator(size_t device) { return *generators_.at(device); }
const std::string& DevicePool::label(size_t device) const { return labels_.at(device); }

void DevicePool::load() {
  std::vector<std::string> failures(size());
  on_threads(size(), [&](size_t i) {
    const OnDevice on_device(devices_[i]);
    try {
      generators_[i]->load();
    } catch (const std::exception& e) {
      failures[i] = e.what();
    }
  });
  for (size_t i = 0; i < size(); ++i)
    if (!failures[i].empty()) throw Error(labels_[i] + ": " + failures[i]);
}

std::vector<SongResult> DevicePool::generate_many(const std::vector<SongRequest>& requests, size_t group_size,
                                                  const DeviceProgressFn& progress, const StopFn& stop,
                                                  const SongSavedFn& saved, const GroupDoneFn& done) {
  group_size = std::max<size_t>(group_size, 1);
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < requests.size(); i += group_size) {
    groups.emplace_back();
    for (size_t k = i; k < std::min(requests.size(), i + group_size); ++k) groups.back().push_back(k);
  }
  std::vector<SongResult> results(requests.size());
  for (auto& r : results) {  // what a song of a group never started keeps
    r.interrupted = true;
    r.error = "interrupted before this song's batch started";
  }
  for (size_t i = 0; i < requests.size(); ++i)
    if (requests[i].seed) results[i].seed = *requests[i].seed;
  std::atomic<size_t> next{0};
  std::atomic<bool> stopped{false};
  auto should_stop = [&] {
    if (!stopped.load() && stop && stop()) stopped = true;
    return stopped.load();
  };
  on_threads(size(), [&](size_t d) {
    const OnDevice on_device(devices_[d]);
    while (!should_stop()) {
      const size_t g = next.fetch_add(1);
      if (g >= groups.size()) break;
      const std::vector<size_t>& idx = groups[g];
      std::vector<SongRequest> group;
      for (size_t i : idx) group.push_back(requests[i]);
      std::vector<SongResult> res;
      try {
        res = generators_[d]->generate_many(
            group,
            [&](int64_t done_frames, int64_t planned, double t) {
              if (progress) progress(d, done_frames, planned, t);
            },
            should_stop,
            [&](size_t k, const SongResult& r) {
              if (!saved) return;
              SongResult named = r;
              named.device = labels_[d];
              saved(idx[k], named);
            });
      } catch (const std::exception& e) {  // the group failed as a whole (out of memory, ...)
        res.assign(group.size(), SongResult{});
        for (size_t k = 0; k < group.size(); ++k) {
          res[k].seed = group[k].seed.value_or(0);
          res[k].error = labels_[d] + ": " + e.what();
        }
      }
      for (size_t k = 0; k < idx.size(); ++k) {
        res[k].device = labels_[d];
        if (!res[k].error.empty() && res[k].error.rfind(labels_[d] + ": ", 0) != 0)
          res[k].error = labels_[d] + ": " + res[k].error;
        results[idx[k]] = res[k];
      }
      if (done) done(d, idx, res);
    }
  });
  return results;
}

}  // namespace heartmula::runtime
