heartmula_add_test(test_codec
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec.cpp
  LIBS heartmula_codec heartmula_io
  LABEL unit)
