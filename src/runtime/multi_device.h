// Several devices in one process (--device cuda:0,cuda:1 / cuda:all / cpu,cpu): one Generator
// (ModelSession + SongScheduler + OutputPipeline, its own frame loop and codec worker) per
// device, each driven by a thread of its own; songs go, in groups, to whichever device is free.
//
// Threads (runtime/threading.h, once per device): each device's thread is the loop thread of
// its Generator (loading, frame loop); its OutputPipeline has its own codec worker. The pool's
// callbacks (progress, saved, done) run on those threads, several at once: the caller locks.
#pragma once

#include <c10/core/Device.h>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "heartmula/generation.h"
#include "heartmula/generator.h"

namespace heartmula::runtime {

// "cpu,cpu", "cuda:0,cuda:1", "cuda:all", "xpu:all": true when `spec` names several devices
// (a comma, or ":all"), so that a plain --device value takes the one-device path unchanged.
bool is_device_list(const std::string& spec);

// The devices of a --device list, in the order given (a device may repeat: two workers on it).
// Each entry is read by parse_device_entry (runtime/device.h: one parse_device() value, or
// "TYPE:all", every device of that type here); "auto" only alone. Throws device_usage_error
// naming `flag` and the whole value (a bad entry of several also named) for an empty entry, a
// bad or absent device, "auto" in a list, or a list mixing device types (cpu with cuda:
// different precisions, so different songs); a value of one entry fails as parse_device does.
std::vector<c10::Device> parse_device_list(const std::string& spec, const std::string& flag = "--device");

// Names of the pool's devices, each unique: "cuda:0", "cuda:1"; a device given twice gets its
// position in the list ("cpu#0", "cpu#1"), so that every song's "device" says which worker.
std::vector<std::string> device_labels(const std::vector<c10::Device>& devices);

class DevicePool {
 public:
  // One Generator per device (settings.device set to it). --mula-device / --codec-device do
  // not combine with a list (UsageError). Loads nothing yet.
  DevicePool(const ModelSettings& settings, const std::vector<c10::Device>& devices);
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  size_t size() const;
  Generator& generator(size_t device);
  const std::string& label(size_t device) const;

  // Loads every device's models, each on a thread of its own, at the same time (each device
  // reads the checkpoint files itself: docs/usage.md "Several GPUs"). A failure is rethrown,
  // after every thread ended, as Error "<label>: <what>" (the first device's failure).
  void load();

  // (device, frames done, planned, seconds) of the batch running on `device`.
  using DeviceProgressFn = std::function<void(size_t device, int64_t done, int64_t planned, double elapsed_s)>;
  // A group that ran (or failed: each result's `error` set, "<label>: <what>"): the indices of
  // its songs in `requests` and their results, `device` the index of the device that ran it.
  using GroupDoneFn =
      std::function<void(size_t device, const std::vector<size_t>& indices, const std::vector<SongResult>& results)>;

  // Runs `requests` in groups of `group_size` consecutive songs; each group is one
  // Generator::generate_many call on whichever device is free first (songs come out as with
  // one device: same seed, same song). `saved` sees each song (its index in `requests`) as its
  // file is complete; `done` each group as it ends. Once `stop` returns true, the running
  // groups end (every song keeping what it has, as with one device) and no group starts;
  // songs of groups never started are left out of `done` and come back with
  // `interrupted` set and `error` "interrupted before this song's batch started". A failing
  // group (out of memory, ...) fails its songs only; the device goes on with the next group.
  // Returns every song's result, in the order of `requests`, each with `device` set.
  std::vector<SongResult> generate_many(const std::vector<SongRequest>& requests, size_t group_size,
                                        const DeviceProgressFn& progress, const StopFn& stop, const SongSavedFn& saved,
                                        const GroupDoneFn& done);

 private:
  std::vector<std::string> labels_;
  std::vector<c10::Device> devices_;
  std::vector<std::unique_ptr<Generator>> generators_;
};

}  // namespace heartmula::runtime
