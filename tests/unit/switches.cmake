# The HEARTMULA_* switch registry (io/switches.h), its table in docs/switches.md, and the record
# of which fused kernel or fallback ran (io/kernel_paths.h).
heartmula_add_test(test_switches
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_switches.cpp
  LIBS heartmula_model
  LABEL unit)
target_compile_definitions(test_switches PRIVATE HEARTMULA_DOCS_DIR="${PROJECT_SOURCE_DIR}/docs")
