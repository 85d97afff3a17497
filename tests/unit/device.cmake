# The --device parser (runtime/device.h parse_device, runtime/multi_device.h parse_device_list):
# one reading of a device name and one form of its errors through both.
heartmula_add_test(test_device_parse
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_device_parse.cpp
  LIBS heartmula_runtime
  LABEL unit)
