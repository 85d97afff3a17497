// The out-of-memory report (runtime/device.h): built from given figures, since a CPU cannot
// produce a device out-of-memory error.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "runtime/device.h"

namespace rt = heartmula::runtime;

namespace {
// The message c10::OutOfMemoryError carries on LibTorch 2.x (CUDA caching allocator).
const char* kCudaMessage =
    "CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 11.72 GiB of which "
    "1.03 GiB is free. Including non-PyTorch memory, this process has 10.68 GiB memory in use. Of the "
    "allocated memory 9.90 GiB is allocated by PyTorch, and 512.00 MiB is reserved by PyTorch but unallocated.";

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST(MemoryReport, RequestedAllocation) {
  EXPECT_EQ(rt::requested_allocation(kCudaMessage), "2.50 GiB");
  EXPECT_EQ(rt::requested_allocation("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 11.7 GiB total)"),
            "20.00 MiB");
  EXPECT_EQ(rt::requested_allocation("XPU out of memory"), "");
  EXPECT_EQ(rt::requested_allocation("Tried to allocate 7 bytes"), "7 bytes");
}

TEST(MemoryReport, FormatsTheFigures) {
  rt::OutOfMemoryFacts f;
  f.message = kCudaMessage;
  f.device = "cuda:0 (NVIDIA GeForce RTX 4070)";
  f.phase = "codec";
  f.memory.total = 12ull << 30;
  f.memory.free = 1ull << 29;  // 0.5 GiB
  f.memory.reserved = 10ull << 30;
  f.memory.peak_reserved = 11ull << 30;
  f.hints = {"--lazy-load", "--codec-device cpu"};
  const std::string r = rt::format_out_of_memory(f);
  EXPECT_TRUE(has(r, "out of memory on cuda:0 (NVIDIA GeForce RTX 4070) during the codec\n")) << r;
  EXPECT_TRUE(has(r, "allocation:  2.50 GiB requested")) << r;
  EXPECT_TRUE(has(r, "12.00 GiB total, 0.50 GiB free now")) << r;
  EXPECT_TRUE(has(r, "10.00 GiB held by the allocator now, 11.00 GiB at the peak")) << r;
  EXPECT_TRUE(has(r, "would help: --lazy-load; --codec-device cpu")) << r;
}

TEST(MemoryReport, UnknownFiguresAreLeftOut) {
  rt::OutOfMemoryFacts f;
  f.message = "XPU out of memory";
  const std::string r = rt::format_out_of_memory(f);
  EXPECT_TRUE(has(r, "out of memory on the device\n")) << r;
  EXPECT_TRUE(has(r, "size not reported")) << r;
  EXPECT_FALSE(has(r, "total")) << r;
  EXPECT_FALSE(has(r, "would help")) << r;
}

TEST(MemoryReport, CpuFiguresAndNoGpuReport) {
  const rt::MemoryInfo m = rt::memory_info(c10::Device(c10::kCPU));
  EXPECT_GT(m.total, 0u);
  EXPECT_GT(m.reserved, 0u);
  EXPECT_GE(m.peak_reserved, m.reserved / 2);
  if (rt::list_devices().size() == 1)  // CPU only: nothing to report on
    EXPECT_EQ(rt::out_of_memory_report(std::runtime_error(kCudaMessage), "codec", {"--lazy-load"}), "");
  EXPECT_TRUE(rt::is_out_of_memory(std::runtime_error(kCudaMessage)));
}
