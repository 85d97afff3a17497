// The --device parser: parse_device (one device) and parse_device_list (cpu,cpu / cuda:all) read
// entries the same way and word a bad value the same way (runtime/device.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "heartmula/error.h"
#include "runtime/device.h"
#include "runtime/multi_device.h"

namespace heartmula::runtime {
namespace {

template <class F>
std::string usage_error_of(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no UsageError)";
}

TEST(DeviceParse, SameBadValueSameMessageThroughBothParsers) {
  for (const std::string value : {"bogus", "cuda:x", "cuda:1234", "cuda:999", "CPU:1", "xpu:-1"}) {
    SCOPED_TRACE(value);
    const std::string one = usage_error_of([&] { parse_device(value, "--device"); });
    const std::string list = usage_error_of([&] { parse_device_list(value, "--device"); });
    EXPECT_EQ(one, list);
    EXPECT_EQ(one.rfind("--device " + value + ": ", 0), 0u) << one;
  }
  // The flag named is the one given.
  EXPECT_EQ(usage_error_of([] { parse_device("bogus", "--mula-device"); }).rfind("--mula-device bogus: ", 0), 0u);
}

TEST(DeviceParse, ListEntriesAreReadByTheOneParser) {
  // A bad entry of several: the whole value, then the entry, then the same reason and hint.
  const std::string one = usage_error_of([] { parse_device("bogus", "--device"); });
  const std::string list = usage_error_of([] { parse_device_list("cpu, bogus", "--device"); });
  const std::string reason = one.substr(std::string("--device bogus: ").size());
  EXPECT_EQ(list, "--device cpu, bogus: 'bogus': " + reason);

  EXPECT_EQ(parse_device_list("cpu,CPU"), (std::vector<c10::Device>{c10::Device(c10::kCPU), c10::Device(c10::kCPU)}));
  EXPECT_EQ(parse_device("Cpu"), c10::Device(c10::kCPU));
  EXPECT_NE(usage_error_of([] { parse_device_list("cpu,,cpu"); }).find("an empty entry"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_device_list("cpu,auto"); }).find("'auto' is one device"), std::string::npos);
  // TYPE:all is a list: parse_device refuses it, naming the flag and the value.
  EXPECT_EQ(usage_error_of([] { parse_device("cuda:all", "--codec-device"); }).rfind("--codec-device cuda:all: ", 0),
            0u);
}

}  // namespace
}  // namespace heartmula::runtime
