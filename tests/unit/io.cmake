heartmula_add_test(test_safetensors
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.cpp
  LIBS heartmula_io
  LABEL unit)
