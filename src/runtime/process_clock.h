// Where a process is in its own life, for the wall-time breakdown (scripts/wall-time.sh): the
// time since the kernel started it, which the process itself cannot otherwise see (dynamic
// loading and static constructors of LibTorch run before main()).
#pragma once

#include <c10/core/Device.h>

namespace heartmula::runtime {

// Seconds since this process was started (fork), from /proc/self/stat's starttime against
// CLOCK_BOOTTIME; the kernel keeps starttime in clock ticks, so the value is exact to 1/CLK_TCK
// (10 ms) and may be that much too large. -1 where it cannot be read (not Linux).
double seconds_since_process_start();

// Creates the device's context now (CUDA / XPU: the driver context, the allocator's first
// block) and waits for it; returns the seconds it took. Nothing on the CPU (0). Without it the
// context is made by the first tensor put on the device, inside the language model's load.
double init_device(c10::Device device);

}  // namespace heartmula::runtime
