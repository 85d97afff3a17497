heartmula_add_test(test_memory_report
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_memory_report.cpp
  LIBS heartmula_runtime
  LABEL unit)
