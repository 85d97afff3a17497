# make-random-checkpoint --size tiny into a temp folder, then heartmula-bench on it (--json).
heartmula_add_test(test_tools_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tools_bench.cpp
  LIBS heartmula_io nlohmann_json::nlohmann_json
  LABEL e2e)
add_dependencies(test_tools_bench make-random-checkpoint heartmula-bench)
