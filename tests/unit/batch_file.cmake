# The batch-file line parser (runtime/batch_file.h): typed, range-checked keys, errors naming
# FILE:LINE and the key; regression inputs from fuzz_batch_file.
heartmula_add_test(test_batch_file
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_batch_file.cpp
  LIBS heartmula_runtime
  LABEL unit)
